"""One request to a decoupled Triton model on its own gRPC stream, its responses as an async iterator.

Triton cancels per stream, so every cancellable request (one transcription, one TTS chunk, one LLM turn)
gets a stream of its own on the process's shared channel; the long-lived VAD stream is separate
(orchestrator/triton/vad_stream.py). Closing the iterator early, or cancelling the task that consumes it, cancels
the stream, and the model sees ``request.is_cancelled()``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from enum import StrEnum
from typing import Any

import grpc
import numpy as np
import numpy.typing as npt
import tritonclient.grpc.aio as grpcclient_aio
from tritonclient.grpc import InferInput
from tritonclient.utils import np_to_triton_dtype


class TritonRequestError(RuntimeError):
    """The model answered with an error, the stream broke, or a response came too late."""


class RequestOutcome(StrEnum):
    COMPLETED = "completed"  # FINAL received
    FAILED = "failed"  # an error response, a broken stream or a deadline
    CANCELLED = "cancelled"  # the stream ended with gRPC status CANCELLED while the request ran


# Told how each request ended: (model name, outcome). Metrics, and evidence for tests.
RequestObserver = Callable[[str, RequestOutcome], None]


def tensor(name: str, value: npt.ArrayLike) -> InferInput:
    data = np.asarray(value)
    infer_input = InferInput(name, list(data.shape), np_to_triton_dtype(data.dtype))
    infer_input.set_data_from_numpy(data)
    return infer_input


def text_tensor(name: str, *texts: str) -> InferInput:
    return tensor(name, np.array([t.encode("utf-8") for t in texts], dtype=np.object_))


def output_text(result: Any, name: str) -> str:
    array = result.as_numpy(name)
    if array is None or array.size == 0:
        return ""
    value = array.reshape(-1)[0]
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


async def stream_responses(
    client: grpcclient_aio.InferenceServerClient,
    model_name: str,
    inputs: Sequence[InferInput],
    request_id: str = "",
    response_timeout_s: float | None = None,
    first_response_timeout_s: float | None = None,
    observe: RequestObserver | None = None,
) -> AsyncGenerator[Any, None]:
    """Yield each response that carries outputs; return after the FINAL flag.

    ``first_response_timeout_s`` bounds the wait for the first response (default:
    ``response_timeout_s``), ``response_timeout_s`` each later one. Raises :class:`TritonRequestError`.
    Safe to cancel at any point (the server-side request is cancelled with the stream). ``observe``
    is told how the request ended.
    """
    finished = asyncio.Event()
    request = {
        "model_name": model_name,
        "inputs": list(inputs),
        "request_id": request_id,
        # An empty FINAL response tells us the request is done even when the last data response
        # could not say so.
        "parameters": {"triton_enable_empty_final_response": True},
    }

    async def requests() -> AsyncIterator[dict[str, Any]]:
        yield request
        await finished.wait()  # half-closing the stream early could end it before the answer

    responses = client.stream_infer(requests())
    timeout = response_timeout_s if first_response_timeout_s is None else first_response_timeout_s
    # Cancel the stream only while the request may still run. Cancelling once it is over (after its
    # FINAL or error response) races Triton 2.51's own clean-up of the request and has crashed the
    # server (SIGSEGV in TRITONBACKEND_ResponseSend); half-closing lets the stream end by itself.
    over = False
    outcome = RequestOutcome.FAILED
    try:
        while True:
            try:
                async with asyncio.timeout(timeout):
                    result, error = await anext(responses)
            except TimeoutError:
                raise TritonRequestError(f"{model_name}: no response within {timeout} s") from None
            except StopAsyncIteration:
                raise TritonRequestError(f"{model_name}: stream ended before FINAL") from None
            timeout = response_timeout_s
            if error is not None:
                over = True  # an error response ends its request
                raise TritonRequestError(f"{model_name}: {error}")
            response = result.get_response()
            final = response.parameters["triton_final_response"].bool_param
            over = final
            if response.outputs:
                yield result
            if final:
                outcome = RequestOutcome.COMPLETED
                return
    finally:
        finished.set()
        if not over:
            responses.cancel()
            if await _stream_status(responses) is grpc.StatusCode.CANCELLED:
                outcome = RequestOutcome.CANCELLED
        if observe is not None:
            observe(model_name, outcome)


async def _stream_status(responses: Any) -> grpc.StatusCode | None:
    """The gRPC status the stream ended with, as the client saw it (tritonclient's response
    iterator keeps its grpc.aio call private)."""
    call = getattr(responses, "_grpc_call", None)
    if call is None:
        return None
    with contextlib.suppress(Exception):
        async with asyncio.timeout(1.0):
            code: grpc.StatusCode = await call.code()
            return code
    return None
