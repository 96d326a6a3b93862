import numpy as np
import pytest

from serving.vad_engine import (
    STATE_SIZE,
    WINDOW,
    SileroVadEngine,
    VadInputError,
    initial_state,
)


@pytest.fixture(scope="module")
def engine() -> SileroVadEngine:
    return SileroVadEngine(max_windows=8)


def test_probability_per_window_and_opaque_state(engine: SileroVadEngine) -> None:
    probs, state = engine.process(np.zeros(3 * WINDOW, np.float32))
    assert probs.shape == (3,) and probs.dtype == np.float32
    assert state.shape == (STATE_SIZE,) and state.dtype == np.float32
    assert (probs < 0.1).all()


def test_chunked_processing_equals_one_shot(engine: SileroVadEngine) -> None:
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(6 * WINDOW)).astype(np.float32)
    whole, whole_state = engine.process(audio)
    state = initial_state()
    parts = []
    for i in range(0, audio.size, 2 * WINDOW):
        probs, state = engine.process(audio[i : i + 2 * WINDOW], state)
        parts.append(probs)
    np.testing.assert_allclose(np.concatenate(parts), whole, atol=1e-6)
    np.testing.assert_allclose(state, whole_state, atol=1e-6)


@pytest.mark.parametrize(
    ("audio", "state", "message"),
    [
        (np.zeros(WINDOW, np.float64), None, "float32"),
        (np.zeros(WINDOW + 1, np.float32), None, "multiple of 512"),
        (np.zeros(0, np.float32), None, "multiple of 512"),
        (np.zeros((2, WINDOW), np.float32), None, "1-D"),
        (np.zeros(9 * WINDOW, np.float32), None, "at most 8 windows"),
        (np.full(WINDOW, np.nan, np.float32), None, "NaN"),
        (np.zeros(WINDOW, np.float32), np.zeros(10, np.float32), "next_state"),
        (np.zeros(WINDOW, np.float32), np.full(STATE_SIZE, np.inf, np.float32), "not a state"),
    ],
)
def test_bad_input_is_rejected_with_a_reason(
    engine: SileroVadEngine, audio: np.ndarray, state: np.ndarray | None, message: str
) -> None:
    with pytest.raises(VadInputError, match=message):
        engine.process(audio, state)


def test_warm_up_leaves_no_state_behind(engine: SileroVadEngine) -> None:
    audio = (0.1 * np.random.default_rng(1).standard_normal(2 * WINDOW)).astype(np.float32)
    before, _ = engine.process(audio)
    engine.warm_up()
    after, _ = engine.process(audio)
    np.testing.assert_array_equal(before, after)
