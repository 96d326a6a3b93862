"""PlayoutTracker: what the caller heard, from marks and elapsed time on a simulated clock."""

from __future__ import annotations

import pytest

from orchestrator.call_handler import ChunkState
from orchestrator.twilio.playout import MarkOutcome, PlayoutTracker


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance_ms(self, ms: float) -> None:
        self.now += ms / 1000.0


def send(tracker: PlayoutTracker, mark: str, duration_ms: float, label: str) -> None:
    tracker.chunk_queued(mark, duration_ms, label)
    tracker.chunk_sent(mark)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def tracker(clock: FakeClock) -> PlayoutTracker:
    return PlayoutTracker(clock)


def test_nothing_sent(tracker: PlayoutTracker) -> None:
    assert tracker.head() is None
    assert tracker.unplayed_ms() == 0.0
    assert tracker.heard_ms("x") == 0.0
    assert tracker.pending() == ()
    with pytest.raises(KeyError):
        tracker.chunk("nope")


def test_head_plays_by_elapsed_time_capped_at_duration(
    tracker: PlayoutTracker, clock: FakeClock
) -> None:
    send(tracker, "a", 200, "reply")
    send(tracker, "b", 200, "reply")
    clock.advance_ms(50)
    head = tracker.head()
    assert head is not None and head.mark == "a"
    assert head.state is ChunkState.PENDING and head.played_ms == pytest.approx(50)
    assert tracker.chunk("b").played_ms == 0.0 and tracker.chunk("b").started_at is None
    assert tracker.unplayed_ms() == pytest.approx(350)
    clock.advance_ms(400)  # ack is late: the head is capped, the next one has not started
    assert tracker.chunk("a").played_ms == 200
    assert tracker.chunk("b").played_ms == 0
    assert tracker.heard_ms("reply") == 200


def test_mark_makes_chunk_fully_played_exactly(tracker: PlayoutTracker, clock: FakeClock) -> None:
    send(tracker, "a", 200, "reply")
    send(tracker, "b", 300, "reply")
    clock.advance_ms(150)  # ack arrives before the estimate reaches the duration
    ack = tracker.mark_received("a")
    assert ack.outcome is MarkOutcome.PLAYED
    assert [c.mark for c in ack.played] == ["a"]
    a = tracker.chunk("a")
    assert a.fully_played and a.played_ms == 200 and a.started_at == pytest.approx(100.0)
    # "b" starts at the ack, not at its send time.
    clock.advance_ms(100)
    b = tracker.chunk("b")
    assert b.played_ms == pytest.approx(100) and b.started_at == pytest.approx(100.15)
    assert tracker.heard_ms("reply") == pytest.approx(300)


def test_chunk_sent_after_buffer_ran_dry_starts_when_sent(
    tracker: PlayoutTracker, clock: FakeClock
) -> None:
    send(tracker, "a", 100, "one")
    clock.advance_ms(100)
    tracker.mark_received("a")
    clock.advance_ms(500)  # silence
    send(tracker, "b", 100, "two")
    clock.advance_ms(40)
    assert tracker.chunk("b").played_ms == pytest.approx(40)


def test_later_mark_acks_earlier_chunks_too(tracker: PlayoutTracker, clock: FakeClock) -> None:
    for mark in "abc":
        send(tracker, mark, 100, "r")
    clock.advance_ms(250)
    ack = tracker.mark_received("b")
    assert [c.mark for c in ack.played] == ["a", "b"]
    assert tracker.head() is not None and tracker.head().mark == "c"  # type: ignore[union-attr]


def test_clear_freezes_head_estimate_and_drops_the_rest(
    tracker: PlayoutTracker, clock: FakeClock
) -> None:
    send(tracker, "a", 200, "r1")
    send(tracker, "b", 200, "r1")
    send(tracker, "c", 200, "r2")
    clock.advance_ms(200)
    tracker.mark_received("a")
    clock.advance_ms(70)
    cut = tracker.clear()
    assert [(c.mark, c.state, c.played_ms) for c in cut] == [
        ("b", ChunkState.CLEARED, pytest.approx(70)),
        ("c", ChunkState.CLEARED, 0.0),
    ]
    clock.advance_ms(1000)  # time no longer changes anything
    assert tracker.chunk("b").played_ms == pytest.approx(70)
    assert tracker.heard_ms("r1") == pytest.approx(270)
    assert tracker.heard_ms("r2") == 0.0
    assert tracker.unplayed_ms() == 0.0 and tracker.head() is None
    # Twilio echoes the cleared marks; they change nothing.
    assert tracker.mark_received("b").outcome is MarkOutcome.CLEARED_ECHO
    assert tracker.mark_received("c").outcome is MarkOutcome.CLEARED_ECHO
    assert tracker.mark_received("c").outcome is MarkOutcome.UNKNOWN
    assert tracker.chunk("b").state is ChunkState.CLEARED


