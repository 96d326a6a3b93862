"""Smart Turn v3.2's input, checked against the implementation the model ships with (pipecat's
vendored Whisper features), and the engine's contract: the window, the errors, the weights' source."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from functools import cache
from types import ModuleType

import numpy as np
import pytest

from serving.turn_detector_engine import (
    DEFAULT_ONNX,
    FRAMES,
    MEL_BINS,
    RATE,
    WINDOW_SAMPLES,
    TurnAudioError,
    TurnDetector,
    TurnDetectorOptions,
    TurnFeatures,
    last_window,
    resolve_onnx,
)

SMART_TURN_DIR = "pipecat-ai:pipecat/audio/turn/smart_turn/"


@cache
def pipecat_features() -> ModuleType:
    """pipecat's own feature code, loaded from its file: ``import pipecat`` needs the framework."""
    path = resolve_onnx(SMART_TURN_DIR + "_whisper_features.py")
    spec = importlib.util.spec_from_file_location("smart_turn_whisper_features", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def features() -> TurnFeatures:
    return TurnFeatures()


def voice(seconds: float, seed: int = 0) -> np.ndarray:
    """Speech-like audio: a gliding tone with noise, at 16 kHz."""
    t = np.arange(int(seconds * RATE)) / RATE
    rng = np.random.default_rng(seed)
    tone = 0.3 * np.sin(2 * np.pi * (150 + 40 * t) * t) + 0.02 * rng.standard_normal(t.size)
    return tone.astype(np.float32)


def test_the_window_is_the_last_8_s_zero_padded_at_the_start() -> None:
    short = voice(2.0)
    padded = last_window(short)
    assert padded.shape == (WINDOW_SAMPLES,) and padded.dtype == np.float32
    assert not padded[: WINDOW_SAMPLES - short.size].any()
    np.testing.assert_array_equal(padded[-short.size :], short)
    long = voice(9.5)
    np.testing.assert_array_equal(last_window(long), long[-WINDOW_SAMPLES:])


@pytest.mark.parametrize("seconds", [0.5, 3.0, 8.0])
def test_features_match_the_ones_the_model_was_shipped_with(seconds: float) -> None:
    audio = voice(seconds, seed=int(seconds))
    ours = features()(audio)
    assert ours.shape == (1, MEL_BINS, FRAMES) and ours.dtype == np.float32
    compute: Callable[..., np.ndarray] = pipecat_features().compute_whisper_log_mel_features
    theirs = compute(last_window(audio), do_normalize=True)
    assert theirs.shape == (MEL_BINS, FRAMES)
    np.testing.assert_allclose(ours[0], theirs, atol=2e-3)


def test_a_frame_is_10_ms_of_16_khz_audio() -> None:
    """A second of voice at the window's end shows in its last 100 frames, not before."""
    quiet = np.zeros(WINDOW_SAMPLES - RATE, np.float32)
    mel = features()(np.concatenate([quiet, voice(1.0)]))[0]
    energy = mel.mean(axis=0)
    floor = energy[:600].max()
    assert (energy[-95:] > floor + 0.1).all()
    assert energy[:690].max() == pytest.approx(floor)


@cache
def detector() -> TurnDetector:
    return TurnDetector(TurnDetectorOptions())


def test_the_weights_come_from_the_installed_package() -> None:
    path = resolve_onnx(DEFAULT_ONNX)
    assert path.name == "smart-turn-v3.2-cpu.onnx" and "site-packages" in str(path)
    with pytest.raises(FileNotFoundError, match=r"not-a-package.* is not installed"):
        resolve_onnx("not-a-package:model.onnx")


def test_the_probability_is_a_probability_and_bad_audio_is_refused() -> None:
    p = detector().probability(voice(2.0))
    assert 0.0 <= p <= 1.0
    assert detector().probability(voice(2.0)) == p  # deterministic
    with pytest.raises(TurnAudioError, match="empty"):
        detector().probability(np.zeros(0, np.float32))
    with pytest.raises(TurnAudioError, match="<= 8 s"):
        detector().probability(voice(8.5))
