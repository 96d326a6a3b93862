"""Summaries of perf_analyzer's ``--profile-export-file`` (pure: no server, no perf_analyzer).

The export (perf_analyzer 2.51) is one JSON object::

    {"version": "2.51.0", "service_kind": "triton", "endpoint": "",
     "experiments": [
        {"experiment": {"mode": "concurrency", "value": 2},
         "window_boundaries": [t0_ns, t1_ns, ...],
         "requests": [{"timestamp": ns, "response_timestamps": [ns, ...],
                       "request_inputs": {...}, "response_outputs": [{...}, ...]}, ...]}]}

Timestamps are nanoseconds on the client's clock. For each request, time to first response (TTFR) is
``response_timestamps[0] - timestamp`` and time to last response (TTLR) is
``response_timestamps[-1] - timestamp``; a decoupled model's empty FINAL-flag-only response, where it
gets a timestamp, therefore counts in TTLR and in the response count (it carries no output). Throughput
is completed requests (and responses) per second over the active span: first request sent to last
response received (at concurrency C the run keeps C requests in flight throughout, bar its last round).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.results_file import percentiles_ms

NS_PER_S = 1e9


class ProfileExportError(ValueError):
    """The file is not a perf_analyzer profile export this parser understands."""


@dataclass(frozen=True)
class ExperimentSummary:
    """One experiment (one concurrency level) of one model's export."""

    mode: str  # "concurrency" or "request_rate"
    value: float  # the concurrency (or request rate)
    requests: int  # requests with at least one response
    failed_requests: int  # requests without any response (errors)
    responses: int
    span_s: float  # first request sent -> last response received
    throughput_rps: float  # completed requests per second
    response_throughput_rps: float  # responses per second
    responses_per_request: float
    ttfr: dict[str, float]  # percentiles_ms: n, p50_ms, p95_ms, max_ms
    ttlr: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _active_span_s(requests: list[dict[str, Any]]) -> float:
    """From the first request sent to the last response received, in seconds.

    Not ``window_boundaries``: with ``--request-count`` perf_analyzer closes its window on a 1 s poll,
    so 40 VAD requests done in 45 ms would read as 40 requests per second.
    """
    start = min(r["timestamp"] for r in requests)
    end = max(r["response_timestamps"][-1] for r in requests)
    return max(0.0, float(end - start) / NS_PER_S)


def summarize_experiment(experiment: dict[str, Any]) -> ExperimentSummary:
    """TTFR/TTLR percentiles and throughput of one entry of ``experiments``."""
    try:
        header = experiment["experiment"]
        requests = experiment["requests"]
        mode, value = str(header["mode"]), float(header["value"])
    except (KeyError, TypeError) as exc:
        raise ProfileExportError(f"not a perf_analyzer experiment: missing {exc}") from exc
    answered = [r for r in requests if r.get("response_timestamps")]
    if not answered:
        raise ProfileExportError(f"{mode} {value:g}: no request got a response")
    ttfr_s = [(r["response_timestamps"][0] - r["timestamp"]) / NS_PER_S for r in answered]
    ttlr_s = [(r["response_timestamps"][-1] - r["timestamp"]) / NS_PER_S for r in answered]
    responses = sum(len(r["response_timestamps"]) for r in answered)
    span_s = _active_span_s(answered)
    return ExperimentSummary(
        mode=mode,
        value=value,
        requests=len(answered),
        failed_requests=len(requests) - len(answered),
        responses=responses,
        span_s=round(span_s, 4),
        throughput_rps=round(len(answered) / span_s, 3) if span_s else 0.0,
        response_throughput_rps=round(responses / span_s, 3) if span_s else 0.0,
        responses_per_request=round(responses / len(answered), 3),
        ttfr=percentiles_ms(ttfr_s),
        ttlr=percentiles_ms(ttlr_s),
    )


def summarize_export(document: dict[str, Any]) -> list[ExperimentSummary]:
    """One summary per experiment, in the export's order."""
    experiments = document.get("experiments")
    if not isinstance(experiments, list) or not experiments:
        raise ProfileExportError("no 'experiments' in the profile export")
    return [summarize_experiment(e) for e in experiments]


def read_export(path: Path) -> list[ExperimentSummary]:
    """Summaries of the profile export at ``path``."""
    try:
        with path.open() as handle:
            document = json.load(handle)
    except json.JSONDecodeError as exc:  # seen once: an export cut short at 640 KiB
        raise ProfileExportError(f"{path}: unreadable profile export ({exc})") from exc
    if not isinstance(document, dict):
        raise ProfileExportError(f"{path}: not a JSON object")
    return summarize_export(document)
