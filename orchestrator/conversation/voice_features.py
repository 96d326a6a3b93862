"""How the caller's voice moved over one turn: loudness, speaking rate, pitch range. Pure numpy.

The voice (:func:`voice_features`) says how strongly it is felt, never what: loudness, speaking rate
and pitch movement over the turn, each compared with the caller's OWN baseline from the first turns of
this call (:class:`VoiceBaseline`) -- absolute level over a phone line says more about the handset, the
line and the codec than about the caller. Louder, faster and more animated than their baseline scales
a negative (or positive) score up, calmer scales it down; a neutral transcript stays neutral whatever
the voice does, and the label never changes: a loud turn is as often a noisy street, a speaker phone
or a synthetic test voice as an angry caller, and there is no labelled audio to show otherwise. So the
voice moves the figures (the per-turn score, the call's lowest point), not the decision to acknowledge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]

SAMPLE_RATE = 16_000
ANALYSIS_RATE = 8_000  # a phone line carries nothing above 4 kHz
FRAME_S = 0.05  # an analysis frame: at least two periods of the lowest pitch (80 Hz -> 25 ms)
HOP_S = 0.02
F0_MIN_HZ, F0_MAX_HZ = 80.0, 400.0  # adult speech, low male to high female/child
VOICED_CORRELATION = 0.45  # normalised autocorrelation peak above which a frame is voiced
SPEECH_BELOW_PEAK_DB = 30.0  # frames this far below the turn's loudest frame are pauses
SILENCE_DBFS = -60.0  # ... and frames below this are silence whatever the peak
MIN_SPEECH_S = 0.2  # less speech than this: no voice features
MIN_VOICED_FRAMES = 5  # fewer voiced frames than this: no pitch range (0)


@dataclass(frozen=True)
class VoiceFeatures:
    """One caller turn's voice, each against what a calm caller does: ``energy_db`` (level of the
    speech frames in dBFS: shouting is louder); ``speaking_rate_wps`` (the transcript's words per
    second of speech: agitated callers speed up); ``pitch_range_semitones`` (the spread of the voiced
    frames' pitch, 10th to 90th percentile: anger and excitement move the pitch, tiredness and calm
    flatten it). Only their change from the caller's own baseline means anything."""

    energy_db: float
    speaking_rate_wps: float
    pitch_range_semitones: float


@dataclass(frozen=True)
class VoiceAnalysis:
    """What one turn's audio alone says; the transcript's word count completes it (:meth:`features`).
    Split so that the audio can be analysed while the turn is being transcribed."""

    energy_db: float
    speech_s: float
    pitch_range_semitones: float

    def features(self, words: int) -> VoiceFeatures:
        return VoiceFeatures(
            self.energy_db, max(words, 0) / self.speech_s, self.pitch_range_semitones
        )


def analyse_voice(
    audio: FloatArray, speech_s: float | None = None, sample_rate: int = SAMPLE_RATE
) -> VoiceAnalysis | None:
    """The voice of one turn's audio; ``speech_s`` is the speech duration when the VAD knows it (else
    the frames above the pause level). None when the audio holds too little speech to say anything."""
    frames, rate = _frames(audio, sample_rate)
    if frames.shape[0] == 0:
        return None
    power = np.mean(frames**2, axis=1)
    level_db = 10.0 * np.log10(power + 1e-12)
    speech = level_db > max(SILENCE_DBFS, float(level_db.max()) - SPEECH_BELOW_PEAK_DB)
    measured_s = float(np.count_nonzero(speech)) * HOP_S
    if measured_s < MIN_SPEECH_S:
        return None
    energy_db = 10.0 * float(np.log10(np.mean(power[speech]) + 1e-12))
    duration = speech_s if speech_s is not None and speech_s > 0 else measured_s
    f0 = _f0_of_frames(frames[speech], rate)
    voiced = f0[~np.isnan(f0)]
    pitch_range = 0.0
    if voiced.size >= MIN_VOICED_FRAMES:
        low, high = np.percentile(voiced, [10, 90])
        pitch_range = float(12.0 * np.log2(high / low))
    return VoiceAnalysis(energy_db, duration, pitch_range)


