"""mu-law against the stdlib's audioop; the soxr streaming resampler on a sine sweep."""

from __future__ import annotations

import warnings

import numpy as np
import numpy.typing as npt
import pytest
import soxr

from orchestrator.twilio import mulaw
from orchestrator.twilio.audio import InboundAudio, OutboundAudio, to_int16
from orchestrator.twilio.resampler import StreamingResampler

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop


def test_encode_matches_audioop_for_every_int16() -> None:
    samples = np.arange(-32768, 32768, dtype=np.int16)
    assert mulaw.encode(samples) == audioop.lin2ulaw(samples.tobytes(), 2)


def test_decode_matches_audioop_for_every_code() -> None:
    codes = bytes(range(256))
    expected = np.frombuffer(audioop.ulaw2lin(codes, 2), dtype=np.int16)
    np.testing.assert_array_equal(mulaw.decode(codes), expected)


def test_round_trip_error_is_within_the_segment_step() -> None:
    samples = np.arange(-32768, 32768, 7, dtype=np.int16)
    back = mulaw.decode(mulaw.encode(samples)).astype(np.int32)
    error = np.abs(back - samples)
    assert error.max() <= np.maximum(2, np.abs(samples.astype(np.int32)) // 16 + 132).max()
    assert np.all(error <= np.abs(samples.astype(np.int32)) // 16 + 132)


def sweep(rate: int, seconds: float, f0: float, f1: float) -> npt.NDArray[np.int16]:
    t = np.arange(int(rate * seconds)) / rate
    phase = 2 * np.pi * (f0 * t + (f1 - f0) / (2 * seconds) * t**2)
    return (np.sin(phase) * 12000).astype(np.int16)


@pytest.mark.parametrize(("rate_in", "rate_out", "frame"), [(8000, 16000, 160), (24000, 8000, 480)])
def test_streaming_in_20ms_frames_equals_one_shot(rate_in: int, rate_out: int, frame: int) -> None:
    """State carries across frames: frame by frame gives the one-shot result (no border clicks)."""
    signal = sweep(rate_in, 2.0, 100, min(rate_in, rate_out) * 0.45)
    resampler = StreamingResampler(rate_in, rate_out)
    pieces = [resampler.process(signal[i : i + frame]) for i in range(0, len(signal), frame)]
    streamed = np.concatenate([*pieces, resampler.flush()]).astype(np.int32)
    whole = soxr.resample(signal, rate_in, rate_out, "LQ").astype(np.int32)
    assert len(streamed) == len(whole)
    assert np.abs(streamed - whole).max() <= 2


def test_no_clicks_at_frame_borders() -> None:
    """The sample-to-sample step never exceeds what the sweep's top frequency allows."""
    signal = sweep(8000, 2.0, 100, 3400)
    resampler = StreamingResampler(8000, 16000)
    out = np.concatenate(
        [resampler.process(signal[i : i + 160]) for i in range(0, len(signal), 160)]
    ).astype(np.float64)
    steady = out[400:-400]
    max_step = 12000 * 2 * np.pi * 3400 / 16000  # |d/dt A sin(2 pi f t)| per output sample
    assert np.abs(np.diff(steady)).max() <= max_step * 1.1


def test_same_rate_passes_through() -> None:
    resampler = StreamingResampler(8000, 8000)
    data = np.arange(10, dtype=np.int16)
    assert resampler.process(data) is data
    assert len(resampler.flush()) == 0


def test_inbound_gives_16k_from_mulaw() -> None:
    inbound = InboundAudio()
    tone = (np.sin(2 * np.pi * 440 * np.arange(8000) / 8000) * 8000).astype(np.int16)
    payload = mulaw.encode(tone)
    total8, total16 = 0, 0
    for i in range(0, len(payload), 160):
        pcm8k, pcm16k = inbound.convert(payload[i : i + 160])
        assert pcm16k.dtype == np.int16
        total8 += len(pcm8k)
        total16 += len(pcm16k)
    assert total8 == 8000
    assert 16000 - 1100 <= total16 <= 16000  # soxr holds back its block


def test_outbound_float_any_rate_to_8k() -> None:
    outbound = OutboundAudio()
    tone = np.sin(2 * np.pi * 300 * np.arange(24000) / 24000).astype(np.float32) * 0.5
    pcm8k = outbound.convert(tone, 24000, end_of_segment=True)
    assert len(pcm8k) == 8000 and pcm8k.dtype == np.int16
    spectrum = np.abs(np.fft.rfft(pcm8k.astype(np.float64)))
    assert np.argmax(spectrum) == 300  # 1 Hz bins over 1 s


def test_to_int16_clips_floats() -> None:
    out = to_int16(np.array([-2.0, -1.0, 0.0, 0.5, 2.0], dtype=np.float32))
    assert out.tolist() == [-32768, -32767, 0, 16383, 32767]
