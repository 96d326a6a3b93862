"""How much caller audio a stream may send: Twilio sends 20 ms every 20 ms, so a stream far above
real time is broken or hostile. A token bucket in milliseconds of audio: frames beyond the budget
are dropped (the call's queues never see them), and a stream that keeps flooding is closed, so it
costs the other calls next to nothing."""

from __future__ import annotations

from enum import Enum

from orchestrator.edge_options import MediaBudgetParams


class MediaVerdict(Enum):
    ACCEPT = "accept"
    DROP = "drop"
    CLOSE = "close"


class MediaBudget:
    def __init__(self, params: MediaBudgetParams, now_s: float) -> None:
        self._params = params
        self._tokens_ms = params.burst_ms
        self._at = now_s
        self.dropped_ms = 0.0

    def admit(self, audio_ms: float, now_s: float) -> MediaVerdict:
        p = self._params
        elapsed_ms = max(0.0, now_s - self._at) * 1000.0
        self._at = now_s
        self._tokens_ms = min(p.burst_ms, self._tokens_ms + elapsed_ms * p.max_rate)
        if audio_ms <= self._tokens_ms:
            self._tokens_ms -= audio_ms
            return MediaVerdict.ACCEPT
        self.dropped_ms += audio_ms
        if self.dropped_ms >= p.close_after_dropped_ms:
            return MediaVerdict.CLOSE
        return MediaVerdict.DROP
