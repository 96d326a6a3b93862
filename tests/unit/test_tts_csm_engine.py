"""Both CSM engines (``csm``: our frame loop; ``csm_generate``: transformers' generate) through the
contract on a tiny random CSM (noise, but real processor, generation, Mimi)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from serving.tts.contract import (
    ContextTurn,
    TtsEngine,
    TtsEngineKind,
    TtsOptions,
    TtsRequest,
)
from serving.tts.engines import build_engine
from serving.tts.tiny_csm import tiny_csm_dir

CACHE_DIR = Path(__file__).resolve().parents[2] / ".cache"


CSM_KINDS = [TtsEngineKind.CSM, TtsEngineKind.CSM_GENERATE]


def closed(engine: TtsEngine) -> None:
    close = getattr(engine, "close", None)  # the frame loop's thread
    if close is not None:
        close()


@pytest.fixture(scope="module", params=CSM_KINDS, ids=str)
def csm(request: pytest.FixtureRequest) -> Iterator[TtsEngine]:
    options = TtsOptions(
        engine=request.param,
        model=str(tiny_csm_dir(CACHE_DIR)),
        device="cpu",
        dtype="float32",
        max_sentence_s=2.0,
    )
    engine = build_engine(options)
    yield engine
    closed(engine)


def test_streams_small_first_chunk_then_larger_ones_per_sentence(csm: TtsEngine) -> None:
    text = "Hello there. How are you?"
    chunks = list(csm.synthesize(TtsRequest(text), lambda: False))
    assert csm.sample_rate == 24_000
    assert chunks[0].samples.size == 2 * 1920
    assert all(c.samples.dtype == np.float32 and c.samples.size % 1920 == 0 for c in chunks)
    assert max(c.samples.size for c in chunks) == 10 * 1920
    assert {c.span.of(text) for c in chunks} <= {"Hello there.", "How are you?"}
    assert all(np.isfinite(c.samples).all() for c in chunks)


def test_context_turn_audio_is_accepted(csm: TtsEngine) -> None:
    turn = ContextTurn("Earlier words.", 1, np.zeros(24_000, np.float32))
    chunks = list(csm.synthesize(TtsRequest("Hi.", 0, (turn,)), lambda: False))
    assert chunks and chunks[0].span.of("Hi.") == "Hi."


@pytest.mark.parametrize("kind", CSM_KINDS, ids=str)
def test_bfloat16_with_context_turns_as_production_runs_it(kind: TtsEngineKind) -> None:
    # Production's dtype, with context as every reply's second chunk carries: Mimi's bf16 encoder once
    # got the processor's float32 audio and failed.
    options = TtsOptions(
        engine=kind,
        model=str(tiny_csm_dir(CACHE_DIR)),
        device="cpu",
        dtype="bfloat16",
        max_sentence_s=1.0,
    )
    engine = build_engine(options)
    turn = ContextTurn("Earlier words.", 1, np.zeros(12_000, np.float32))
    chunks = list(engine.synthesize(TtsRequest("Hi.", 0, (turn,)), lambda: False))
    closed(engine)
    assert chunks and all(c.samples.dtype == np.float32 for c in chunks)
    assert all(np.isfinite(c.samples).all() for c in chunks)


def test_stop_ends_generation_within_a_frame(csm: TtsEngine) -> None:
    sent = 0

    def should_stop() -> bool:
        return sent >= 1

    chunks = []
    for chunk in csm.synthesize(TtsRequest("One long sentence to say."), should_stop):
        chunks.append(chunk)
        sent += 1
    assert len(chunks) == 1
