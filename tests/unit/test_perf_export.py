"""The perf_analyzer profile-export parser on a small hand-made export (numbers checkable by hand)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.perf_export import ProfileExportError, read_export, summarize_export

SAMPLE = Path(__file__).parent / "data" / "perf_export_sample.json"


@pytest.fixture
def document() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SAMPLE.read_text())
    return data


def test_one_summary_per_experiment_in_order() -> None:
    summaries = read_export(SAMPLE)
    assert [(s.mode, s.value) for s in summaries] == [("concurrency", 1.0), ("concurrency", 2.0)]


def test_first_and_last_response_latency() -> None:
    one, two = read_export(SAMPLE)
    # Answered requests' first responses came 10, 20 and 40 ms after they were sent.
    assert one.ttfr == {"n": 3, "p50_ms": 20.0, "p95_ms": 38.0, "max_ms": 40.0}
    # ... and their last responses 30, 60 and 40 ms after (a single response is first and last).
    assert one.ttlr == {"n": 3, "p50_ms": 40.0, "p95_ms": 58.0, "max_ms": 60.0}
    assert two.ttfr["p50_ms"] == 100.0 and two.ttfr["max_ms"] == 150.0
    assert two.ttlr["p50_ms"] == 300.0 and two.ttlr["max_ms"] == 400.0


def test_requests_without_responses_count_as_failed() -> None:
    one, two = read_export(SAMPLE)
    assert (one.requests, one.failed_requests, one.responses) == (3, 1, 5)
    assert (two.requests, two.failed_requests, two.responses) == (2, 0, 6)
    assert one.responses_per_request == pytest.approx(5 / 3, abs=1e-3)


def test_throughput_over_the_active_span_not_the_window() -> None:
    one, two = read_export(SAMPLE)
    # First request sent at 1.00 s, last response at 1.15 s (the 1 s window would give 3 req/s).
    assert one.span_s == pytest.approx(0.15)
    assert one.throughput_rps == pytest.approx(20.0)
    assert one.response_throughput_rps == pytest.approx(33.333, abs=1e-3)
    assert two.throughput_rps == pytest.approx(5.0)


def test_latencies_are_never_negative_and_ordered(document: dict[str, Any]) -> None:
    for summary in summarize_export(document):
        assert 0 < summary.ttfr["p50_ms"] <= summary.ttlr["p50_ms"]
        assert summary.ttfr["max_ms"] <= summary.ttlr["max_ms"]


def test_summary_is_json_ready() -> None:
    (one, _) = read_export(SAMPLE)
    assert json.loads(json.dumps(one.as_dict()))["ttfr"]["n"] == 3


@pytest.mark.parametrize(
    "breakage",
    ["no_experiments", "empty_experiments", "missing_requests", "no_responses"],
)
def test_malformed_exports_raise(document: dict[str, Any], breakage: str) -> None:
    broken = copy.deepcopy(document)
    if breakage == "no_experiments":
        del broken["experiments"]
    elif breakage == "empty_experiments":
        broken["experiments"] = []
    elif breakage == "missing_requests":
        del broken["experiments"][0]["requests"]
    else:
        for request in broken["experiments"][1]["requests"]:
            request["response_timestamps"] = []
    with pytest.raises(ProfileExportError):
        summarize_export(broken)


def test_a_truncated_file_raises(tmp_path: Path) -> None:
    cut = tmp_path / "cut.json"
    cut.write_text(SAMPLE.read_text()[:300])
    with pytest.raises(ProfileExportError, match="unreadable"):
        read_export(cut)
