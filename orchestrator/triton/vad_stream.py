"""One call's voice activity detection over a long-lived gRPC stream to the ``silero_vad`` model.

The call's audio (16 kHz float32, any frame size) is cut into 512-sample windows; each request carries the
previous response's ``next_state``, so the server holds nothing per call (see docs/ARCHITECTURE.md).
Requests on the stream are strictly one at a time: each needs the state the previous one returned.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

import grpc
import numpy as np
import numpy.typing as npt
import tritonclient.grpc.aio as grpcclient_aio
from tritonclient.grpc import InferInput, InferRequestedOutput

from orchestrator.vad_window import WINDOW_SAMPLES

MODEL_NAME = "silero_vad"
FloatArray = npt.NDArray[np.float32]


class VadError(RuntimeError):
    """The VAD model answered with an error, or the stream broke."""


class VadStream:
    """Push audio, get one speech probability per completed 32 ms window.

    Use ``async with VadStream(client) as vad: probs = await vad.push(audio)``. Cancelling ``push`` is safe
    for the stream's bookkeeping only between windows; on cancellation, close the stream.
    """

    def __init__(
        self,
        client: grpcclient_aio.InferenceServerClient,
        model_name: str = MODEL_NAME,
        call_id: str = "",
        max_windows_per_request: int = 16,
    ) -> None:
        self._client = client
        self._model = model_name
        self._call_id = call_id
        self._max_windows = max_windows_per_request
        self._pending: FloatArray = np.empty(0, dtype=np.float32)
        self._state: FloatArray | None = None
        self._requests: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._responses: AsyncIterator[Any] | None = None
        self._ids = itertools.count()
        self._in_flight = False  # a request sent whose response has not come back

    async def __aenter__(self) -> VadStream:
        self._responses = self._client.stream_infer(self._request_iterator())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Half-close the stream; cancel it only if a request is still in flight (cancelling a
        finished one races Triton 2.51's clean-up: see orchestrator/triton/request.py)."""
        self._requests.put_nowait(None)
        responses, self._responses = self._responses, None
        if responses is not None and self._in_flight:
            responses.cancel()  # type: ignore[attr-defined]

    def reset(self) -> None:
        """Forget the call's state (the next push starts as a new stream of audio)."""
        self._pending = np.empty(0, dtype=np.float32)
        self._state = None

    async def push(self, audio: FloatArray) -> FloatArray:
        """Probabilities for the windows that ``audio`` completes (possibly none)."""
        self._pending = np.concatenate([self._pending, audio.astype(np.float32, copy=False)])
        usable = (self._pending.size // WINDOW_SAMPLES) * WINDOW_SAMPLES
        if usable == 0:
            return np.empty(0, dtype=np.float32)
        ready, self._pending = self._pending[:usable], self._pending[usable:]
        step = self._max_windows * WINDOW_SAMPLES
        parts = [await self._infer(ready[i : i + step]) for i in range(0, usable, step)]
        return np.concatenate(parts)

    async def _infer(self, windows: FloatArray) -> FloatArray:
        if self._responses is None:
            raise VadError("VAD stream is not open")
        audio = InferInput("audio", [windows.size], "FP32")
        audio.set_data_from_numpy(windows)
        inputs = [audio]
        if self._state is not None:
            state = InferInput("state", [self._state.size], "FP32")
            state.set_data_from_numpy(self._state)
            inputs.append(state)
        await self._requests.put(
            {
                "model_name": self._model,
                "inputs": inputs,
                "outputs": [
                    InferRequestedOutput("speech_prob"),
                    InferRequestedOutput("next_state"),
                ],
                "request_id": f"{self._call_id}-vad-{next(self._ids)}",
            }
        )
        self._in_flight = True
        try:
            result, error = await anext(self._responses)
            self._in_flight = False
        except StopAsyncIteration as exc:
            raise VadError("VAD stream ended") from exc
        except grpc.RpcError as exc:  # the server went away (crash, restart, network)
            raise VadError(f"VAD stream broke: {exc.code()}") from exc
        if error is not None:
            raise VadError(str(error))
        self._state = result.as_numpy("next_state")
        return np.asarray(result.as_numpy("speech_prob"), dtype=np.float32)

    async def _request_iterator(self) -> AsyncIterator[dict[str, Any]]:
        while (request := await self._requests.get()) is not None:
            yield request
