"""One decoupled request over a gRPC stream, collected with arrival times (tests and benchmarks).

The synchronous tritonclient stream runs its callback on a reader thread; this waits for the empty
FINAL response (or an error, which for a decoupled model also ends the request).
"""

from __future__ import annotations

import queue
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException, np_to_triton_dtype


@dataclass
class StreamResult:
    responses: list[Any] = field(default_factory=list)  # InferResult per non-final response
    arrivals: list[float] = field(default_factory=list)  # seconds after sending, per response
    error: InferenceServerException | None = None
    final_at: float | None = None  # seconds after sending; None if no FINAL arrived


def tensor(name: str, value: npt.NDArray[Any]) -> grpcclient.InferInput:
    data = np.asarray(value)
    infer_input = grpcclient.InferInput(name, list(data.shape), np_to_triton_dtype(data.dtype))
    infer_input.set_data_from_numpy(data)
    return infer_input


def text_tensor(name: str, *texts: str) -> grpcclient.InferInput:
    return tensor(name, np.array([t.encode() for t in texts], dtype=np.object_))


def stream_request(
    url: str,
    model: str,
    inputs: list[grpcclient.InferInput],
    request_id: str = "",
    cancel_after: int | None = None,
    timeout_s: float = 60.0,
) -> StreamResult:
    """Send one request; with ``cancel_after=n``, cancel the stream once n responses arrived."""
    events: queue.Queue[tuple[Any, Any]] = queue.Queue()
    result = StreamResult()
    with grpcclient.InferenceServerClient(url) as client:
        client.start_stream(callback=lambda result, error: events.put((result, error)))
        sent_at = time.perf_counter()
        client.async_stream_infer(
            model, inputs, request_id=request_id, enable_empty_final_response=True
        )
        deadline = sent_at + timeout_s
        try:
            while True:
                res, err = events.get(timeout=max(0.01, deadline - time.perf_counter()))
                now = time.perf_counter() - sent_at
                if err is not None:
                    result.error = err
                    break
                final = res.get_response().parameters["triton_final_response"].bool_param
                if res.get_response().outputs:
                    result.responses.append(res)
                    result.arrivals.append(now)
                if final:
                    result.final_at = now
                    break
                if cancel_after is not None and len(result.responses) >= cancel_after:
                    client.stop_stream(cancel_requests=True)
                    break
        finally:
            client.stop_stream()
    return result
