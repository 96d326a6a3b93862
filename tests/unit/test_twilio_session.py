"""MediaStreamSession without sockets: recorded Twilio JSON in, outbound JSON out."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import numpy as np
import pytest

from callsim.handlers import RecordingHandler
from callsim.twilio_messages import media_message, start_message
from orchestrator.call_handler import ChunkState, StopReason
from orchestrator.edge_options import OutboundOptions, SessionOptions
from orchestrator.logging_setup import CallSidFilter, JsonFormatter, call_sid_var
from orchestrator.twilio.metrics import EdgeMetrics
from orchestrator.twilio.outbound_stream import OutputClosed
from orchestrator.twilio.session import MediaStreamSession, SessionState

SID_CA = "CA" + "0" * 31 + "1"
SID_MZ = "MZ" + "0" * 31 + "1"

START = start_message(SID_CA, SID_MZ, {"From": "+1555"})


def media(timestamp_ms: int, payload: bytes = b"\xff" * 160) -> str:
    return json.dumps(media_message(SID_MZ, payload, timestamp_ms))


class Wire:
    def __init__(self) -> None:
        self.sent: list[dict[str, object]] = []
        self.closed = False

    async def send(self, text: str) -> None:
        self.sent.append(json.loads(text))

    async def close(self) -> None:
        self.closed = True


@pytest.fixture
def parts(tmp_path: Path) -> tuple[MediaStreamSession, RecordingHandler, Wire]:
    handler = RecordingHandler()
    wire = Wire()
    options = SessionOptions(tmp_path, OutboundOptions(chunk_ms=100, max_lead_ms=1000))
    session = MediaStreamSession(
        lambda: handler, options, wire.send, wire.close, EdgeMetrics.create()
    )
    return session, handler, wire


async def test_a_call_from_start_to_stop(
    parts: tuple[MediaStreamSession, RecordingHandler, Wire], tmp_path: Path
) -> None:
    session, handler, wire = parts
    assert not await session.receive_text(
        '{"event":"connected","protocol":"Call","version":"1.0.0"}'
    )
    assert not await session.receive_text(json.dumps(START))
    assert session.state is SessionState.STREAMING
    for index in range(10):
        assert not await session.receive_text(media(index * 20))
    assert not await session.receive_text(
        '{"event":"dtmf","streamSid":"MZ1","dtmf":{"track":"inbound_track","digit":"9"}}'
    )
    assert handler.output is not None
    mark = await handler.output.send_audio(np.zeros(2000, np.int16) + 500, 8000, "hello")
    for _ in range(20):  # let the sender task run
        if len(wire.sent) >= 6:
            break
        await asyncio.sleep(0.01)
    assert [m["event"] for m in wire.sent] == ["media", "mark", "media", "mark", "media", "mark"]
    assert mark == "hello#2" and wire.sent[-1]["mark"] == {"name": "hello#2"}
    assert not await session.receive_text(
        json.dumps({"event": "mark", "mark": {"name": "hello#2"}})
    )
    assert handler.output.playout.chunk("hello#0").state is ChunkState.PLAYED
    assert (
        await session.receive_text('{"event":"stop","stop":{"callSid":"CA1"}}')
        is StopReason.STOPPED
    )
    assert await session.end(StopReason.STOPPED) is StopReason.STOPPED
    assert handler.calls[0] == f"start {SID_CA} {{'From': '+1555'}}"
    assert handler.calls.count("dtmf 9") == 1
    assert handler.calls[-4:] == [
        "played hello#0",
        "played hello#1",
        "played hello#2",
        "stop stopped",
    ]
    assert sum(int(c.split()[1]) for c in handler.calls if c.startswith("audio")) > 2000
    events = [json.loads(line)["event"] for line in (tmp_path / f"{SID_CA}-{SID_MZ}.jsonl").open()]
    assert events == ["start", "dtmf", "mark", "mark", "mark", "stop", "end"]


async def test_clear_goes_out_at_once(
    parts: tuple[MediaStreamSession, RecordingHandler, Wire],
) -> None:
    session, handler, wire = parts
    await session.receive_text(json.dumps(START))
    assert handler.output is not None
    await handler.output.send_audio(np.zeros(8000, np.int16) + 500, 8000, "long")
    cut = await handler.output.clear()
    assert wire.sent[-1] == {"event": "clear", "streamSid": SID_MZ}
    assert all(c.state is ChunkState.CLEARED for c in cut) and len(cut) == 10
    await session.end(StopReason.DISCONNECTED)


async def test_bad_input_is_dropped_and_media_before_start_too(
    parts: tuple[MediaStreamSession, RecordingHandler, Wire],
) -> None:
    session, handler, _ = parts
    assert not await session.receive_text(media(0))
    assert not await session.receive_text("][")
    assert handler.calls == []
    assert not await session.receive_text(json.dumps(START))
    assert not await session.receive_text(json.dumps(START))  # a second start: ignored
    assert handler.calls == [f"start {SID_CA} {{'From': '+1555'}}"]
    await session.end(StopReason.DISCONNECTED)
    assert await session.receive_text(media(20)) is StopReason.STOPPED  # ended


async def test_unsupported_media_format_ends_the_stream(
    parts: tuple[MediaStreamSession, RecordingHandler, Wire],
) -> None:
    session, handler, _ = parts
    start = json.loads(json.dumps(START))
    start["start"]["mediaFormat"]["encoding"] = "audio/l16"
    assert await session.receive_text(json.dumps(start)) is StopReason.STOPPED
    assert handler.calls == []
    await session.end(StopReason.STOPPED)


async def test_hang_up_closes_the_transport(
    parts: tuple[MediaStreamSession, RecordingHandler, Wire],
) -> None:
    session, handler, wire = parts
    await session.receive_text(json.dumps(START))
    assert handler.output is not None
    await handler.output.hang_up()
    assert wire.closed
    assert await session.end(StopReason.DISCONNECTED) is StopReason.HUNG_UP


def test_log_lines_carry_the_call_sid() -> None:
    token = call_sid_var.set("CA42")
    try:
        record = logging.LogRecord(
            "orchestrator.x", logging.INFO, __file__, 1, "hi %s", ("x",), None
        )
        CallSidFilter().filter(record)
        line = json.loads(JsonFormatter().format(record))
    finally:
        call_sid_var.reset(token)
    assert line["call_sid"] == "CA42" and line["msg"] == "hi x" and line["level"] == "INFO"


class StoppingHandler(RecordingHandler):
    """In on_stop, does what the conversation engine does there: reads what was heard, logs, and
    (a reply still streaming) tries to send."""

    send_error: Exception | None = None
    heard_ms: float | None = None

    async def on_stop(self, reason: StopReason) -> None:
        assert self.output is not None
        self.heard_ms = self.output.playout.heard_ms("hello")
        try:
            await self.output.send_audio(np.zeros(800, np.int16), 8000, "late")
        except Exception as exc:
            self.send_error = exc
        self.output.log_event("agent_turn", {"text": "Hel"})
        await super().on_stop(reason)


async def test_in_on_stop_the_stream_is_over_but_playout_and_the_event_log_work(
    tmp_path: Path,
) -> None:
    handler = StoppingHandler()
    wire = Wire()
    options = SessionOptions(tmp_path, OutboundOptions(chunk_ms=100, max_lead_ms=1000))
    session = MediaStreamSession(
        lambda: handler, options, wire.send, wire.close, EdgeMetrics.create()
    )
    assert not await session.receive_text(json.dumps(START))
    output = await handler.started_output()
    await output.send_audio(np.zeros(1600, np.int16), 8000, "hello")
    assert await session.receive_text(json.dumps({"event": "stop"})) is StopReason.STOPPED
    await session.end(StopReason.STOPPED)

    assert isinstance(handler.send_error, OutputClosed)
    assert handler.heard_ms is not None
    events = [json.loads(line)["event"] for line in (tmp_path / f"{SID_CA}-{SID_MZ}.jsonl").open()]
    assert events[-3:] == ["stop", "agent_turn", "end"]
