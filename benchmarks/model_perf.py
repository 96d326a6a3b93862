"""perf_analyzer against each Triton model, streaming over gRPC: first/last-response latency, throughput.

    python -m benchmarks.model_perf [--models silero_vad stt tts llm turn_detector] [--concurrency 1 2 4] [--quick]

Starts one tritonserver with the CPU profile (serving/profiles.py) serving the chosen models, then runs
``perf_analyzer -i grpc --streaming`` once per model and concurrency level, with a fixed request count
(no stability search: on a shared CPU it may never settle) and the model's checked-in input data
(benchmarks/perf_analyzer/<model>.json, see make_inputs.py there). Each run's ``--profile-export-file``
(under .cache/model-perf/, overwritten) is summarised by benchmarks/perf_export.py: time to first
response (TTFR), time to last response (TTLR) and requests per second. Writes
``benchmarks/results/model_perf-*.json`` and the plot ``benchmarks/results/model_perf-latest.png``.

perf_analyzer is the binary of ``tritonclient[all]==2.51.0`` (the ``bench`` extra); it links
``libcudart.so.12`` even when it talks gRPC only, which ``nvidia-cuda-runtime-cu12`` provides (put on
``LD_LIBRARY_PATH`` here), and ``libb64.so.0d`` (Debian ``libb64-0d``, installed by scripts/bootstrap.sh).

A model that fails to load, or whose perf_analyzer run fails, is reported as such in the results and
the others are still measured.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.perf_analyzer.make_inputs import INPUTS_DIR
from benchmarks.perf_export import ExperimentSummary, ProfileExportError, read_export
from benchmarks.results_file import RESULTS_DIR, write_result
from serving.launcher import TritonLaunchError, TritonServer
from serving.paths import DEFAULT_CACHE_DIR, MODEL_REPOSITORY, PROJECT_ROOT
from serving.profiles import build_profile, server_options

MODEL_REPOSITORY = MODEL_REPOSITORY
EXPORT_DIR = DEFAULT_CACHE_DIR / "model-perf"
PLOT_PATH = RESULTS_DIR / "model_perf-latest.png"
PERF_ANALYZER_TIMEOUT_S = 240.0


@dataclass(frozen=True)
class ModelPlan:
    """How many requests one perf_analyzer run sends to a model (per concurrency level)."""

    requests: int  # full run
    quick_requests: int  # --quick

    def count(self, concurrency: int, quick: bool) -> int:
        base = self.quick_requests if quick else self.requests
        return max(base, 2 * concurrency)


# Sized so that a full run (1, 2, 4 concurrent) stays within a few minutes on two shared cores.
PLANS: dict[str, ModelPlan] = {
    "silero_vad": ModelPlan(requests=400, quick_requests=40),
    "stt": ModelPlan(requests=24, quick_requests=4),
    "tts": ModelPlan(requests=24, quick_requests=4),
    "llm": ModelPlan(requests=8, quick_requests=4),
    "turn_detector": ModelPlan(requests=100, quick_requests=10),
}


class PerfAnalyzerError(RuntimeError):
    """perf_analyzer is missing, or a run of it failed (the message holds its output's tail)."""


def perf_analyzer_binary() -> Path:
    """The perf_analyzer beside this interpreter (the venv's, from tritonclient[all]) or on PATH."""
    beside = Path(sys.executable).parent / "perf_analyzer"
    if beside.exists():
        return beside
    found = shutil.which("perf_analyzer")
    if found:
        return Path(found)
    raise PerfAnalyzerError(
        "perf_analyzer not found: install the 'bench' extra (pip install -e '.[bench]')"
    )


def perf_analyzer_env() -> dict[str, str]:
    """The environment perf_analyzer needs: libcudart.so.12 of nvidia-cuda-runtime-cu12 on the path."""
    env = dict(os.environ)
    spec = importlib.util.find_spec("nvidia.cuda_runtime")
    if spec is not None and spec.submodule_search_locations:
        lib = Path(next(iter(spec.submodule_search_locations))) / "lib"
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            p for p in (str(lib), os.environ.get("LD_LIBRARY_PATH", "")) if p
        )
    return env