def test_acked_chunks_are_exact_after_clear(tracker: PlayoutTracker, clock: FakeClock) -> None:
    send(tracker, "a", 180, "r")
    send(tracker, "b", 180, "r")
    clock.advance_ms(195)  # the ack comes late; the played length is still the duration
    tracker.mark_received("a")
    tracker.clear()
    assert tracker.chunk("a").played_ms == 180 and tracker.chunk("a").fully_played
    assert tracker.chunk("b").played_ms == 0.0


def test_clear_with_nothing_pending(tracker: PlayoutTracker) -> None:
    assert tracker.clear() == ()


def test_sending_after_clear_starts_fresh(tracker: PlayoutTracker, clock: FakeClock) -> None:
    send(tracker, "a", 500, "r1")
    clock.advance_ms(100)
    tracker.clear()
    clock.advance_ms(10)
    send(tracker, "b", 100, "r2")
    clock.advance_ms(30)
    assert tracker.chunk("b").played_ms == pytest.approx(30)


def test_unknown_mark(tracker: PlayoutTracker) -> None:
    assert tracker.mark_received("ghost").outcome is MarkOutcome.UNKNOWN


def test_zero_length_chunk_is_acked_like_any(tracker: PlayoutTracker, clock: FakeClock) -> None:
    send(tracker, "a", 0, "r")
    assert tracker.unplayed_ms() == 0.0
    assert tracker.mark_received("a").outcome is MarkOutcome.PLAYED


def test_rejects_reused_mark_and_negative_duration(tracker: PlayoutTracker) -> None:
    send(tracker, "a", 10, "r")
    with pytest.raises(ValueError):
        tracker.chunk_queued("a", 10, "r")
    with pytest.raises(ValueError):
        tracker.chunk_queued("z", -1, "r")


def test_queued_chunks_are_known_and_cleared_unheard(
    tracker: PlayoutTracker, clock: FakeClock
) -> None:
    send(tracker, "a", 100, "r")
    tracker.chunk_queued("b", 100, "r")
    clock.advance_ms(500)
    assert tracker.chunk("b").state is ChunkState.QUEUED
    assert tracker.unplayed_ms() == 0.0  # only sent audio counts toward the lead
    cut = tracker.clear()
    assert [(c.mark, c.state, c.played_ms) for c in cut] == [
        ("a", ChunkState.CLEARED, 100.0),
        ("b", ChunkState.CLEARED, 0.0),
    ]
    assert tracker.mark_received("b").outcome is MarkOutcome.UNKNOWN  # never sent: no echo


def test_invariants_on_a_random_timeline(clock: FakeClock) -> None:
    """Heard never exceeds sent, never decreases, and acked chunks are exactly their duration."""
    import random

    rng = random.Random(7)
    tracker = PlayoutTracker(clock)
    sent: dict[str, float] = {}
    labels = ["r0", "r1", "r2"]
    last_heard = dict.fromkeys(labels, 0.0)
    pending: list[str] = []
    for step in range(2000):
        action = rng.random()
        if action < 0.4:
            mark = f"m{step}"
            duration = rng.choice([0, 20, 100, 200])
            send(tracker, mark, duration, rng.choice(labels))
            sent[mark] = duration
            pending.append(mark)
        elif action < 0.7 and pending:
            tracker.mark_received(pending.pop(0))
        elif action < 0.75:
            tracker.clear()
            pending.clear()
        clock.advance_ms(rng.choice([0, 5, 20, 60]))
        for label in labels:
            heard = tracker.heard_ms(label)
            assert heard >= last_heard[label] - 1e-9
            last_heard[label] = heard
        for mark, duration in sent.items():
            chunk = tracker.chunk(mark)
            assert 0.0 <= chunk.played_ms <= duration
            if chunk.state is ChunkState.PLAYED:
                assert chunk.played_ms == duration
    assert sum(last_heard.values()) <= sum(sent.values())
