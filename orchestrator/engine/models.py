"""What the conversation engine needs of the models: the port it is written against.

:class:`~orchestrator.engine.triton_models.TritonModels` serves it over Triton's gRPC streams; the
engine's tests give it scripted fakes. Each method that streams is safe to cancel at any point, and
cancelling it cancels the model's request (a barge-in stops exactly that request).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from orchestrator.triton.llm_client import LlmDelta
from orchestrator.triton.tts_client import ContextTurn, SpeechChunk

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Heard:
    """A transcription: the words, and how sure the STT is of them (its mean word probability)."""

    text: str
    confidence: float = 1.0


class VadSession(Protocol):
    async def push(self, audio: FloatArray) -> FloatArray:
        """Speech probabilities of the 32 ms windows that ``audio`` (16 kHz) completes."""
        ...


class Models(Protocol):
    @property
    def speaker_id(self) -> int: ...

    def vad(self, call_id: str) -> AbstractAsyncContextManager[VadSession]:
        """One call's voice activity stream (state carried across pushes)."""
        ...

    async def transcribe(self, audio: FloatArray, prompt: str, request_id: str) -> Heard:
        """16 kHz mono -> the words. Raises on a model error or timeout."""
        ...

    async def turn_end(self, audio: FloatArray, request_id: str) -> float:
        """P(the caller's turn is complete) from 16 kHz audio ending at their pause (the audio
        end-of-turn model). Raises on a model error or timeout."""
        ...

    def generate(
        self,
        prompt: str,
        request_id: str,
        structured_outputs: str | None = None,
        max_tokens: int | None = None,
    ) -> AsyncGenerator[LlmDelta]:
        """The LLM's answer to ``prompt`` as text deltas, guided by ``structured_outputs`` (vLLM's
        StructuredOutputsParams, JSON) and capped at ``max_tokens`` when given (else the settings').
        Raises on an error or a late token."""
        ...

    def speak(
        self, text: str, context: Sequence[ContextTurn], request_id: str
    ) -> AsyncIterator[SpeechChunk]:
        """``text`` as audio chunks, as the TTS decodes them."""
        ...

    async def ready(self) -> bool:
        """Whether every model answers now (checked at call start)."""
        ...

    async def aclose(self) -> None: ...
