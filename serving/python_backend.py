"""What our Python-backend ``model.py`` files share. Imported only inside Triton's stub (it needs
``triton_python_backend_utils``), so it holds no logic worth a unit test: that lives in the engines and in
serving/request_backlog.py.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import triton_python_backend_utils as pb_utils

from serving.request_backlog import (
    BACKLOG_METRICS,
    ENDED_METRIC,
    RESPONSES_METRIC,
    BacklogGauges,
    RequestBacklog,
    RequestOutcome,
)

FINAL = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL


def error_response(model: str, message: str, code: Any = None) -> Any:
    """An error response; INVALID_ARG unless ``code`` says otherwise."""
    # pb_utils.TritonError exists only once the stub runs the model, not at import: no default arg.
    code = pb_utils.TritonError.INVALID_ARG if code is None else code
    return pb_utils.InferenceResponse(error=pb_utils.TritonError(f"{model}: {message}", code))


class RequestThreads:
    """Runs each request of a decoupled model on a pool thread, so a long request holds up neither
    the others nor cancellation checks; a failure still ends the request's stream with FINAL.

    ``execute`` returns at once, so Triton's queue metrics never see a request wait here for a thread;
    the pool's backlog is exported instead, as ``cc_model_requests_waiting``, ``cc_model_requests_running``
    and ``cc_model_request_slots`` (= ``workers``) with the label ``model``."""

    def __init__(self, model: str, workers: int) -> None:
        self._model = model
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=model)
        self._families = {
            key: pb_utils.MetricFamily(
                name=name, description=description, kind=pb_utils.MetricFamily.GAUGE
            )
            for key, (name, description) in BACKLOG_METRICS.items()
        }
        counters = {
            key: pb_utils.MetricFamily(
                name=name, description=description, kind=pb_utils.MetricFamily.COUNTER
            )
            for key, (name, description) in (
                ("ended", ENDED_METRIC),
                ("responses", RESPONSES_METRIC),
            )
        }
        gauges = BacklogGauges(
            **{
                key: family.Metric(labels={"model": model})
                for key, family in self._families.items()
            },
            ended={
                outcome: counters["ended"].Metric(labels={"model": model, "outcome": outcome.value})
                for outcome in RequestOutcome
            },
            responses=counters["responses"].Metric(labels={"model": model}),
        )
        self._families |= counters
        self._backlog = RequestBacklog(gauges, workers)

    def submit(self, requests: list[Any], serve: Callable[[Any, Any], None]) -> None:
        """``serve(request, response_sender)`` for each request, on the pool."""
        for request in requests:
            self._backlog.accepted()
            self._pool.submit(self._run, request, serve)

    def shutdown(self) -> None:
        """Waits for the requests in flight: each ends its stream before the model goes."""
        self._pool.shutdown(wait=True)
        self._backlog.close()
        # The stub wants each Metric deleted before its MetricFamily; the backlog holds the Metrics.
        del self._backlog
        self._families.clear()

    def _run(self, request: Any, serve: Callable[[Any, Any], None]) -> None:
        with self._backlog.serving():
            sender = ObservedSender(request.get_response_sender())
            try:
                serve(request, sender)
            except Exception as exc:  # an engine failure must still end the stream
                pb_utils.Logger.log_error(
                    f"{self._model}: request {request.request_id()!r} failed: {exc!r}"
                )
                code = pb_utils.TritonError.INTERNAL
                sender.send(
                    error_response(self._model, f"internal error: {exc}", code), flags=FINAL
                )
            self._backlog.ended(sender.outcome or RequestOutcome.FAILED, sender.responses)


class ObservedSender:
    """A request's response sender that notes what went through it: the responses with outputs, and
    how the stream ended (its FINAL response), for the model's metrics."""

    def __init__(self, sender: Any) -> None:
        self._sender = sender
        self.responses = 0
        self.outcome: RequestOutcome | None = None

    def send(self, response: Any = None, flags: int = 0) -> None:
        self._sender.send(response, flags=flags)
        failed = response is not None and response.has_error()
        if response is not None and not failed:
            self.responses += 1
        if flags & FINAL:
            self.outcome = _outcome(response.error().code()) if failed else RequestOutcome.COMPLETED

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sender, name)


def _outcome(code: Any) -> RequestOutcome:
    if code == pb_utils.TritonError.CANCELLED:
        return RequestOutcome.CANCELLED
    if code == pb_utils.TritonError.INVALID_ARG:
        return RequestOutcome.INVALID
    return RequestOutcome.FAILED
