"""triton/smoke_test.sh, as a user runs it in a started pod, against the CPU profile here: the real
tritonserver (every model) and the orchestrator served over HTTP and WebSocket. It must pass and report
each check with its latency; with the models out of its reach it must fail and name those checks."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import pytest

from callsim.harness import cpu_call_settings
from callsim.twilio_dialer import SIMULATED_AUTH_TOKEN
from callsim.twilio_phone import serve_app
from orchestrator.app import conversation_app
from serving.launcher import TritonServer, free_port
from serving.paths import PROJECT_ROOT
from serving.profiles import ORCHESTRATOR_ENV_FILES

SCRIPT = PROJECT_ROOT / "triton" / "smoke_test.sh"
CHECK_LINE = re.compile(r"^(ok|FAILED)\s+(\w+)\s+(\d+) ms", re.MULTILINE)

pytestmark = pytest.mark.timeout(600)


async def run_smoke_test(
    triton: TritonServer, recordings: Path, triton_url: str | None = None, timeout_s: float = 120
) -> tuple[int, str]:
    settings = cpu_call_settings(triton.grpc_url, recordings)
    async with serve_app(conversation_app(settings)) as base:
        env = {
            **os.environ,
            "CC_ORCHESTRATOR_PYTHON": sys.executable,
            "CC_SETTINGS_FILE": str(ORCHESTRATOR_ENV_FILES["cpu"]),
            "CC_TRITON_URL": triton_url or triton.grpc_url,
            "CC_PUBLIC_BASE_URL": base,
            "CC_TWILIO_AUTH_TOKEN": SIMULATED_AUTH_TOKEN,
        }
        process = await asyncio.create_subprocess_exec(
            "bash",
            str(SCRIPT),
            "--timeout-s",
            str(timeout_s),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
        )
        output, _ = await process.communicate()
    return process.returncode or 0, output.decode()


async def test_the_smoke_test_passes_every_check_on_a_working_deployment(
    triton: TritonServer, tmp_path: Path
) -> None:
    code, output = await run_smoke_test(triton, tmp_path)
    assert code == 0, output
    checks = {name: status for status, name, _ in CHECK_LINE.findall(output)}
    assert checks == dict.fromkeys(["readiness", "tts", "stt", "llm", "call"], "ok"), output
    assert "smoke test: passed" in output
    assert re.search(r"heard '.*open.*'", output, re.IGNORECASE), output  # Piper -> Whisper


async def test_the_smoke_test_fails_and_names_the_checks_that_broke(
    triton: TritonServer, tmp_path: Path
) -> None:
    """Models unreachable from the smoke test (nothing listens there), while the orchestrator still
    reaches them: each model check fails by name and the next one still runs; the call hears the
    greeting, but with no caller speech from the tts check it gets no reply; the exit status is 1."""
    code, output = await run_smoke_test(
        triton, tmp_path, triton_url=f"127.0.0.1:{free_port()}", timeout_s=10
    )
    assert code == 1, output
    checks = {name: status for status, name, _ in CHECK_LINE.findall(output)}
    assert checks == {
        "readiness": "FAILED",
        "tts": "FAILED",
        "stt": "FAILED",
        "llm": "FAILED",
        "call": "FAILED",
    }, output
    assert "waiting for the reply" in output  # the greeting came
    assert "smoke test: FAILED" in output
