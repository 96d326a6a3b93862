"""SIGTERM to an orchestrator process (uvicorn in a subprocess, as deployed) with calls in flight:
it refuses new calls politely while draining, lets a call that ends by itself finish, closes the one
still open after ``shutdown_drain_s``, and every recording is complete before the process exits."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from call_checks import assert_recording_complete
from fault_triton import FaultTriton
from twilio.request_validator import RequestValidator

from callsim.harness import logged
from callsim.steps import Say, Silence, run_steps
from callsim.twilio_dialer import dial
from serving.launcher import free_port
from serving.paths import PROJECT_ROOT

TOKEN = "12345678901234567890123456789012"


async def wait_healthy(base: str, process: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            assert process.poll() is None, "the orchestrator exited during start-up"
            try:
                if (await client.get(base + "/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the orchestrator never became healthy")


async def test_sigterm_drains_calls_and_completes_recordings(
    fault_triton: FaultTriton, tmp_path: Path
) -> None:
    fault_triton.set_faults()
    recordings = tmp_path / "recordings"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "CC_TRITON_URL": fault_triton.server.grpc_url,
        "CC_RECORDINGS_DIR": str(recordings),
        "CC_SHUTDOWN_DRAIN_S": "4",
        "CC_TWILIO_AUTH_TOKEN": TOKEN,
        "CC_PUBLIC_BASE_URL": base,
        "CC_LOG_JSON": "false",
    }
    command = [sys.executable, "-m", "uvicorn", "--factory", "orchestrator.app:app_from_env"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, env=env, cwd=PROJECT_ROOT)  # noqa: ASYNC220 - a test harness
    try:
        await wait_healthy(base, process)
        ending = await dial(base, "CA" + "e1" * 16, auth_token=TOKEN)
        open_call = await dial(base, "CA" + "e2" * 16, auth_token=TOKEN)
        for phone in (ending, open_call):
            await phone.connect()
        keep_talking = asyncio.create_task(run_steps(open_call, [Silence(20_000)]))
        await run_steps(
            ending,
            [logged(recordings, ending.call_sid, "agent_turn"), Say("What time do you open?")],
        )
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        await run_steps(ending, [Silence(500)])

        # Draining: a new call is told so and hung up; the server is still there for it.
        form = {"CallSid": "CA" + "e3" * 16, "From": "+15551230000", "To": "+15559870000"}
        signature = RequestValidator(TOKEN).compute_signature(base + "/twilio/voice", form)
        async with httpx.AsyncClient() as client:
            refused = await client.post(
                base + "/twilio/voice", data=form, headers={"X-Twilio-Signature": signature}
            )
        assert "<Hangup" in refused.text and "<Connect" not in refused.text, refused.text

        await ending.stop()  # this call ends by itself during the drain
        exit_code = await asyncio.to_thread(process.wait, 30)
        waited = time.monotonic() - signalled
        keep_talking.cancel()
        await asyncio.gather(keep_talking, return_exceptions=True)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert exit_code in (0, -signal.SIGTERM), exit_code
    assert 3.0 < waited < 20.0, waited  # the open call held the drain until its bound (4 s)
    ended = assert_recording_complete(recordings, ending.call_sid)
    assert ended.of("end")[0]["reason"] == "stopped"
    closed = assert_recording_complete(recordings, open_call.call_sid)
    assert closed.of("end")[0]["reason"] in ("disconnected", "hung_up")
    assert open_call.closed.is_set()
