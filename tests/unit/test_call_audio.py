import numpy as np

from orchestrator.conversation.call_audio import RATE, CallAudioBuffer


def ramp(seconds: float, start: int = 0) -> np.ndarray:
    return np.arange(start, start + int(seconds * RATE), dtype=np.float32)


def test_slices_by_call_time() -> None:
    buffer = CallAudioBuffer()
    buffer.append(ramp(1.0))
    buffer.append(ramp(1.0, start=RATE))
    np.testing.assert_array_equal(buffer.slice_ms(900, 1100), ramp(0.2, start=int(0.9 * RATE)))
    assert buffer.end_ms == 2000


def test_old_audio_is_dropped_but_times_stay_absolute() -> None:
    buffer = CallAudioBuffer(keep_s=1.0)
    for second in range(3):
        buffer.append(ramp(1.0, start=second * RATE))
    assert buffer.slice_ms(0, 1000).size == 0  # gone
    np.testing.assert_array_equal(buffer.slice_ms(2500, 2600), ramp(0.1, start=int(2.5 * RATE)))
    # a slice reaching before what is kept is clipped, not shifted
    np.testing.assert_array_equal(buffer.slice_ms(1500, 2100), ramp(0.1, start=2 * RATE))
