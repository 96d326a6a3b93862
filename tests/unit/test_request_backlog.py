"""serving/request_backlog.py: a model's requests counted as waiting and running, in gauges that
several instances of the model share, never touched by two threads at once."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from serving.request_backlog import BacklogGauges, RequestBacklog, RequestOutcome


class FakeGauge:
    """A gauge that records its value and fails if two threads call it at once. Each call takes a
    little time, as the stub's does (a message to the server: ~16 us), so that overlaps can happen."""

    def __init__(self) -> None:
        self.value = 0.0
        self._busy = threading.Lock()

    def increment(self, value: float) -> None:
        assert self._busy.acquire(blocking=False), "two gauge calls at once"
        try:
            time.sleep(0.00002)
            self.value += value
        finally:
            self._busy.release()


class FakeGauges:
    def __init__(self) -> None:
        self.waiting, self.running, self.slots = FakeGauge(), FakeGauge(), FakeGauge()
        self.gauges = BacklogGauges(self.waiting, self.running, self.slots)

    def values(self) -> tuple[float, float, float]:
        return (self.waiting.value, self.running.value, self.slots.value)


def test_a_request_waits_until_a_worker_takes_it_and_runs_until_it_is_done() -> None:
    fakes = FakeGauges()
    backlog = RequestBacklog(fakes.gauges, slots=2)
    assert fakes.values() == (0, 0, 2)
    backlog.accepted()
    backlog.accepted()
    assert fakes.values() == (2, 0, 2)
    with backlog.serving():
        assert fakes.values() == (1, 1, 2)
        assert (backlog.waiting, backlog.running) == (1, 1)
    assert fakes.values() == (1, 0, 2)


def test_a_failed_request_stops_counting_as_running() -> None:
    fakes = FakeGauges()
    backlog = RequestBacklog(fakes.gauges, slots=1)
    backlog.accepted()
    with pytest.raises(RuntimeError), backlog.serving():
        raise RuntimeError("engine failure")
    assert fakes.values() == (0, 0, 1)


def test_instances_of_one_model_add_their_parts_and_take_them_out_on_close() -> None:
    shared = FakeGauges()
    first, second = RequestBacklog(shared.gauges, slots=2), RequestBacklog(shared.gauges, slots=3)
    first.accepted()
    second.accepted()
    assert shared.values() == (2, 0, 5)
    first.close()
    assert shared.values() == (1, 0, 3)
    second.close()
    assert shared.values() == (0, 0, 0)


def test_many_threads_leave_the_gauges_at_zero_without_overlapping_calls() -> None:
    fakes = FakeGauges()
    backlog = RequestBacklog(fakes.gauges, slots=4)
    peak = 0.0

    def serve() -> None:
        nonlocal peak
        with backlog.serving():
            peak = max(peak, fakes.running.value)

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = []
        for _ in range(500):
            backlog.accepted()
            futures.append(pool.submit(serve))
        for future in futures:
            future.result()
    assert fakes.values() == (0, 0, 4)
    assert 1 <= peak <= 4


def test_ended_requests_count_by_outcome_with_the_responses_they_got() -> None:
    ended = {outcome: FakeGauge() for outcome in RequestOutcome}
    responses = FakeGauge()
    gauges = BacklogGauges(FakeGauge(), FakeGauge(), FakeGauge(), ended=ended, responses=responses)
    backlog = RequestBacklog(gauges, slots=2)
    backlog.ended(RequestOutcome.COMPLETED, 5)
    backlog.ended(RequestOutcome.CANCELLED, 1)
    backlog.ended(RequestOutcome.INVALID, 0)
    assert {o.value: g.value for o, g in ended.items()} == {
        "completed": 1,
        "cancelled": 1,
        "invalid": 1,
        "failed": 0,
    }
    assert responses.value == 6