def voice_features(
    audio: FloatArray, words: int, speech_s: float | None = None, sample_rate: int = SAMPLE_RATE
) -> VoiceFeatures | None:
    """The voice of one turn from its audio and the transcript's word count (see
    :func:`analyse_voice`)."""
    analysis = analyse_voice(audio, speech_s, sample_rate)
    return analysis.features(words) if analysis is not None else None


def f0_track(audio: FloatArray, sample_rate: int = SAMPLE_RATE) -> npt.NDArray[np.float64]:
    """The pitch (Hz) of each frame (``HOP_S`` apart), NaN where the frame is not voiced."""
    return _f0_of_frames(*_frames(audio, sample_rate))


def _frames(audio: FloatArray, sample_rate: int) -> tuple[npt.NDArray[np.float64], int]:
    """Overlapping frames, one per row, each without its DC offset, and their sample rate: audio at a
    multiple of ``ANALYSIS_RATE`` is brought down to it first (the mean of each group of samples, a
    crude low-pass that is enough for a phone line's band), which quarters the work of the pitch."""
    signal = np.asarray(audio, dtype=np.float64).ravel()
    factor = sample_rate // ANALYSIS_RATE if sample_rate % ANALYSIS_RATE == 0 else 1
    if factor > 1:
        signal = signal[: signal.size // factor * factor].reshape(-1, factor).mean(axis=1)
    rate = sample_rate // factor
    length, hop = round(FRAME_S * rate), round(HOP_S * rate)
    if signal.size < length:
        return np.zeros((0, length)), rate
    frames = np.lib.stride_tricks.sliding_window_view(signal, length)[::hop]
    return frames - frames.mean(axis=1, keepdims=True), rate


def _f0_of_frames(frames: npt.NDArray[np.float64], sample_rate: int) -> npt.NDArray[np.float64]:
    """Autocorrelation pitch: the lag of the highest normalised autocorrelation peak between the
    periods of ``F0_MAX_HZ`` and ``F0_MIN_HZ``, refined by a parabola through its neighbours. The
    biased autocorrelation tapers with lag, so the fundamental's peak beats its multiples (no octave
    jumps down)."""
    f0 = np.full(frames.shape[0], np.nan)
    if frames.shape[0] == 0:
        return f0
    length = frames.shape[1]
    min_lag = int(sample_rate / F0_MAX_HZ)
    max_lag = min(int(np.ceil(sample_rate / F0_MIN_HZ)), length - 3)
    size = 1 << int(np.ceil(np.log2(length + max_lag + 1)))  # no circular wrap-around up to max_lag
    spectrum = np.fft.rfft(frames, n=size, axis=1)
    power = spectrum.real**2 + spectrum.imag**2
    autocorr = np.fft.irfft(power, n=size, axis=1)[:, : max_lag + 3]
    energy = autocorr[:, 0]
    live = energy > 1e-10
    if not np.any(live):
        return f0
    normalised = autocorr[live] / energy[live, None]
    # one lag either side of the range, so a peak on its edge can still be refined
    window = normalised[:, min_lag - 1 : max_lag + 2]
    peak = np.argmax(window, axis=1) + min_lag - 1
    rows = np.arange(normalised.shape[0])
    height = normalised[rows, peak]
    left, right = normalised[rows, peak - 1], normalised[rows, peak + 1]
    curvature = left - 2.0 * height + right
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(curvature < 0, 0.5 * (left - right) / curvature, 0.0)
    lag = peak + np.clip(shift, -0.5, 0.5)
    voiced = (height >= VOICED_CORRELATION) & (peak >= min_lag) & (peak <= max_lag)
    f0[np.flatnonzero(live)[voiced]] = sample_rate / lag[voiced]
    return f0
