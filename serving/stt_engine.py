"""Speech to text with faster-whisper (CTranslate2), one utterance per request, segments streamed.

The same code serves production (``distil-large-v3``, float16 on a GPU) and the CPU profile (Whisper
tiny.en in int8 from a local CTranslate2 folder): only :class:`SttOptions` differ. faster-whisper's
``transcribe`` returns a lazy generator, so each segment is decoded when iterated: the caller can send
it and check for cancellation before the next one is computed.

Concurrency: CTranslate2 runs up to ``num_workers`` transcriptions at once on one loaded copy of the
weights, each from its own thread; the Triton model gives each request its own thread, so concurrent
calls queue only once all workers are busy.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16_000
# When the model loads, each CTranslate2 worker transcribes this long a piece of quiet noise this many
# times (a worker's second pass was still slower than its later ones, measured through tritonserver).
WARM_UP_S = 1.0
WARM_UP_ROUNDS = 2

FloatArray = npt.NDArray[np.float32]


class SttInputError(ValueError):
    """The request cannot be transcribed; the message says why."""


@dataclass(frozen=True)
class SttOptions:
    """The ``stt`` model's parameters (serving/model_parameters.py); the defaults are production's."""

    model: str  # a faster-whisper size / HF id ("distil-large-v3") or a CTranslate2 folder
    device: str = "cuda"
    compute_type: str = "float16"
    beam_size: int = 1
    # 0: one pass over the utterance; > 0: faster-whisper's BatchedInferencePipeline, which batches
    # the 30 s chunks of one long recording (phone utterances are one chunk: leave it at 0).
    batch_size: int = 0
    cpu_threads: int = 0  # 0: CTranslate2's default
    num_workers: int = 4  # transcriptions that may run at once on the loaded weights
    word_timestamps: bool = True
    max_audio_s: float = 30.0
    max_prompt_chars: int = 500


@dataclass(frozen=True)
class Word:
    text: str
    start: float
    end: float
    probability: float


@dataclass(frozen=True)
class Segment:
    text: str
    start: float  # seconds from the start of the request's audio
    end: float
    words: tuple[Word, ...]
    avg_logprob: float
    no_speech_prob: float


@dataclass(frozen=True)
class SttRequest:
    audio: FloatArray
    language: str | None = None
    prompt: str | None = None  # previous turns' text: helps Whisper spell names it heard before


def validate_request(
    audio: npt.NDArray[Any],
    sample_rate: int,
    language: str | None,
    prompt: str | None,
    options: SttOptions,
) -> SttRequest:
    """A checked :class:`SttRequest`, or :class:`SttInputError` saying what is wrong."""
    if sample_rate != SAMPLE_RATE:
        raise SttInputError(
            f"sample_rate must be {SAMPLE_RATE} (resample first), got {sample_rate}"
        )
    if audio.dtype != np.float32:
        raise SttInputError(f"audio must be float32, got {audio.dtype}")
    if audio.ndim != 1 or audio.size == 0:
        raise SttInputError(f"audio must be a non-empty 1-D array, got shape {audio.shape}")
    seconds = audio.size / SAMPLE_RATE
    if seconds > options.max_audio_s:
        raise SttInputError(
            f"audio is {seconds:.1f} s, more than max_audio_s={options.max_audio_s}"
        )
    if not np.isfinite(audio).all():
        raise SttInputError("audio contains NaN or infinity")
    if prompt is not None and len(prompt) > options.max_prompt_chars:
        raise SttInputError(
            f"prompt is {len(prompt)} characters, more than max_prompt_chars={options.max_prompt_chars}"
        )
    return SttRequest(audio, language or None, prompt or None)


class SttEngine:
    """One loaded Whisper model; :meth:`transcribe` may be called from several threads at once."""

    def __init__(self, options: SttOptions) -> None:
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        self.options = options
        self._model = WhisperModel(
            options.model,
            device=options.device,
            compute_type=options.compute_type,
            cpu_threads=options.cpu_threads,
            num_workers=options.num_workers,
        )
        self._batched = BatchedInferencePipeline(self._model) if options.batch_size > 0 else None

    def warm_up(self) -> None:
        """Transcribe ~1 s of quiet noise on every CTranslate2 worker at once, ``WARM_UP_ROUNDS``
        times, so that no caller pays for a worker's first passes, and a device that cannot run the
        model (e.g. CUDA libraries missing, which CTranslate2 only opens on the first pass) fails
        here, at load. Raises what the engine raises."""
        noise = np.random.default_rng(0).normal(0.0, 0.003, int(SAMPLE_RATE * WARM_UP_S))
        request = SttRequest(noise.astype(np.float32), language="en")
        workers = max(1, self.options.num_workers)
        with ThreadPoolExecutor(workers, thread_name_prefix="stt-warm-up") as pool:
            for _ in range(WARM_UP_ROUNDS):
                passes = [
                    pool.submit(lambda: list(self.transcribe(request))) for _ in range(workers)
                ]
                for done in passes:
                    done.result()

    def transcribe(self, request: SttRequest) -> Iterator[Segment]:
        """Segments of the utterance, each computed when the iterator reaches it."""
        opts = self.options
        kwargs: dict[str, Any] = {
            "language": request.language,
            "initial_prompt": request.prompt,
            "beam_size": opts.beam_size,
            "word_timestamps": opts.word_timestamps,
            # An utterance is one turn: no carry-over between 30 s windows worth the hallucination risk.
            "condition_on_previous_text": False,
        }
        if self._batched is not None:
            segments, _info = self._batched.transcribe(
                request.audio, batch_size=opts.batch_size, **kwargs
            )
        else:
            segments, _info = self._model.transcribe(request.audio, **kwargs)
        for segment in segments:
            yield Segment(
                text=segment.text.strip(),
                start=float(segment.start),
                end=float(segment.end),
                words=tuple(
                    Word(w.word.strip(), float(w.start), float(w.end), float(w.probability))
                    for w in segment.words or ()
                ),
                avg_logprob=float(segment.avg_logprob),
                no_speech_prob=_finite(segment.no_speech_prob),
            )


def _finite(value: float) -> float:
    return float(value) if math.isfinite(value) else 0.0
