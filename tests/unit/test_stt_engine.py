"""serving/stt_engine.py's warm-up: every CTranslate2 worker transcribes at load; failures surface."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from serving.speech_cpu_profile import whisper_tiny_en_path
from serving.stt_engine import (
    SAMPLE_RATE,
    WARM_UP_ROUNDS,
    WARM_UP_S,
    Segment,
    SttEngine,
    SttOptions,
    SttRequest,
)


@pytest.fixture(scope="module")
def engine() -> SttEngine:
    options = SttOptions(
        model=whisper_tiny_en_path(), device="cpu", compute_type="int8", num_workers=2
    )
    return SttEngine(options)


def test_warm_up_transcribes_on_every_worker_at_once_each_round(
    engine: SttEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[SttRequest, str]] = []
    both_running = threading.Barrier(2, timeout=10)

    def transcribe(request: SttRequest) -> Iterator[Segment]:
        seen.append((request, threading.current_thread().name))
        both_running.wait()  # two at once, so CTranslate2 hands each to its own worker
        yield from ()

    monkeypatch.setattr(engine, "transcribe", transcribe)
    engine.warm_up()
    assert len(seen) == 2 * WARM_UP_ROUNDS and len({name for _, name in seen}) == 2
    request = seen[0][0]
    assert request.audio.size == int(SAMPLE_RATE * WARM_UP_S) and request.language == "en"


def test_a_failing_first_pass_fails_the_warm_up(
    engine: SttEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def transcribe(request: SttRequest) -> Iterator[Segment]:
        raise RuntimeError("Library libcublas.so.12 is not found or cannot be loaded")
        yield  # a generator, as the engine's

    monkeypatch.setattr(engine, "transcribe", transcribe)
    with pytest.raises(RuntimeError, match="libcublas"):
        engine.warm_up()


def test_warm_up_runs_the_real_model(engine: SttEngine) -> None:
    engine.warm_up()  # Whisper tiny.en on quiet noise: whatever it hears, it raises nothing
