"""``bash scripts/serve.sh``: tritonserver with the CPU profile and the orchestrator with the CPU
profile's settings, as a newcomer runs them for real Twilio calls. Both come up, /readyz turns 200,
a signed simulated call is answered, and Ctrl-C (SIGINT) stops both."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from callsim.call_record import CallRecord
from callsim.harness import agent_turns, new_call_sid
from callsim.steps import Say, run_steps
from callsim.twilio_dialer import SIMULATED_AUTH_TOKEN, dial
from serving.launcher import free_port
from serving.paths import PROJECT_ROOT

pytestmark = pytest.mark.timeout(900)


async def wait_ready(base: str, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    async with httpx.AsyncClient() as client, asyncio.timeout(timeout_s):
        while True:
            assert process.poll() is None, "serve.sh exited during start-up"
            try:
                if (await client.get(base + "/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(1.0)


async def test_serve_script_answers_a_signed_call(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    recordings = tmp_path / "recordings"
    env = {
        **os.environ,
        "CC_SERVE_PORT": str(port),
        "CC_SERVE_GRPC_PORT": str(free_port()),
        "CC_SERVE_HTTP_PORT": str(free_port()),
        "CC_SERVE_METRICS_PORT": str(free_port()),
        # What a newcomer puts in .env: the Twilio auth token and the tunnel's URL.
        "CC_TWILIO_AUTH_TOKEN": SIMULATED_AUTH_TOKEN,
        "CC_PUBLIC_BASE_URL": base,
        "CC_RECORDINGS_DIR": str(recordings),
        "CC_LLM_TEMPERATURE": "0",
    }
    script = PROJECT_ROOT / "scripts" / "serve.sh"
    # A process group of its own: the script, tritonserver and uvicorn are all stopped at the end.
    process = subprocess.Popen(["bash", str(script)], env=env, start_new_session=True)  # noqa: ASYNC220
    try:
        await wait_ready(base, process, timeout_s=600)
        sid = new_call_sid()
        phone = await dial(base, sid)
        await phone.connect()
        steps = [agent_turns(recordings, sid, 1), Say("What time do you open tomorrow?")]
        await run_steps(phone, [*steps, agent_turns(recordings, sid, 2, timeout_ms=120_000)])
        await phone.stop()
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C
        assert await asyncio.to_thread(process.wait, 60) is not None
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    record = CallRecord.load(recordings, sid)
    assert record.of("user_turn") and record.of("agent_turn")[1]["text"]
