"""How many of a model's requests wait and run: the backlog an autoscaler reads.

A decoupled Python-backend model returns from ``execute`` at once and queues each request on its own
thread pool (serving/python_backend.py), so Triton's queue metrics (``nv_inference_pending_request_count``,
``nv_inference_queue_duration_us``) never see that wait. These counts do. The gauges are injected:
Triton's custom metrics in the stub, fakes in the unit tests.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

# The gauges' names and descriptions, by BacklogGauges field; one series per model (label ``model``) on
# Triton's metrics port, read by the autoscaler (deploy/k8s/prometheus-adapter.yaml).
BACKLOG_METRICS = {
    "waiting": ("cc_model_requests_waiting", "Requests the model accepted and has not started yet"),
    "running": ("cc_model_requests_running", "Requests the model is serving now"),
    "slots": ("cc_model_request_slots", "Requests the model serves at once (its request threads)"),
}
# Counters beside them: how requests ended (label ``outcome`` too) and the responses they got.
ENDED_METRIC = ("cc_model_requests_ended", "Requests the model ended, by outcome")
RESPONSES_METRIC = ("cc_model_responses", "Responses with outputs the model sent")


class RequestOutcome(StrEnum):
    """How a request's stream ended: its FINAL response."""

    COMPLETED = "completed"
    CANCELLED = "cancelled"  # the client went away; the model stopped early
    INVALID = "invalid"  # bad input (INVALID_ARG)
    FAILED = "failed"  # any other error


class Gauge(Protocol):
    """What the backlog needs of a gauge (``pb_utils.MetricFamily(kind=GAUGE).Metric(...)`` has it)."""

    def increment(self, value: float) -> None: ...


@dataclass(frozen=True)
class BacklogGauges:
    """One model's three gauges: requests accepted and not yet started, being served, and how many
    it serves at once."""

    waiting: Gauge
    running: Gauge
    slots: Gauge
    ended: Mapping[RequestOutcome, Gauge] = field(default_factory=dict)  # counters, by outcome
    responses: Gauge | None = None  # a counter


class RequestBacklog:
    """One model instance's requests, accepted -> waiting -> running -> done. Thread-safe.

    The gauges move by differences, never by ``set``: Triton gives every instance of a model the same
    gauge for the same name and labels (each instance is its own stub process), so each instance adds
    its part. Every gauge call is made under the lock: the stub's metric calls crash tritonserver 2.51
    when two threads make them at once (``boost::interprocess::lock_exception``, measured).
    """

    def __init__(self, gauges: BacklogGauges, slots: int) -> None:
        self._gauges = gauges
        self._lock = threading.Lock()
        self._waiting = 0
        self._running = 0
        self._slots = slots
        with self._lock:
            gauges.slots.increment(slots)

    @property
    def waiting(self) -> int:
        return self._waiting

    @property
    def running(self) -> int:
        return self._running

    def accepted(self) -> None:
        """A request was queued for a worker."""
        with self._lock:
            self._waiting += 1
            self._gauges.waiting.increment(1)

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        """An accepted request from the moment a worker takes it until it is done, failed or not."""
        with self._lock:
            self._waiting -= 1
            self._running += 1
            self._gauges.waiting.increment(-1)
            self._gauges.running.increment(1)
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                self._gauges.running.increment(-1)

    def ended(self, outcome: RequestOutcome, responses: int) -> None:
        """A request's stream ended so, after ``responses`` responses with outputs."""
        with self._lock:
            counter = self._gauges.ended.get(outcome)
            if counter is not None:
                counter.increment(1)
            if self._gauges.responses is not None and responses:
                self._gauges.responses.increment(responses)

    def close(self) -> None:
        """Takes this instance's part out of the gauges (the model is unloading)."""
        with self._lock:
            self._gauges.slots.increment(-self._slots)
            self._gauges.waiting.increment(-self._waiting)
            self._gauges.running.increment(-self._running)
            self._slots = self._waiting = self._running = 0
