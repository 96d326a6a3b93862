"""Benchmark results as JSON under ``benchmarks/results/``, stamped with the machine and the commit."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

from serving.paths import PROJECT_ROOT

RESULTS_DIR = PROJECT_ROOT / "benchmarks" / "results"


def git_commit() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "hostname": platform.node(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def percentiles_ms(samples_s: list[float]) -> dict[str, float]:
    """p50/p95/max (and count) of durations given in seconds, in milliseconds."""
    values = np.asarray(samples_s, dtype=np.float64) * 1000.0
    return {
        "n": int(values.size),
        "p50_ms": round(float(np.percentile(values, 50)), 3),
        "p95_ms": round(float(np.percentile(values, 95)), 3),
        "max_ms": round(float(values.max()), 3),
    }


def result_document(
    name: str, profile: str, figures: dict[str, Any], commit: str | None = None
) -> dict[str, Any]:
    """The JSON document of a result; ``commit`` stands in for git's where the tree has no .git."""
    return {
        "benchmark": name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "commit": commit or git_commit(),
        "machine": machine_info(),
        "profile": profile,
        "figures": figures,
    }


def write_result(
    name: str,
    profile: str,
    figures: dict[str, Any],
    *,
    commit: str | None = None,
    results_dir: Path = RESULTS_DIR,
) -> Path:
    """Write ``results/<name>-<timestamp>.json`` and ``results/<name>-latest.json``; return the former."""
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    text = json.dumps(result_document(name, profile, figures, commit), indent=2) + "\n"
    path = results_dir / f"{name}-{stamp}.json"
    path.write_text(text)
    (results_dir / f"{name}-latest.json").write_text(text)
    return path
