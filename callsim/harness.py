"""One harness for simulated calls: the settings of a call on the CPU profile, dialling the
orchestrator over a real uvicorn and WebSocket, and waiting on what it logged."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from callsim.call_record import CallRecord
from callsim.steps import Step, WaitUntil, run_steps
from callsim.twilio_dialer import CALLER_NUMBER, SIMULATED_AUTH_TOKEN, dial
from callsim.twilio_phone import SimulatedTwilioCall, serve_app
from orchestrator.settings import Settings
from serving.profiles import ORCHESTRATOR_ENV_FILES

# Orchestrator settings for simulated calls against the CPU profile: the profile's own
# (serving/cpu_orchestrator.env: prompt format, sampling, timeouts, required models), then what the
# simulation needs: greedy answers (deterministic tests) and the simulated Twilio account's token.
CPU_CALL_SETTINGS: dict[str, Any] = {
    "llm_temperature": 0.0,
    "turn_silence_timeout_ms": 120_000,
    # The simulated Twilio account signs webhooks and stream handshakes like the real one.
    "twilio_auth_token": SIMULATED_AUTH_TOKEN,
}


def cpu_call_settings(triton_url: str, recordings: Path, **overrides: Any) -> Settings:
    """Settings of an orchestrator talking to a CPU-profile tritonserver at ``triton_url``."""
    return Settings(
        _env_file=ORCHESTRATOR_ENV_FILES["cpu"],
        triton_url=triton_url,
        recordings_dir=str(recordings),
        log_json=False,
        **{**CPU_CALL_SETTINGS, **overrides},
    )


# A transfer number for simulated calls: no call is ever dialled (no Twilio account here).
SIMULATED_TRANSFER_NUMBER = "+15550100000"


def local_tool_settings(
    base_url: str, transfer_number: str = SIMULATED_TRANSFER_NUMBER
) -> dict[str, Any]:
    """The settings that point a persona's tools at a webhook service on this machine
    (``callsim.booking_service`` at ``base_url``), with a number for ``transfer_call``."""
    return {
        "tools_base_url": base_url,
        "tools_allowed_hosts": ["127.0.0.1"],
        "transfer_number": transfer_number,
    }


def new_call_sid() -> str:
    return "CA" + uuid.uuid4().hex


@contextlib.asynccontextmanager
async def dialled(
    app: Any, call_sid: str, caller: str = CALLER_NUMBER
) -> AsyncIterator[SimulatedTwilioCall]:
    """``app`` served on a free port and a simulated Twilio call from ``caller`` connected to it;
    the call is stopped (Twilio's ``stop``) on the way out unless it already ended."""
    async with serve_app(app) as base:
        phone = await dial(base, call_sid, caller=caller)
        await phone.connect()
        try:
            yield phone
        finally:
            if not phone.closed.is_set():
                await phone.stop()


async def call(
    app: Any, call_sid: str, steps: list[Step], caller: str = CALLER_NUMBER
) -> SimulatedTwilioCall:
    """A whole call from ``caller``: dial, play ``steps``, hang up."""
    async with dialled(app, call_sid, caller) as phone:
        await run_steps(phone, steps)
    return phone


def logged(
    recordings: Path, call_sid: str, kind: str, n: int = 1, timeout_ms: int = 60_000, **fields: Any
) -> WaitUntil:
    """A step: wait until the call's JSONL has ``n`` events of ``kind`` (with ``fields``)."""
    return WaitUntil(
        lambda: CallRecord.count(recordings, call_sid, kind, **fields) >= n, timeout_ms
    )


def agent_turns(recordings: Path, call_sid: str, n: int, timeout_ms: int = 60_000) -> WaitUntil:
    """A step: wait until ``n`` agent turns are committed (the greeting is the first)."""
    return logged(recordings, call_sid, "agent_turn", n, timeout_ms)
