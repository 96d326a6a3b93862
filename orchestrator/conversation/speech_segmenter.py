"""Speech segments from per-window VAD probabilities: pure, deterministic, no clock of its own.

Hysteresis as in Silero's own ``get_speech_timestamps``: speech opens at ``threshold`` and only closes after
``pause_ms`` below ``threshold - 0.15``, so a dip inside a word does not split it. Speech shorter than
``min_speech_ms`` never opens a segment (clicks, short noise). Times are in ms of the call's audio, counted
from the first window fed.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.vad_window import WINDOW_MS

HYSTERESIS = 0.15


@dataclass(frozen=True)
class SegmenterParams:
    threshold: float = 0.5
    min_speech_ms: int = 96
    pause_ms: int = 200  # silence that closes a segment: a pause, maybe the end of the turn


@dataclass(frozen=True)
class SpeechStarted:
    """Speech confirmed (it has lasted ``min_speech_ms``); ``onset_ms`` is when it began."""

    onset_ms: int
    confirmed_ms: int


@dataclass(frozen=True)
class SpeechEnded:
    """A segment closed by ``pause_ms`` of silence (or by :meth:`SpeechSegmenter.flush`)."""

    onset_ms: int
    end_ms: int  # end of the last window at or above the threshold
    detected_ms: int  # when the silence was long enough to say so

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.onset_ms


SegmentEvent = SpeechStarted | SpeechEnded


class SpeechSegmenter:
    """Feed one probability per 32 ms window; get :class:`SpeechStarted` / :class:`SpeechEnded` events."""

    def __init__(self, params: SegmenterParams = SegmenterParams()) -> None:
        self.params = params
        self._windows = 0
        self._candidate_onset: int | None = None
        self._onset: int | None = None  # set while in speech
        self._last_speech_end = 0
        self._silence_start: int | None = None

    @property
    def now_ms(self) -> int:
        return self._windows * WINDOW_MS

    @property
    def in_speech(self) -> bool:
        return self._onset is not None

    def push(self, probability: float) -> list[SegmentEvent]:
        start, end = self.now_ms, self.now_ms + WINDOW_MS
        self._windows += 1
        if self._onset is None:
            return self._while_silent(probability, start, end)
        return self._while_speaking(probability, start, end)

    def push_many(self, probabilities: list[float]) -> list[SegmentEvent]:
        return [event for p in probabilities for event in self.push(p)]

    def flush(self) -> list[SegmentEvent]:
        """Close an open segment (end of audio or hang-up)."""
        if self._onset is None:
            return []
        event = SpeechEnded(self._onset, self._last_speech_end, self.now_ms)
        self._reset()
        return [event]

    def _while_silent(self, probability: float, start: int, end: int) -> list[SegmentEvent]:
        params = self.params
        if probability >= params.threshold:
            if self._candidate_onset is None:
                self._candidate_onset = start
            if end - self._candidate_onset >= params.min_speech_ms:
                self._onset, self._last_speech_end = self._candidate_onset, end
                self._candidate_onset = None
                return [SpeechStarted(self._onset, end)]
        elif probability < params.threshold - HYSTERESIS:
            self._candidate_onset = None
        return []

    def _while_speaking(self, probability: float, start: int, end: int) -> list[SegmentEvent]:
        assert self._onset is not None
        if probability >= self.params.threshold - HYSTERESIS:
            # Between the thresholds the segment stays open, but only confident windows extend its end:
            # Silero's probability decays over a few windows after the last word.
            self._silence_start = None
            if probability >= self.params.threshold:
                self._last_speech_end = end
            return []
        if self._silence_start is None:
            self._silence_start = start
        if end - self._silence_start < self.params.pause_ms:
            return []
        event = SpeechEnded(self._onset, self._last_speech_end, end)
        self._reset()
        return [event]

    def _reset(self) -> None:
        self._onset = None
        self._candidate_onset = None
        self._silence_start = None
