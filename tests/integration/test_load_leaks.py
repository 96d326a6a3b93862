"""A bounded run of the load-and-leaks benchmark (benchmarks/load_leaks.py): a few sequential and
concurrent calls against the fault tritonserver (no faults on), with zero leaks and every recording
valid. The full run (100 + 10 calls, CPU profile) is ``python -m benchmarks.load_leaks``."""

from __future__ import annotations

from pathlib import Path

from fault_triton import FaultTriton

from benchmarks.load_leaks import run_load
from callsim.harness import cpu_call_settings


async def test_a_few_calls_leak_nothing(fault_triton: FaultTriton, tmp_path: Path) -> None:
    fault_triton.set_faults()
    settings = cpu_call_settings(fault_triton.server.grpc_url, tmp_path / "recordings")
    report = await run_load(
        settings,
        sequential=3,
        concurrent=3,
        turn_every=2,
        metrics_url=fault_triton.server.metrics_url,
    )
    figures = report.figures()
    assert report.failed_calls == [], report.failed_calls
    assert report.bad_recordings == {}, report.bad_recordings
    assert figures["recordings_verified"] == 6
    leaks = report.leaks()
    assert leaks["asyncio_tasks"] <= 0, figures
    assert leaks["open_fds"] <= 0, figures
    assert leaks["triton_pending_requests"] == 0 and leaks["call_tasks_left"] == 0, figures
