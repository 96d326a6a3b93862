"""Faults during a call, injected into a real tritonserver and a real WebSocket: the caller hears the
pre-synthesised apology and the call goes on (or ends cleanly), and the call's files stay valid.

Triton is tests/integration/fault_triton.py's: real VAD and STT, test-only LLM and TTS whose faults
are switched per test (raise mid-stream, hang). Each test asserts the recording is complete
(``assert_recording_complete``) and that no task of the call outlives it.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from call_checks import assert_recording_complete, call_tasks, wait_for
from fault_triton import FaultTriton
from model_metrics import ended, model_series

from callsim.call_record import CallRecord
from callsim.harness import cpu_call_settings, logged
from callsim.steps import Say, Silence, WaitForAgent, WaitUntil, run_steps
from callsim.twilio_dialer import dial
from callsim.twilio_phone import SimulatedTwilioCall, serve_app
from orchestrator.app import conversation_app

ANSWER_START = "We open at nine"  # the test-only LLM's answer


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    return tmp_path / "recordings"


async def phone_for(base: str, sid: str) -> SimulatedTwilioCall:
    return await dial(base, sid)


async def say_until_heard(phone: SimulatedTwilioCall, text: str, done: WaitUntil) -> None:
    """Say ``text`` until the orchestrator commits it (VAD reconnects with a backoff after a restart)."""
    for _ in range(4):
        await run_steps(phone, [Say(text), WaitUntil(done.done, timeout_ms=8000)])
        if done.done():
            return
    raise AssertionError(f"{text!r} was never heard")


async def test_triton_killed_mid_reply_apology_then_recovers(
    fault_triton: FaultTriton, recordings: Path
) -> None:
    """tritonserver is killed while the LLM is generating: the apology (synthesised before) plays;
    Triton restarts on the same ports and the next turn is answered."""
    fault_triton.set_faults(llm_first_token_delay_s=4)
    settings = cpu_call_settings(fault_triton.server.grpc_url, recordings)
    sid = "CA" + "f1" * 16
    async with serve_app(conversation_app(settings)) as base:
        phone = await phone_for(base, sid)
        await phone.connect()
        await run_steps(phone, [logged(recordings, sid, "agent_turn")])  # the greeting
        await run_steps(phone, [Say("What time do you open tomorrow?")])
        await run_steps(phone, [logged(recordings, sid, "user_turn")])
        await asyncio.to_thread(fault_triton.server.kill)  # the LLM request is in flight
        killed_at = asyncio.get_running_loop().time()
        await run_steps(phone, [logged(recordings, sid, "agent_line", line="apology")])
        await run_steps(phone, [WaitForAgent(timeout_ms=10_000), Silence(500)])
        apology_audio = [t for t, _ in phone.log.media_arrivals if t > killed_at]
        assert apology_audio, "the caller heard nothing after the crash"

        fault_triton.set_faults()
        restart = asyncio.create_task(asyncio.to_thread(fault_triton.server.start))
        await run_steps(phone, [WaitUntil(restart.done, timeout_ms=120_000)])
        await restart
        await say_until_heard(
            phone, "Do you have a table for two?", logged(recordings, sid, "user_turn", 2)
        )
        await run_steps(phone, [logged(recordings, sid, "agent_turn", 4)])
        await phone.stop()

    record = assert_recording_complete(recordings, sid)
    turns = record.of("agent_turn")
    apology = [t for t in turns if t["text"] == settings.apology_text]
    assert apology and apology[0]["complete"], record.transcript()  # the spoken line, not a tone
    assert turns[-1]["text"].startswith(ANSWER_START), record.transcript()
    assert call_tasks(sid, phone.stream_sid) == []


async def test_model_raising_and_timing_out_mid_stream(
    fault_triton: FaultTriton, recordings: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The TTS raises after one chunk, then (next turn) stops answering after one chunk: each time the
    reply ends with the apology, and the third turn is answered normally. Logs at INFO carry neither
    the caller's words nor the agent's."""
    caplog.set_level(logging.INFO)
    settings = cpu_call_settings(fault_triton.server.grpc_url, recordings)
    sid = "CA" + "f2" * 16
    async with serve_app(conversation_app(settings)) as base:
        phone = await phone_for(base, sid)
        await phone.connect()
        await run_steps(phone, [logged(recordings, sid, "agent_turn")])
        for turn, fault in enumerate(("raise_after:1", "hang_after:1"), start=1):
            fault_triton.set_faults(tts=fault)
            await run_steps(
                phone,
                [
                    Say("What time do you open tomorrow?"),
                    logged(recordings, sid, "agent_line", turn, line="apology"),
                    logged(recordings, sid, "agent_turn", 1 + 2 * turn),  # reply + apology
                ],
            )
        fault_triton.set_faults()
        await run_steps(
            phone, [Say("Do you have a table for two?"), logged(recordings, sid, "agent_turn", 6)]
        )
        await phone.stop()

    record = assert_recording_complete(recordings, sid)
    turns = record.of("agent_turn")
    assert [t["text"] == settings.apology_text for t in turns].count(True) == 2, turns
    assert turns[-1]["text"].startswith(ANSWER_START) and turns[-1]["complete"], turns
    server_log = fault_triton.server_log()
    assert f"'{sid}-r" in server_log and "failed: injected failure after 1 chunks" in server_log
    assert "hangs after 1 chunks" in server_log
    # The hung request was cancelled by the client's timeout, not left running: the model ended it
    # as cancelled and serves nothing now.
    metrics = fault_triton.server.metrics_url
    assert ended(metrics, "tts", "cancelled") >= 1
    await wait_for(lambda: model_series(metrics, "tts")[("cc_model_requests_running", "")] == 0, 30)
    # Privacy: no transcript or reply text in the logs at INFO.
    text = caplog.text
    for event in record.of("user_turn"):
        assert event["text"] and event["text"] not in text
    assert ANSWER_START not in text
    assert call_tasks(sid, phone.stream_sid) == []


async def test_websocket_dropped_mid_reply(fault_triton: FaultTriton, recordings: Path) -> None:
    """The TCP connection drops while the agent is talking: the session ends as ``disconnected``,
    the reply's Triton requests are cancelled, the files are complete and no call task is left."""
    fault_triton.set_faults()
    settings = cpu_call_settings(fault_triton.server.grpc_url, recordings)
    sid = "CA" + "f3" * 16
    async with serve_app(conversation_app(settings)) as base:
        phone = await phone_for(base, sid)
        await phone.connect()
        await run_steps(
            phone,
            [
                logged(recordings, sid, "agent_turn"),
                Say("What time do you open tomorrow?"),
                logged(recordings, sid, "tts_chunk"),
                WaitForAgent(after_ms=300),
            ],
        )
        await phone.abort()
        await wait_for(lambda: CallRecord.count(recordings, sid, "end") == 1, timeout_s=15)
        await wait_for(lambda: not call_tasks(sid, phone.stream_sid), timeout_s=10)

    record = assert_recording_complete(recordings, sid)
    assert record.of("end")[0]["reason"] == "disconnected"
