"""perf_analyzer (the ``bench`` extra) streaming over gRPC to silero_vad, and our parser on its export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.model_perf import (
    PerfAnalyzerError,
    input_data_path,
    perf_analyzer_binary,
    run_perf_analyzer,
)
from benchmarks.perf_export import read_export
from serving.launcher import TritonServer

REQUESTS = 20


@pytest.fixture(scope="module")
def perf_analyzer() -> Path:
    try:
        return perf_analyzer_binary()
    except PerfAnalyzerError as exc:
        pytest.skip(str(exc))


def test_perf_analyzer_streams_to_silero_vad_and_export_parses(
    triton: TritonServer, perf_analyzer: Path, tmp_path: Path
) -> None:
    export = tmp_path / "silero_vad-c2.json"
    output = run_perf_analyzer(
        "silero_vad",
        triton.grpc_url,
        input_data_path("silero_vad"),
        concurrency=2,
        request_count=REQUESTS,
        export_file=export,
        timeout_s=60,
    )
    assert "Request concurrency: 2" in output

    (summary,) = read_export(export)
    assert (summary.mode, summary.value) == ("concurrency", 2.0)
    assert summary.requests >= REQUESTS and summary.failed_requests == 0
    # One response per VAD request (FINAL set on it): first response is the last one.
    assert summary.responses_per_request == 1.0
    assert summary.ttfr == summary.ttlr
    assert 0 < summary.ttfr["p50_ms"] < 1000
    assert summary.throughput_rps > 0

    # The responses are real model outputs for the checked-in speech window.
    request = json.loads(export.read_text())["experiments"][0]["requests"][0]
    (response,) = request["response_outputs"]
    assert 0.0 <= response["speech_prob"] <= 1.0
    assert len(response["next_state"]) == 320


def test_a_failing_run_raises_with_perf_analyzers_reason(
    triton: TritonServer, perf_analyzer: Path, tmp_path: Path
) -> None:
    with pytest.raises(PerfAnalyzerError, match="unknown model"):
        run_perf_analyzer(
            "no_such_model",
            triton.grpc_url,
            input_data_path("silero_vad"),
            concurrency=1,
            request_count=2,
            export_file=tmp_path / "x.json",
            timeout_s=30,
        )
