"""The agent's LLM over Triton's vLLM-backend contract: one gRPC stream per LLM turn.

``stream()`` yields text deltas as the engine produces them. Cancellation is per gRPC stream on Triton, so
each turn opens its own stream: cancelling the consuming task (barge-in) or closing the iterator early
cancels that stream, and the server aborts the generation (vLLM frees its sequence). The prompt is raw
text: build it with :mod:`orchestrator.gemma_prompt`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import tritonclient.grpc.aio as grpcclient_aio
from tritonclient.grpc import InferInput, InferRequestedOutput

from orchestrator.settings import Settings


class LlmError(RuntimeError):
    """The LLM answered with an error (bad request, server failure) or not in time."""


@dataclass(frozen=True)
class SamplingOptions:
    """vLLM ``SamplingParams`` of one turn: short spoken answers by default."""

    max_tokens: int = 96
    temperature: float = 0.7
    top_p: float = 0.95
    stop: tuple[str, ...] = ("<end_of_turn>",)
    seed: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SamplingOptions:
        return cls(
            max_tokens=settings.llm_max_tokens,
            temperature=settings.llm_temperature,
            top_p=settings.llm_top_p,
            stop=tuple(settings.llm_stop),
        )

    def greedy(self) -> SamplingOptions:
        return replace(self, temperature=0.0, top_p=1.0)

    def to_json(self) -> str:
        params: dict[str, Any] = {
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "stop": list(self.stop),
        }
        if self.seed is not None:
            params["seed"] = self.seed
        return json.dumps(params)


@dataclass(frozen=True)
class LlmDelta:
    text: str
    finish_reason: str | None = (
        None  # set on the last delta: "stop" (end of turn) or "length" (cap)
    )


@dataclass(frozen=True)
class LlmAnswer:
    text: str
    finish_reason: str


def _bytes_input(name: str, value: str) -> InferInput:
    tensor = InferInput(name, [1], "BYTES")
    tensor.set_data_from_numpy(np.array([value.encode("utf-8")], dtype=np.object_))
    return tensor


def _bool_input(name: str, value: bool) -> InferInput:
    tensor = InferInput(name, [1], "BOOL")
    tensor.set_data_from_numpy(np.array([value], dtype=bool))
    return tensor


def _text(result: Any, name: str) -> str:
    array = result.as_numpy(name)
    if array is None or array.size == 0:
        return ""
    value = array.reshape(-1)[0]
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


@dataclass
class LlmClient:
    """Talks to the ``llm`` model. Share one per process; each call of ``stream`` is independent."""

    client: grpcclient_aio.InferenceServerClient
    model_name: str = "llm"
    sampling: SamplingOptions = field(default_factory=SamplingOptions)
    first_token_timeout_s: float = 3.0

    async def stream(
        self, prompt: str, sampling: SamplingOptions | None = None, request_id: str = ""
    ) -> AsyncIterator[LlmDelta]:
        """Text deltas of the answer to ``prompt``, the last one carrying ``finish_reason``.

        Safe to cancel at any point: the turn's gRPC stream is cancelled, which aborts the generation on
        the server. Raises :class:`LlmError` on an error response or when the first delta is late.
        """
        request = self._request(prompt, sampling or self.sampling, request_id, stream=True)
        finished = asyncio.Event()

        async def requests() -> AsyncIterator[dict[str, Any]]:
            yield request
            await finished.wait()  # half-closing earlier could end the stream before the answer

        responses = self.client.stream_infer(requests())
        first = True
        try:
            while True:
                timeout = self.first_token_timeout_s if first else None
                try:
                    async with asyncio.timeout(timeout):
                        result, error = await anext(responses)
                except TimeoutError:
                    raise LlmError(
                        f"no first token within {self.first_token_timeout_s} s"
                    ) from None
                except StopAsyncIteration:
                    raise LlmError("the LLM stream ended without a final response") from None
                if error is not None:
                    raise LlmError(str(error))
                first = False
                reason = _text(result, "finish_reason")
                done = reason not in ("", "None")
                yield LlmDelta(_text(result, "text_output"), reason if done else None)
                if done:
                    return
        finally:
            finished.set()
            # Cancels the server-side request if it is still running; a no-op once it has ended.
            responses.cancel()

    async def complete(
        self, prompt: str, sampling: SamplingOptions | None = None, request_id: str = ""
    ) -> LlmAnswer:
        """The whole answer in one (non-streaming) response."""
        request = self._request(prompt, sampling or self.sampling, request_id, stream=False)

        async def requests() -> AsyncIterator[dict[str, Any]]:
            yield request

        async for result, error in self.client.stream_infer(requests()):
            if error is not None:
                raise LlmError(str(error))
            return LlmAnswer(_text(result, "text_output"), _text(result, "finish_reason"))
        raise LlmError("the LLM stream ended without a response")

    def _request(
        self, prompt: str, sampling: SamplingOptions, request_id: str, stream: bool
    ) -> dict[str, Any]:
        inputs = [
            _bytes_input("text_input", prompt),
            _bool_input("stream", stream),
            _bytes_input("sampling_parameters", sampling.to_json()),
            _bool_input("exclude_input_in_output", True),
            _bool_input("return_finish_reason", True),
        ]
        outputs = [InferRequestedOutput("text_output"), InferRequestedOutput("finish_reason")]
        return {
            "model_name": self.model_name,
            "inputs": inputs,
            "outputs": outputs,
            "request_id": request_id,
        }
