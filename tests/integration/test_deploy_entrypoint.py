"""The image's entrypoint (triton/entrypoint.sh), run here with the tritonserver this machine has.

The ``all`` role as a RunPod pod runs it: tritonserver with the entrypoint's flags (so every flag is one this
tritonserver accepts), then the real orchestrator app once Triton is ready; ``health`` passes; Triton
serves its metrics; SIGTERM drains, stops both and exits 0.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from serving.gpu_memory_plan import Gpu, Refusal, plan, read_demand
from serving.launcher import free_port, locate_installation
from serving.paths import DEFAULT_CACHE_DIR, MODEL_REPOSITORY, PROJECT_ROOT

ENTRYPOINT = PROJECT_ROOT / "triton" / "entrypoint.sh"

pytestmark = pytest.mark.timeout(120)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError:
        return 0, ""


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while get(url)[0] != 200:
        assert process.poll() is None, f"entrypoint exited early:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"{url} not ready:\n{log.read_text()[-3000:]}"
        time.sleep(0.3)


def entrypoint_env(ports: dict[str, int]) -> dict[str, str]:
    installation = locate_installation()
    venv_bin = str(Path(sys.prefix) / "bin")
    return {
        **os.environ,
        **installation.env,
        "PATH": os.pathsep.join([venv_bin, os.environ.get("PATH", "")]),
        "TRITONSERVER_BIN": str(installation.binary),
        "TRITONSERVER_BACKENDS": str(installation.backends),
        "CC_ORCHESTRATOR_PYTHON": sys.executable,
        "CC_MODEL_REPOSITORY": str(MODEL_REPOSITORY),
        "CC_TRITON_MODELS": "silero_vad",
        "CC_FETCH_WEIGHTS": "0",
        "CC_TRITON_HTTP_PORT": str(ports["http"]),
        "CC_TRITON_GRPC_PORT": str(ports["grpc"]),
        "CC_TRITON_METRICS_PORT": str(ports["metrics"]),
        "CC_ORCHESTRATOR_PORT": str(ports["orchestrator"]),
        "CC_TRITON_EXIT_TIMEOUT_S": "2",
        "CC_REQUIRED_MODELS": '["silero_vad"]',
        "CC_RECORDINGS_DIR": str(DEFAULT_CACHE_DIR / "pytest-entrypoint-recordings"),
        "CC_DRAIN_POLL_S": "0.2",
        "CC_TWILIO_AUTH_TOKEN": "entrypoint-test-token",  # without it the orchestrator refuses to start
        "HF_HOME": str(DEFAULT_CACHE_DIR / "pytest-entrypoint-hf"),
    }


def test_all_role_serves_reports_health_and_stops_cleanly_on_sigterm() -> None:
    ports = {name: free_port() for name in ("http", "grpc", "metrics", "orchestrator")}
    env = entrypoint_env(ports)
    log = DEFAULT_CACHE_DIR / "triton-runs" / "pytest-entrypoint.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["bash", str(ENTRYPOINT), "all"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(f"http://127.0.0.1:{ports['orchestrator']}/readyz", process, log, 60)
        assert get(f"http://127.0.0.1:{ports['http']}/v2/health/ready")[0] == 200

        health = subprocess.run(["bash", str(ENTRYPOINT), "health"], env=env, timeout=20)
        assert health.returncode == 0

        # Triton serves per-model metrics on the metrics port (the autoscaler's backlog gauges come from
        # stt and tts, not loaded here: tests/integration/test_python_backend.py).
        _, triton_metrics = get(f"http://127.0.0.1:{ports['metrics']}/metrics")
        assert 'nv_inference_request_success{model="silero_vad"' in triton_metrics
        _, orchestrator_metrics = get(f"http://127.0.0.1:{ports['orchestrator']}/metrics")
        assert "cc_calls_active 0.0" in orchestrator_metrics

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=40) == 0, log.read_text()[-3000:]
        text = log.read_text()
        assert "drain: no live calls" in text
        assert get(f"http://127.0.0.1:{ports['http']}/v2/health/ready")[0] == 0
        assert get(f"http://127.0.0.1:{ports['orchestrator']}/healthz")[0] == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def test_a_gpu_stt_without_cublas_12_stops_the_start_with_the_reason() -> None:
    """This machine's Python has no nvidia-cublas-cu12: as an image missing it, the start must fail
    before tritonserver reports ready, not at the first caller's transcription."""
    ports = {name: free_port() for name in ("http", "grpc", "metrics", "orchestrator")}
    env = entrypoint_env(ports) | {"CC_TRITON_MODELS": "silero_vad stt"}
    env.pop("CC_MODEL_STT_DEVICE", None)  # production's default: cuda
    result = subprocess.run(
        ["bash", str(ENTRYPOINT), "triton"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "needs CUDA 12's cuBLAS" in result.stderr
    assert get(f"http://127.0.0.1:{ports['http']}/v2/health/ready")[0] == 0  # never started


# --- the GPU memory plan (serving/gpu_memory_plan.py) at start, with fakes for what needs a GPU ---------

FAKE_NVIDIA_SMI = """#!/usr/bin/env bash
# nvidia-smi as the entrypoint queries it, reporting one card: $FAKE_GPU ("name, MiB").
[ "$*" = "--query-gpu=name,memory.total --format=csv,noheader,nounits" ] || exit 2
echo "$FAKE_GPU"
"""
# Records the llm's model.json of the repository it was given, then exits.
FAKE_TRITONSERVER = """#!/usr/bin/env bash
for arg in "$@"; do
  case "$arg" in --model-repository=*) repo="${arg#*=}" ;; esac
done
echo "$repo" > "$FAKE_TRITON_SAW.repository"
cp "$repo/llm/1/model.json" "$FAKE_TRITON_SAW"
"""


def gpu_entrypoint_env(tmp_path: Path, gpu: str) -> dict[str, str]:
    """Every model (as in production), a fake nvidia-smi and tritonserver, and a stand-in for the
    image's nvidia-cublas-cu12 (the stt check would stop the start first on this machine)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("nvidia-smi", FAKE_NVIDIA_SMI), ("tritonserver", FAKE_TRITONSERVER)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    cublas = tmp_path / "site" / "nvidia" / "cublas"
    cublas.mkdir(parents=True)
    (cublas.parent / "__init__.py").write_text("")
    (cublas / "__init__.py").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CC_", "TRITONSERVER_"))}
    return env | {
        "PATH": os.pathsep.join([str(bin_dir), str(Path(sys.prefix) / "bin"), env["PATH"]]),
        "PYTHONPATH": str(tmp_path / "site"),
        "FAKE_GPU": gpu,
        "FAKE_TRITON_SAW": str(tmp_path / "triton-saw-model.json"),
        "TRITONSERVER_BIN": str(bin_dir / "tritonserver"),
        "CC_MODEL_REPOSITORY": str(MODEL_REPOSITORY),
        "CC_RUN_DIR": str(tmp_path / "run"),
        "CC_FETCH_WEIGHTS": "0",
        "CC_TRITON_HTTP_PORT": str(free_port()),
        "HF_HOME": str(tmp_path / "hf"),
    }


def test_a_40_gb_gpu_starts_triton_with_the_planned_share(tmp_path: Path) -> None:
    env = gpu_entrypoint_env(tmp_path, "NVIDIA A100-SXM4-40GB, 40960")
    before = (MODEL_REPOSITORY / "llm" / "1" / "model.json").read_text()
    result = subprocess.run(
        ["bash", str(ENTRYPOINT), "triton"], env=env, capture_output=True, text=True, timeout=60
    )
    log = result.stdout + result.stderr
    assert "gpu memory plan: NVIDIA A100-SXM4-40GB: 40.0 GiB" in log, log
    assert "gpu_memory_utilization 0.70 (planned)" in log
    saw = tmp_path / "triton-saw-model.json"
    assert saw.exists(), log  # tritonserver started ...
    assert json.loads(saw.read_text())["gpu_memory_utilization"] == 0.7  # ... with the plan's share
    repository = Path((tmp_path / "triton-saw-model.json.repository").read_text().strip())
    assert repository == tmp_path / "run" / "model_repository"
    assert (MODEL_REPOSITORY / "llm" / "1" / "model.json").read_text() == before  # untouched
    assert "a server exited (status 0)" in log  # the fake tritonserver's exit, not the plan


def test_a_24_gb_gpu_stops_the_start_naming_the_card_needed(tmp_path: Path) -> None:
    env = gpu_entrypoint_env(tmp_path, "NVIDIA A10, 23028")
    result = subprocess.run(
        ["bash", str(ENTRYPOINT), "all"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    # The figure is the plan's for this repository (its unit tests pin it); here: the start says it.
    refused = plan(Gpu(23_028), read_demand(MODEL_REPOSITORY, None, {}))
    assert isinstance(refused, Refusal)
    assert f"needs >= {math.ceil(refused.needed_gib * 10) / 10} GiB of GPU memory" in result.stderr
    assert "NVIDIA A10 has 22.5 GiB (23028 MiB)" in result.stderr
    assert not (tmp_path / "triton-saw-model.json").exists()  # tritonserver never started
    assert not (tmp_path / "run").exists()


def test_the_operator_share_overrides_the_plan(tmp_path: Path) -> None:
    env = gpu_entrypoint_env(tmp_path, "NVIDIA A10, 23028")
    env["CC_MODEL_LLM_GPU_MEMORY_UTILIZATION"] = "0.9"
    result = subprocess.run(
        ["bash", str(ENTRYPOINT), "triton"], env=env, capture_output=True, text=True, timeout=60
    )
    assert "gpu_memory_utilization 0.90 (override)" in result.stdout, result.stdout + result.stderr
    assert (
        json.loads((tmp_path / "triton-saw-model.json").read_text())["gpu_memory_utilization"]
        == 0.9
    )
