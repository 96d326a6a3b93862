"""Stream grants (one stream URL per answered call, spent by its handshake) and the media budget
(caller audio far beyond real time is dropped, then the stream closed): pure bookkeeping."""

from __future__ import annotations

from orchestrator.edge_options import MediaBudgetParams
from orchestrator.twilio.media_budget import MediaBudget, MediaVerdict
from orchestrator.twilio.stream_grants import StreamGrant, StreamGrants, StreamRefusal

BASE = "wss://agent.example.com/twilio/media"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_each_grant_has_a_url_of_its_own_and_is_spent_once() -> None:
    grants = StreamGrants(ttl_s=60, clock=Clock())
    first, second = grants.issue(BASE, "CA1"), grants.issue(BASE + "/", "CA2")
    assert first.url == f"{BASE}/{first.token}" and second.url == f"{BASE}/{second.token}"
    assert first.token != second.token and len(first.token) == 32
    assert grants.find(first.token) is first
    grants.spend(first)
    assert grants.find(first.token) is StreamRefusal.REPLAYED
    assert grants.find("made-up") is StreamRefusal.NO_GRANT
    assert grants.find(second.token) is second


def test_grants_expire_and_spent_ones_are_forgotten_after_their_ttl() -> None:
    clock = Clock()
    grants = StreamGrants(ttl_s=60, clock=clock)
    unused, spent = grants.issue(BASE, "CA1"), grants.issue(BASE, "CA2")
    grants.spend(spent)
    clock.now += 61
    assert grants.find(unused.token) is StreamRefusal.NO_GRANT
    assert grants.find(spent.token) is StreamRefusal.NO_GRANT
    assert len(grants) == 0


def test_an_outbound_grant_is_bound_to_its_call_once_twilio_names_it() -> None:
    grants = StreamGrants(ttl_s=60, clock=Clock())
    grant = grants.issue(BASE, None)
    grants.bind(grant.token, "CA9")
    found = grants.find(grant.token)
    assert isinstance(found, StreamGrant) and found.call_sid == "CA9"


def test_grants_are_bounded_oldest_first() -> None:
    grants = StreamGrants(ttl_s=60, clock=Clock(), max_grants=3)
    issued = [grants.issue(BASE, f"CA{i}") for i in range(5)]
    assert len(grants) == 3
    assert grants.find(issued[0].token) is StreamRefusal.NO_GRANT
    assert grants.find(issued[4].token) is issued[4]


def test_real_time_media_is_always_taken() -> None:
    budget = MediaBudget(MediaBudgetParams(), now_s=0.0)
    # Jitter: frames bunched in pairs, never ahead of 2x real time on average.
    verdicts = [budget.admit(20.0, now_s=(i // 2) * 0.04) for i in range(3000)]
    assert set(verdicts) == {MediaVerdict.ACCEPT} and budget.dropped_ms == 0


def test_a_burst_after_a_stall_is_taken_up_to_its_size() -> None:
    budget = MediaBudget(MediaBudgetParams(burst_ms=2000.0), now_s=0.0)
    taken = [budget.admit(20.0, now_s=0.0) for _ in range(150)]
    assert taken.count(MediaVerdict.ACCEPT) == 100  # 2 s of audio at once
    assert budget.dropped_ms == 50 * 20.0


def test_a_flood_is_dropped_beyond_its_rate_then_closed() -> None:
    params = MediaBudgetParams(max_rate=2.0, burst_ms=2000.0, close_after_dropped_ms=5000.0)
    budget = MediaBudget(params, now_s=0.0)
    verdicts: list[MediaVerdict] = []
    t = 0.0
    while MediaVerdict.CLOSE not in verdicts:
        t += 0.002  # a 20 ms frame every 2 ms: 10x real time
        verdicts.append(budget.admit(20.0, now_s=t))
    taken_ms = verdicts.count(MediaVerdict.ACCEPT) * 20.0
    assert taken_ms <= 2000.0 + 2.0 * t * 1000.0 + 20.0
    assert 0.5 < t < 1.0  # 8 s of audio dropped per second: closed within a second
