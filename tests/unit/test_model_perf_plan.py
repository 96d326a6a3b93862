"""benchmarks.model_perf without a server: request counts, the perf_analyzer environment, the plot."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import pytest

from benchmarks.model_perf import PLANS, ModelPlan, input_data_path, perf_analyzer_env, plot
from benchmarks.perf_export import read_export

SAMPLE = Path(__file__).parent / "data" / "perf_export_sample.json"


def test_every_model_has_a_plan_and_checked_in_input_data() -> None:
    for model in ("silero_vad", "stt", "tts", "llm"):
        assert model in PLANS
        assert input_data_path(model).is_file()


def test_request_count_keeps_two_rounds_at_high_concurrency() -> None:
    plan = ModelPlan(requests=16, quick_requests=4)
    assert plan.count(1, quick=False) == 16
    assert plan.count(2, quick=True) == 4
    assert plan.count(16, quick=False) == 32


def test_perf_analyzer_env_puts_libcudart_on_the_library_path() -> None:
    if importlib.util.find_spec("nvidia.cuda_runtime") is None:
        pytest.skip("nvidia-cuda-runtime-cu12 (extra 'bench') not installed")
    first = Path(perf_analyzer_env()["LD_LIBRARY_PATH"].split(os.pathsep)[0])
    assert (first / "libcudart.so.12").exists()


def test_plot_writes_a_png(tmp_path: Path) -> None:
    levels = {str(int(s.value)): s.as_dict() for s in read_export(SAMPLE)}
    models: dict[str, dict[str, Any]] = {
        "tts": {"concurrency": levels},
        "stt": {"error": "failed to load"},
    }
    path = plot(models, tmp_path / "plot.png")
    assert path is not None and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_plot_without_measurements(tmp_path: Path) -> None:
    assert plot({"stt": {"error": "failed to load"}}, tmp_path / "plot.png") is None
