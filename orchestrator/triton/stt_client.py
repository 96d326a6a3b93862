"""Transcribe one caller utterance with the ``stt`` model (faster-whisper behind Triton)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import tritonclient.grpc.aio as grpcclient_aio

from orchestrator.triton.request import (
    RequestObserver,
    output_text,
    stream_responses,
    tensor,
    text_tensor,
)

STT_RATE = 16_000


@dataclass(frozen=True)
class TranscriptSegment:
    text: str
    start_s: float
    end_s: float
    no_speech_prob: float
    word_probabilities: tuple[float, ...] = ()


@dataclass(frozen=True)
class Transcript:
    segments: tuple[TranscriptSegment, ...]

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())

    @property
    def confidence(self) -> float:
        """Whisper's mean word probability (1.0 without word timestamps): its guesses at
        something it barely heard ("mm-hmm" as "in the month") score low."""
        probabilities = [p for s in self.segments for p in s.word_probabilities]
        return sum(probabilities) / len(probabilities) if probabilities else 1.0


@dataclass
class SttClient:
    client: grpcclient_aio.InferenceServerClient
    model_name: str = "stt"
    language: str = "en"
    timeout_s: float = 10.0
    observe: RequestObserver | None = None

    async def transcribe(
        self, audio: npt.NDArray[np.float32], prompt: str = "", request_id: str = ""
    ) -> Transcript:
        """16 kHz float32 mono -> transcript. Safe to cancel (the server stops before its next
        segment). Raises ``TritonRequestError``."""
        inputs = [
            tensor("audio", audio.astype(np.float32, copy=False)),
            tensor("sample_rate", np.array([STT_RATE], dtype=np.int32)),
            text_tensor("language", self.language),
        ]
        if prompt:
            inputs.append(text_tensor("prompt", prompt))
        segments = []
        async for result in stream_responses(
            self.client, self.model_name, inputs, request_id, self.timeout_s, observe=self.observe
        ):
            segments.append(
                TranscriptSegment(
                    text=output_text(result, "text"),
                    start_s=float(result.as_numpy("start")[0]),
                    end_s=float(result.as_numpy("end")[0]),
                    no_speech_prob=float(result.as_numpy("no_speech_prob")[0]),
                    word_probabilities=tuple(_floats(result, "word_probability")),
                )
            )
        return Transcript(tuple(segments))


def _floats(result: Any, name: str) -> list[float]:
    values = result.as_numpy(name)
    return [] if values is None else [float(v) for v in values.reshape(-1)]
