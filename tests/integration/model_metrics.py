"""Reading a model's own metrics off Triton's metrics port: how its requests ended
(``cc_model_requests_ended{model,outcome}``), the responses it sent, the tokens it generated. What
the tests prove server-side cancellation with, instead of the server's log."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families


def model_series(metrics_url: str, model: str) -> dict[tuple[str, str], float]:
    """Every ``cc_model_*`` series of ``model``, keyed by (name, outcome label or "")."""
    with urllib.request.urlopen(metrics_url, timeout=5) as response:
        text = response.read().decode()
    found: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for series in family.samples:
            if series.name.startswith("cc_model_") and series.labels.get("model") == model:
                # The parser names a counter's samples <name>_total; callers use the metric's name.
                name = series.name.removesuffix("_total")
                found[(name, series.labels.get("outcome", ""))] = series.value
    return found


def ended(metrics_url: str, model: str, outcome: str) -> float:
    return model_series(metrics_url, model).get(("cc_model_requests_ended", outcome), 0.0)


def counter(metrics_url: str, model: str, name: str) -> float:
    return model_series(metrics_url, model).get((name, ""), 0.0)


def wait_for(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Until ``condition()`` (a metric the server updates as the request ends), or fail."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"not so after {timeout_s} s"
        time.sleep(0.02)  # between scrapes: the condition itself is what is waited for
