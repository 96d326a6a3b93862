"""serving/speech_cpu_profile.py: its CC_MODEL_* overrides name real parameters and give the CPU options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from serving import speech_cpu_profile
from serving.model_parameters import read_options
from serving.paths import MODEL_REPOSITORY
from serving.stt_engine import SttOptions
from serving.tts.contract import TtsEngineKind, TtsOptions
from serving.weights import config_parameters


def committed_config(model: str) -> dict[str, Any]:
    parameters = config_parameters((MODEL_REPOSITORY / model / "config.pbtxt").read_text())
    return {"name": model, "parameters": {k: {"string_value": v} for k, v in parameters.items()}}


@pytest.fixture(autouse=True)
def no_model_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Stand-ins for the installed Whisper folder and the tiny CSM (built, not needed, here)."""
    monkeypatch.setattr(speech_cpu_profile, "whisper_tiny_en_path", lambda: "/whisper-tiny.en")
    monkeypatch.setattr(speech_cpu_profile, "tiny_csm_dir", lambda cache: cache / "tiny-csm")


def test_stt_runs_whisper_tiny_in_int8_on_two_cores() -> None:
    options = read_options(committed_config("stt"), SttOptions, speech_cpu_profile.stt_cpu_env())
    assert options == SttOptions(
        model="/whisper-tiny.en", device="cpu", compute_type="int8", cpu_threads=2, num_workers=2
    )


def test_tts_speaks_with_piper_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(speech_cpu_profile, "piper_installed", lambda: True)
    env = speech_cpu_profile.tts_cpu_env(Path("/cache"))
    options = read_options(committed_config("tts"), TtsOptions, env)
    assert (options.engine, options.device) == (TtsEngineKind.PIPER, "cpu")


def test_tts_falls_back_to_the_tiny_csm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(speech_cpu_profile, "piper_installed", lambda: False)
    env = speech_cpu_profile.tts_cpu_env(Path("/cache"))
    options = read_options(committed_config("tts"), TtsOptions, env)
    assert options.engine is TtsEngineKind.CSM
    assert (options.model, options.device, options.dtype) == ("/cache/tiny-csm", "cpu", "float32")
    assert options.max_sentence_s == 4.0
