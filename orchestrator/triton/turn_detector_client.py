"""Ask the ``turn_detector`` model (Smart Turn v3.2 behind Triton) whether the caller sounds done."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import tritonclient.grpc.aio as grpcclient_aio

from orchestrator.triton.request import (
    RequestObserver,
    TritonRequestError,
    stream_responses,
    tensor,
)

TURN_DETECTOR_RATE = 16_000
WINDOW_SAMPLES = 8 * TURN_DETECTOR_RATE  # the model hears the last 8 s


@dataclass
class TurnDetectorClient:
    client: grpcclient_aio.InferenceServerClient
    model_name: str = "turn_detector"
    timeout_s: float = 2.0
    observe: RequestObserver | None = None

    async def probability(self, audio: npt.NDArray[np.float32], request_id: str = "") -> float:
        """P(the caller's turn is complete) from 16 kHz mono audio ending at their pause (only its
        last 8 s are sent). Safe to cancel. Raises ``TritonRequestError``."""
        window = np.asarray(audio, dtype=np.float32).reshape(-1)[-WINDOW_SAMPLES:]
        inputs = [
            tensor("audio", window),
            tensor("sample_rate", np.array([TURN_DETECTOR_RATE], dtype=np.int32)),
        ]
        probabilities = [
            float(result.as_numpy("probability").reshape(-1)[0])
            async for result in stream_responses(
                self.client,
                self.model_name,
                inputs,
                request_id,
                self.timeout_s,
                observe=self.observe,
            )
        ]
        if len(probabilities) != 1:
            raise TritonRequestError(f"{self.model_name}: {len(probabilities)} responses, not 1")
        return probabilities[0]
