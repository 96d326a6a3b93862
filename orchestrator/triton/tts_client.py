"""Speak one text chunk with the ``tts`` model (CSM-1B or Piper behind one Triton contract)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import tritonclient.grpc.aio as grpcclient_aio
from tritonclient.grpc import InferInput

from orchestrator.triton.request import RequestObserver, stream_responses, tensor, text_tensor


@dataclass(frozen=True)
class SpeechChunk:
    audio: npt.NDArray[np.float32]
    sample_rate: int
    text_start: int  # text[text_start:text_end] is the sentence this audio voices
    text_end: int

    @property
    def duration_ms(self) -> float:
        return 1000.0 * self.audio.size / self.sample_rate


@dataclass(frozen=True)
class ContextTurn:
    """A previous turn for CSM's prosody: its text, speaker and (optionally) audio."""

    text: str
    speaker: int
    audio: npt.NDArray[np.float32] | None = None
    sample_rate: int = 24_000


@dataclass
class TtsClient:
    client: grpcclient_aio.InferenceServerClient
    model_name: str = "tts"
    speaker_id: int = 0
    chunk_timeout_s: float = 10.0
    observe: RequestObserver | None = None

    async def speak(
        self, text: str, context: Sequence[ContextTurn] = (), request_id: str = ""
    ) -> AsyncIterator[SpeechChunk]:
        """Audio chunks of ``text`` as the model decodes them. Safe to cancel at any point (the
        server stops within one frame). Raises ``TritonRequestError``."""
        inputs = [
            text_tensor("text", text),
            tensor("speaker_id", np.array([self.speaker_id], dtype=np.int32)),
        ]
        inputs += _context_inputs(context)
        async for result in stream_responses(
            self.client,
            self.model_name,
            inputs,
            request_id,
            self.chunk_timeout_s,
            observe=self.observe,
        ):
            yield SpeechChunk(
                audio=np.asarray(result.as_numpy("audio"), dtype=np.float32),
                sample_rate=int(result.as_numpy("sample_rate")[0]),
                text_start=int(result.as_numpy("text_start")[0]),
                text_end=int(result.as_numpy("text_end")[0]),
            )


def _context_inputs(context: Sequence[ContextTurn]) -> list[InferInput]:
    """Context turns with their audio (the contract needs both); turns without audio are left out."""
    turns = [turn for turn in context if turn.audio is not None and turn.audio.size]
    rates = {turn.sample_rate for turn in turns}
    if not turns or len(rates) != 1:
        return []
    audio = [turn.audio for turn in turns if turn.audio is not None]
    return [
        text_tensor("context_text", *(turn.text for turn in turns)),
        tensor("context_speaker", np.array([t.speaker for t in turns], dtype=np.int32)),
        tensor("context_audio", np.concatenate(audio).astype(np.float32)),
        tensor("context_audio_lengths", np.array([a.size for a in audio], dtype=np.int32)),
        tensor("context_sample_rate", np.array([rates.pop()], dtype=np.int32)),
    ]
