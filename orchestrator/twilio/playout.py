"""What the caller has heard, from Twilio's mark echoes and elapsed time. Pure; clock injected.

Outbound audio goes out in chunks, each followed by a ``mark``. Twilio plays its buffer in order and
echoes a mark once the audio before it has played, so:

- a chunk whose mark came back was heard in full (exact);
- the oldest unacknowledged chunk (the *head*) is playing: it started when the previous mark came
  back, or when it was sent if the buffer had run dry by then. Its heard length is the elapsed time
  since that start, capped at its duration (an estimate, refined by its own mark);
- later chunks have not started.

``clear`` freezes that picture: the head keeps its estimate, the rest (queued ones too) count as
unheard. Twilio then echoes the marks of the cleared chunks; they are recognised and change nothing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum

from orchestrator.call_handler import ChunkPlayout, ChunkState


class MarkOutcome(Enum):
    PLAYED = "played"  # acknowledged one or more pending chunks
    CLEARED_ECHO = "cleared_echo"  # the echo Twilio sends for a chunk dropped by clear
    UNKNOWN = "unknown"  # no chunk has this mark


@dataclass(frozen=True)
class MarkAck:
    outcome: MarkOutcome
    played: tuple[ChunkPlayout, ...] = ()  # chunks that became PLAYED, oldest first


@dataclass
class _Pending:
    mark: str
    label: str
    duration_ms: float
    sent_at: float


class PlayoutTracker:
    """Ground truth of outbound playout for one stream. Times are ``clock()`` seconds (monotonic)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._queued: dict[str, tuple[str, float]] = {}  # mark -> (label, duration_ms), in order
        self._pending: deque[_Pending] = deque()
        self._settled: dict[str, ChunkPlayout] = {}
        self._cleared_awaiting_echo: set[str] = set()
        self._heard_ms_by_label: dict[str, float] = {}
        # When the head may have started at the earliest: the last ack or clear.
        self._head_free_since: float | None = None

    # ---- updates -------------------------------------------------------------------------------

    def chunk_queued(self, mark: str, duration_ms: float, label: str) -> None:
        """Register a chunk accepted for sending (so ``chunk(mark)`` knows it from then on)."""
        known = mark in self._queued or mark in self._settled
        if known or any(p.mark == mark for p in self._pending):
            raise ValueError(f"mark {mark!r} already used on this stream")
        if duration_ms < 0:
            raise ValueError(f"negative duration {duration_ms}")
        self._queued[mark] = (label, duration_ms)

    def chunk_sent(self, mark: str) -> None:
        """A queued chunk's media and mark went out just now."""
        label, duration_ms = self._queued.pop(mark)
        self._pending.append(_Pending(mark, label, duration_ms, self._clock()))

    def mark_received(self, mark: str) -> MarkAck:
        """Apply an echoed mark. Chunks before it (marks in order) are taken as played too."""
        if mark in self._cleared_awaiting_echo:
            self._cleared_awaiting_echo.discard(mark)
            return MarkAck(MarkOutcome.CLEARED_ECHO)
        if not any(p.mark == mark for p in self._pending):
            return MarkAck(MarkOutcome.UNKNOWN)
        now = self._clock()
        played: list[ChunkPlayout] = []
        while True:
            chunk = self._pending[0]
            started_at = self._head_started_at()
            self._pending.popleft()
            snapshot = ChunkPlayout(
                chunk.mark,
                chunk.label,
                chunk.duration_ms,
                ChunkState.PLAYED,
                chunk.duration_ms,
                started_at,
            )
            self._settle(snapshot)
            played.append(snapshot)
            self._head_free_since = now
            if chunk.mark == mark:
                return MarkAck(MarkOutcome.PLAYED, tuple(played))

    def clear(self) -> tuple[ChunkPlayout, ...]:
        """Drop every pending chunk; returns them as heard (the head with its elapsed estimate)."""
        cut: list[ChunkPlayout] = []
        for index, chunk in enumerate(self._pending):
            if index == 0:
                snapshot = replace(self._head_snapshot(), state=ChunkState.CLEARED)
            else:
                snapshot = ChunkPlayout(
                    chunk.mark, chunk.label, chunk.duration_ms, ChunkState.CLEARED, 0.0, None
                )
            self._settle(snapshot)
            self._cleared_awaiting_echo.add(chunk.mark)
            cut.append(snapshot)
        for mark, (label, duration_ms) in self._queued.items():
            snapshot = ChunkPlayout(mark, label, duration_ms, ChunkState.CLEARED, 0.0, None)
            self._settle(snapshot)
            cut.append(snapshot)
        self._pending.clear()
        self._queued.clear()
        self._head_free_since = self._clock()
        return tuple(cut)

    # ---- queries -------------------------------------------------------------------------------

    def chunk(self, mark: str) -> ChunkPlayout:
        """The chunk's playout now. KeyError for a mark never sent."""
        if mark in self._settled:
            return self._settled[mark]
        if mark in self._queued:
            label, duration_ms = self._queued[mark]
            return ChunkPlayout(mark, label, duration_ms, ChunkState.QUEUED, 0.0, None)
        for index, chunk in enumerate(self._pending):
            if chunk.mark == mark:
                if index == 0:
                    return self._head_snapshot()
                return ChunkPlayout(
                    chunk.mark, chunk.label, chunk.duration_ms, ChunkState.PENDING, 0.0, None
                )
        raise KeyError(mark)

    def head(self) -> ChunkPlayout | None:
        """The chunk playing now (or waiting for its start), None when nothing is pending."""
        return self._head_snapshot() if self._pending else None

    def pending(self) -> tuple[ChunkPlayout, ...]:
        return tuple(self.chunk(p.mark) for p in self._pending)

    def heard_ms(self, label: str) -> float:
        """How much of everything sent under ``label`` the caller has heard so far."""
        heard = self._heard_ms_by_label.get(label, 0.0)
        if self._pending and self._pending[0].label == label:
            heard += self._head_snapshot().played_ms
        return heard

    def unplayed_ms(self) -> float:
        """Audio sent but not yet heard: how far ahead of real time the sender is."""
        if not self._pending:
            return 0.0
        total = sum(p.duration_ms for p in self._pending)
        return total - self._head_snapshot().played_ms

    # ---- internals -----------------------------------------------------------------------------

    def _head_started_at(self) -> float:
        head = self._pending[0]
        if self._head_free_since is None:
            return head.sent_at
        return max(head.sent_at, self._head_free_since)

    def _head_snapshot(self) -> ChunkPlayout:
        head = self._pending[0]
        started_at = self._head_started_at()
        played = min(head.duration_ms, (self._clock() - started_at) * 1000.0)
        return ChunkPlayout(
            head.mark, head.label, head.duration_ms, ChunkState.PENDING, played, started_at
        )

    def _settle(self, snapshot: ChunkPlayout) -> None:
        self._settled[snapshot.mark] = snapshot
        self._heard_ms_by_label[snapshot.label] = (
            self._heard_ms_by_label.get(snapshot.label, 0.0) + snapshot.played_ms
        )
