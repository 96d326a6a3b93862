"""The image's entrypoint (triton/entrypoint.sh), run here with the tritonserver this machine has.

The ``all`` role as a RunPod pod runs it: tritonserver with the entrypoint's flags (so every flag is one this
tritonserver accepts), then the real orchestrator app once Triton is ready; ``health`` passes; Triton's
metrics carry what the autoscaler's adapter rules read; SIGTERM drains, stops both and exits 0.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

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

        # What deploy/k8s/prometheus-adapter-rules.yaml reads is there (per model, per pod).
        _, triton_metrics = get(f"http://127.0.0.1:{ports['metrics']}/metrics")
        for name in ("nv_inference_pending_request_count", "nv_inference_queue_duration_us"):
            assert f'{name}{{model="silero_vad"' in triton_metrics, name
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