def perf_analyzer_version() -> str:
    result = subprocess.run(
        [str(perf_analyzer_binary()), "--version"],
        env=perf_analyzer_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    match = re.search(r"Version (\S+)", result.stdout + result.stderr)
    return match.group(1) if match else "unknown"


def run_perf_analyzer(
    model: str,
    grpc_url: str,
    input_data: Path,
    concurrency: int,
    request_count: int,
    export_file: Path | None,
    timeout_s: float = PERF_ANALYZER_TIMEOUT_S,
) -> str:
    """One streaming gRPC perf_analyzer run at one concurrency; return its console output.

    ``--request-count`` fixes the number of requests (perf_analyzer then skips its stability search,
    which a shared CPU may never pass). Raises :class:`PerfAnalyzerError` if it fails or times out.
    """
    command = [
        str(perf_analyzer_binary()),
        "-m",
        model,
        "-u",
        grpc_url,
        "-i",
        "grpc",
        "--streaming",
        f"--concurrency-range={concurrency}:{concurrency}:1",
        f"--request-count={request_count}",
        f"--input-data={input_data}",
    ]
    if export_file is not None:
        export_file.parent.mkdir(parents=True, exist_ok=True)
        export_file.unlink(missing_ok=True)
        command.append(f"--profile-export-file={export_file}")
    try:
        result = subprocess.run(
            command,
            env=perf_analyzer_env(),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise PerfAnalyzerError(
            f"perf_analyzer on {model} timed out after {timeout_s:.0f} s"
        ) from exc
    output = result.stdout + result.stderr
    if result.returncode != 0 or (export_file is not None and not export_file.exists()):
        tail = "\n".join(output.strip().splitlines()[-15:])
        raise PerfAnalyzerError(
            f"perf_analyzer on {model} (concurrency {concurrency}) exited {result.returncode}:\n{tail}"
        )
    return output


def input_data_path(model: str) -> Path:
    return INPUTS_DIR / f"{model}.json"


def start_server(models: Sequence[str]) -> tuple[TritonServer | None, dict[str, str]]:
    """A ready server for as many of ``models`` as load; and {model: why it failed to load}."""
    profile = build_profile("cpu", DEFAULT_CACHE_DIR)
    wanted = list(models)
    failed: dict[str, str] = {}
    while wanted:
        server = TritonServer(server_options(profile, MODEL_REPOSITORY, models=wanted))
        try:
            server.start()
            return server, failed
        except TritonLaunchError as exc:
            reasons = {}
            for line in server.load_failures():
                match = re.search(r"failed to load '([^']+)'", line)
                if match and match.group(1) in wanted:
                    reasons[match.group(1)] = line
            if not reasons:
                raise
            failed.update(reasons)
            wanted = [m for m in wanted if m not in reasons]
            print(
                f"failed to load {', '.join(reasons)}; starting without: {exc.__class__.__name__}"
            )
    return None, failed


def _session_members(session_id: int) -> list[int]:
    """Process ids in session ``session_id`` (the launcher starts tritonserver as a session leader)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp session ...": comm may hold spaces, so split after ")".
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[3]) == session_id:
            members.append(int(entry.name))
    return members


def stop_server(server: TritonServer) -> None:
    """Stop the server, then kill what it left behind in its session.

    vLLM's engine processes (``VLLM::EngineCore``, ``VLLM::Worker``) can outlive tritonserver when its
    exit timeout (5 s) ends the llm stub before the engine has shut down; orphaned, each holds ~2 GB.
    """
    session_id = server.pid
    server.stop()
    if session_id is None:
        return
    leftovers = _session_members(session_id)
    for pid in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if leftovers:
        print(f"killed {len(leftovers)} process(es) tritonserver left behind: {leftovers}")


def _measure_level(
    model: str, grpc_url: str, input_data: Path, concurrency: int, count: int, export: Path
) -> ExperimentSummary:
    """One perf_analyzer run and its summary; run again once if the export cannot be read."""
    for attempt in (1, 2):
        run_perf_analyzer(model, grpc_url, input_data, concurrency, count, export)
        try:
            (summary,) = read_export(export)
            return summary
        except ProfileExportError as exc:
            if attempt == 2:
                raise
            print(f"{model} at concurrency {concurrency}: {exc}; running it again", flush=True)
    raise AssertionError("unreachable")


def measure_model(
    model: str, grpc_url: str, concurrencies: Sequence[int], quick: bool
) -> dict[str, Any]:
    """Warm up, then one perf_analyzer run per concurrency; the model's figures for the results."""
    plan = PLANS.get(model, ModelPlan(requests=16, quick_requests=4))
    input_data = input_data_path(model)
    figures: dict[str, Any] = {
        "input_data": str(input_data.relative_to(PROJECT_ROOT)),
        "concurrency": {},
    }
    # Warm-up (first requests load lazily initialised state), not recorded.
    warm = max(concurrencies)
    run_perf_analyzer(model, grpc_url, input_data, warm, 2 * warm, export_file=None)
    for concurrency in concurrencies:
        count = plan.count(concurrency, quick)
        export = EXPORT_DIR / f"{model}-c{concurrency}.json"
        started = time.perf_counter()
        try:
            summary = _measure_level(model, grpc_url, input_data, concurrency, count, export)
        except (PerfAnalyzerError, ProfileExportError) as exc:  # keep the other levels
            figures.setdefault("errors", {})[str(concurrency)] = str(exc)
            print(f"{model} at concurrency {concurrency}: FAILED: {exc}", flush=True)
            continue
        figures["concurrency"][str(concurrency)] = summary.as_dict()
        print(_row(model, concurrency, summary, time.perf_counter() - started), flush=True)
    return figures


HEADER = (
    f"{'model':<11}{'conc':>5}{'reqs':>6}{'TTFR p50':>10}{'p95 ms':>9}"
    f"{'TTLR p50':>10}{'p95 ms':>9}{'req/s':>9}{'resp/s':>9}{'resp/req':>9}{'run s':>7}"
)


def _row(model: str, concurrency: int, s: ExperimentSummary, run_s: float) -> str:
    return (
        f"{model:<11}{concurrency:>5}{s.requests:>6}{s.ttfr['p50_ms']:>10.1f}{s.ttfr['p95_ms']:>9.1f}"
        f"{s.ttlr['p50_ms']:>10.1f}{s.ttlr['p95_ms']:>9.1f}{s.throughput_rps:>9.2f}"
        f"{s.response_throughput_rps:>9.1f}{s.responses_per_request:>9.1f}{run_s:>7.1f}"
    )


def plot(models: dict[str, dict[str, Any]], path: Path) -> Path | None:
    """First-response latency (p50 solid, p95 dashed) and throughput vs concurrency, per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = {m: f["concurrency"] for m, f in models.items() if f.get("concurrency")}
    if not measured:
        return None
    fig, (latency_ax, rate_ax) = plt.subplots(1, 2, figsize=(11, 4.2))
    for model, levels in measured.items():
        xs = [int(c) for c in levels]
        p50 = [levels[c]["ttfr"]["p50_ms"] for c in levels]
        p95 = [levels[c]["ttfr"]["p95_ms"] for c in levels]
        (line,) = latency_ax.plot(xs, p50, marker="o", label=model)
        latency_ax.plot(xs, p95, marker="x", linestyle="--", color=line.get_color())
        rate_ax.plot(xs, [levels[c]["throughput_rps"] for c in levels], marker="o", label=model)
    all_levels = sorted({int(c) for levels in measured.values() for c in levels})
    for ax in (latency_ax, rate_ax):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(all_levels, [str(c) for c in all_levels])
        ax.set_xlabel("concurrent streaming requests")
        ax.grid(True, which="both", alpha=0.3)
    latency_ax.set_ylabel("time to first response, ms")
    latency_ax.set_title("Time to first response: p50 (solid), p95 (dashed)", fontsize=10)
    latency_ax.legend(fontsize=7)
    rate_ax.set_ylabel("completed requests / s")
    rate_ax.set_title("Throughput", fontsize=10)
    rate_ax.legend(fontsize=7)
    fig.suptitle("Triton models, CPU profile: perf_analyzer, gRPC streaming", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(PLANS), help="default: all four")
    parser.add_argument("--concurrency", type=int, nargs="+", help="default 1 2 4 (--quick: 1 2)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: few requests, 1 and 2")
    args = parser.parse_args(argv)
    concurrencies = args.concurrency or ([1, 2] if args.quick else [1, 2, 4])
    unknown = [m for m in args.models if not (MODEL_REPOSITORY / m / "config.pbtxt").exists()]
    if unknown:
        parser.error(f"not in {MODEL_REPOSITORY}: {unknown}")
    missing = [m for m in args.models if not input_data_path(m).exists()]
    if missing:
        parser.error(f"no input data for {missing} in {INPUTS_DIR}")

    started = time.perf_counter()
    models: dict[str, dict[str, Any]] = {}
    server, failed = start_server(args.models)
    for model, reason in failed.items():
        models[model] = {"error": f"failed to load: {reason}"}
    try:
        if server is not None:
            print(f"Triton ready on {server.grpc_url} ({time.perf_counter() - started:.1f} s)")
            print(HEADER)
            for model in args.models:
                if model in failed:
                    continue
                try:
                    models[model] = measure_model(model, server.grpc_url, concurrencies, args.quick)
                except (PerfAnalyzerError, ProfileExportError) as exc:
                    models[model] = {"error": str(exc)}
                    print(f"{model}: FAILED: {exc}", flush=True)
    finally:
        if server is not None:
            stop_server(server)

    figures: dict[str, Any] = {
        "tool": f"perf_analyzer {perf_analyzer_version()}, -i grpc --streaming, --request-count",
        "quick": args.quick,
        "concurrency": concurrencies,
        "models": {m: models[m] for m in args.models if m in models},
        "run_s": round(time.perf_counter() - started, 1),
    }
    plot_path = plot(figures["models"], PLOT_PATH)
    if plot_path is not None:
        figures["plot"] = str(plot_path.relative_to(PROJECT_ROOT))
    path = write_result("model_perf", "cpu", figures)
    for model, result in figures["models"].items():
        if "error" in result:
            print(f"{model}: {result['error'].splitlines()[0]}")
        for concurrency, error in result.get("errors", {}).items():
            print(f"{model} at concurrency {concurrency}: {error.splitlines()[0]}")
    print(f"results: {path}" + (f"\nplot: {plot_path}" if plot_path else ""))
    print(f"total {figures['run_s']:.0f} s")


if __name__ == "__main__":
    main()
