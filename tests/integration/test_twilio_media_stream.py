"""The media stream end to end: real uvicorn, a real WebSocket client speaking Twilio's protocol,
outbound audio played back at real time with real mark echo timing."""

from __future__ import annotations

import asyncio
import json
import logging
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from callsim.handlers import RecordingHandler
from callsim.harness import new_call_sid
from callsim.tone_responder import ToneResponder
from callsim.twilio_dialer import CALLER_NUMBER, SIMULATED_AUTH_TOKEN, dial
from callsim.twilio_messages import mark_message, media_message, start_message
from callsim.twilio_phone import SimulatedTwilioCall, serve_app
from orchestrator.app import create_app
from orchestrator.call_handler import CallOutput, ChunkState, StopReason
from orchestrator.settings import Settings
from orchestrator.twilio import mulaw

pytestmark = pytest.mark.timeout(60)


@dataclass
class Edge:
    base_url: str
    recordings: Path
    handlers: list[RecordingHandler] = field(default_factory=list)
    created: asyncio.Queue[RecordingHandler] = field(default_factory=asyncio.Queue)

    def factory(self) -> RecordingHandler:
        self.handlers.append(RecordingHandler())
        self.created.put_nowait(self.handlers[-1])
        return self.handlers[-1]

    def handler(self) -> RecordingHandler:
        return self.handlers[-1]

    async def started_output(self) -> CallOutput:
        handler = await asyncio.wait_for(self.created.get(), 5)
        return await handler.started_output()

    async def stopped(self) -> StopReason | None:
        await asyncio.wait_for(self.handler().stopped.wait(), 5)
        return self.handler().stop_reason


def tone(freq: float, seconds: float, rate: int, amplitude: float = 0.4) -> npt.NDArray[np.float32]:
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def sounding_samples(pcm: npt.NDArray[np.int16]) -> int:
    """Samples within a tone (a tone's zero crossings are single zero samples; silence is runs)."""
    window = np.lib.stride_tricks.sliding_window_view(np.abs(pcm.astype(np.int32)), 9)
    return int(np.count_nonzero(window.max(axis=1))) + 8 if len(pcm) >= 9 else 0


def peak_hz(pcm: npt.NDArray[np.int16] | npt.NDArray[np.float32], rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(np.asarray(pcm, dtype=np.float64)))
    return float(np.fft.rfftfreq(len(pcm), 1.0 / rate)[np.argmax(spectrum)])


@pytest.fixture
async def edge(tmp_path: Path) -> AsyncIterator[Edge]:
    settings = Settings(
        twilio_auth_token=SIMULATED_AUTH_TOKEN,
        recordings_dir=str(tmp_path),
        playout_chunk_ms=200,
        playout_max_lead_ms=500,
        recording_flush_ms=100,
    )
    edge = Edge("", tmp_path)
    async with serve_app(create_app(settings, handler_factory=edge.factory)) as base:
        edge.base_url = base
        yield edge


async def started_call(edge: Edge) -> tuple[SimulatedTwilioCall, CallOutput]:
    call = await dial(edge.base_url, new_call_sid())
    await call.connect()
    return call, await edge.started_output()


def read_recording(
    edge: Edge, call: SimulatedTwilioCall
) -> tuple[np.ndarray, list[dict[str, object]]]:
    stem = edge.recordings / f"{call.call_sid}-{call.stream_sid}"
    with wave.open(str(stem.with_suffix(".wav"))) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        frames = np.frombuffer(wav.readframes(wav.getnframes()), np.int16).reshape(-1, 2)
    return frames, read_events(stem.with_suffix(".jsonl"))


def read_events(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_caller_audio_arrives_as_16k_pcm(edge: Edge) -> None:
    call, _ = await started_call(edge)
    assert edge.handler().calls[0].startswith(f"start {call.call_sid} ")
    assert f"'From': '{CALLER_NUMBER}'" in edge.handler().calls[0]  # the webhook's <Parameter>s
    caller = (tone(440, 1.0, 8000) * 32767).astype(np.int16)
    await call.send_audio_realtime(caller)
    await call.send_dtmf("7")
    await call.stop()
    assert await edge.stopped() is StopReason.STOPPED

    received = np.concatenate(edge.handler().audio)
    assert received.dtype == np.int16
    assert 16000 - 1100 <= len(received) <= 16000  # the resampler holds back at most a block
    assert abs(peak_hz(received[2000:], 16000) - 440) < 3
    assert edge.handler().digits == ["7"]

    frames, events = read_recording(edge, call)
    assert abs(len(frames) - 8000) < 200
    assert abs(peak_hz(frames[:8000, 0], 8000) - 440) < 3
    assert not frames[:, 1].any()  # the agent said nothing
    assert [e["event"] for e in events] == ["start", "dtmf", "stop", "end"]


async def test_agent_audio_goes_out_as_mulaw_at_real_time(edge: Edge) -> None:
    call, output = await started_call(edge)
    reply = tone(600, 2.0, 16000)
    mark = await output.send_audio(reply, 16000, "reply-1")
    await asyncio.sleep(0.5)
    # With a 500 ms lead the sender is only a little ahead of playout.
    assert call.log.played_ms() <= 500 + 500 + 250
    await edge.handler().played(mark)

    arrivals = call.log.media_arrivals
    assert sum(size for _, size in arrivals) == 16000  # 2 s at 8 kHz, one byte per sample
    first, last = arrivals[0][0], arrivals[-1][0]
    # Paced by playout: the last chunk leaves about (2 s - lead - one chunk) after the first.
    assert 2.0 - 0.5 - 0.2 - 0.15 <= last - first <= 2.0
    played = mulaw.decode(call.log.played_mulaw())
    assert abs(peak_hz(played, 8000) - 600) < 2
    assert np.abs(played).max() > 0.3 * 32767

    assert output.playout.heard_ms("reply-1") == 2000.0  # every chunk acked: exact
    assert [c.mark for c in edge.handler().marks_played] == [m for _, m in call.log.marks_echoed]
    assert all(c.fully_played for c in edge.handler().marks_played)
    # Marks came back when the audio before them had played at real time.
    chunk_ends = np.cumsum([c.duration_ms for c in edge.handler().marks_played]) / 1000.0
    echo_times = np.array([t for t, _ in call.log.marks_echoed]) - call.log.played[0].start
    assert np.allclose(echo_times, chunk_ends, atol=0.05)
    await call.stop()
    await edge.stopped()

    frames, events = read_recording(edge, call)
    agent = frames[:, 1]
    # All 2 s of the reply in the right channel (back to back).
    assert abs(sounding_samples(agent) - 16000) <= 9
    start = np.flatnonzero(agent)[0]
    assert abs(peak_hz(agent[start : start + 8000], 8000) - 600) <= 2
    assert sum(e["event"] == "mark" for e in events) == 10


async def test_clear_stops_outbound_audio_at_once(edge: Edge) -> None:
    call, output = await started_call(edge)
    await output.send_audio(tone(600, 3.0, 16000), 16000, "long-reply")
    await asyncio.sleep(1.05)
    sent_before = len(call.log.media_arrivals)
    cut = await output.clear()
    await asyncio.sleep(0.4)
    assert len(call.log.clears) == 1
    assert len(call.log.media_arrivals) == sent_before  # nothing after the clear

    heard_by_phone = call.log.played_ms()
    heard_by_edge = output.playout.heard_ms("long-reply")
    assert 900 <= heard_by_phone <= 1200
    assert abs(heard_by_edge - heard_by_phone) < 60  # the head chunk's elapsed-time estimate
    # Acked chunks are exact; the head is cut with its estimate; the rest count as unheard.
    acked = [c for c in edge.handler().marks_played if c.label == "long-reply"]
    assert all(c.played_ms == c.duration_ms == 200 for c in acked)
    assert sum(c.played_ms for c in acked) + sum(c.played_ms for c in cut) == pytest.approx(
        heard_by_edge
    )
    assert cut[0].state is ChunkState.CLEARED and 0 <= cut[0].played_ms <= 200
    assert all(c.played_ms == 0 for c in cut[1:])
    # Twilio's echoes of the cleared marks were recognised, not reported as played.
    assert len(edge.handler().marks_played) == len(acked)

    await output.send_audio(tone(800, 0.3, 16000), 16000, "after-clear")
    await asyncio.sleep(0.6)
    assert output.playout.heard_ms("after-clear") == 300.0
    await call.stop()
    await edge.stopped()

    frames, events = read_recording(edge, call)
    heard_samples = sounding_samples(frames[:, 1])
    assert abs(heard_samples / 8 - (heard_by_edge + 300)) < 30  # exactly what was heard
    clear_events = [e for e in events if e["event"] == "clear"]
    assert len(clear_events) == 1 and clear_events[0]["cut"]


async def test_backpressure_bounds_the_queue(tmp_path: Path) -> None:
    settings = Settings(
        twilio_auth_token=SIMULATED_AUTH_TOKEN,
        recordings_dir=str(tmp_path),
        playout_max_lead_ms=200,
        outbound_queue_chunks=2,
    )
    edge = Edge("", tmp_path)
    async with serve_app(create_app(settings, handler_factory=edge.factory)) as base:
        edge.base_url = base
        call, output = await started_call(edge)
        send = asyncio.create_task(output.send_audio(tone(500, 2.0, 8000), 8000, "r"))
        await asyncio.sleep(0.3)
        assert not send.done()  # 10 chunks cannot fit a queue of 2 + a 200 ms lead
        await asyncio.wait_for(send, 3)
        await call.stop()


async def test_bad_input_is_logged_and_the_call_carries_on(
    edge: Edge, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="orchestrator")
    call = await dial(edge.base_url, new_call_sid())
    await call.connect(send_start=False)
    await call.send_json(media_message(call.stream_sid, b"\xff" * 160, 0))  # media before start
    await call.send_start()
    output = await edge.started_output()
    await call.ws.send("{not json")
    await call.send_json({"event": "party", "streamSid": call.stream_sid})
    bad_base64 = media_message(call.stream_sid, b"", 20)
    bad_base64["media"]["payload"] = "%%%not-base64%%%"
    await call.send_json(bad_base64)
    await call.send_json(media_message(call.stream_sid, b"\xff" * 20_000, 40))  # a 2.5 s frame
    await call.ws.send("x" * 100_000)  # an oversized message
    await call.send_json(start_message(call.call_sid, call.stream_sid))  # a second start
    await call.ws.send(b"\x00\x01")  # binary
    await call.send_json(mark_message(call.stream_sid, "?"))
    # The call carries on: audio in and out still work.
    await call.send_audio_realtime((tone(440, 0.4, 8000) * 32767).astype(np.int16))
    mark = await output.send_audio(tone(600, 0.2, 16000), 16000, "still-here")
    await edge.handler().played(mark)
    await call.abort()  # abrupt disconnect, no stop
    assert await edge.stopped() is StopReason.DISCONNECTED

    logged = "\n".join(r.getMessage() for r in caplog.records)
    for expected in (
        "bad input (media_before_start)",
        "bad input (malformed): invalid JSON",
        "bad input (unknown_event): unknown event 'party'",
        "bad input (malformed): media payload is not valid base64",
        "bad input (oversized): media payload of 20000 bytes",
        "bad input (oversized): message of",
        "bad input (second_start)",
        "bad input (binary)",
        "bad input (unknown_mark)",
        "WebSocket closed",
        "stream ended (disconnected)",
    ):
        assert expected in logged, expected
    assert all(
        getattr(r, "call_sid", call.call_sid) == call.call_sid
        for r in caplog.records
        if r.getMessage().startswith("bad input (second")
    )

    frames, events = read_recording(edge, call)
    caller = frames[np.flatnonzero(frames[:, 0])[0] :, 0]
    assert abs(peak_hz(caller[:3000], 8000) - 440) < 3
    assert abs(sounding_samples(frames[:, 1]) - 1600) <= 16
    reasons = [e["reason"] for e in events if e["event"] == "bad_input"]
    assert reasons == [
        "malformed",
        "unknown_event",
        "malformed",
        "oversized",
        "oversized",
        "second_start",
        "binary",
        "unknown_mark",
    ]
    assert events[-1] == {**events[-1], "event": "end", "reason": "disconnected"}


async def test_tone_responder_answers_dtmf_and_hangs_up(tmp_path: Path) -> None:
    settings = Settings(recordings_dir=str(tmp_path), twilio_auth_token=SIMULATED_AUTH_TOKEN)
    async with serve_app(create_app(settings, ToneResponder)) as base:
        call = await dial(base, new_call_sid())
        await call.connect()
        await asyncio.sleep(0.4)  # the greeting beep plays
        await call.send_dtmf("5")
        await asyncio.sleep(0.5)
        await call.send_dtmf("#")
        await asyncio.wait_for(call.closed.wait(), 5)  # the edge closed the stream
        played = mulaw.decode(call.log.played_mulaw())
        assert len(played) == 2 * 2400  # 300 ms beep + 300 ms DTMF tone
        assert abs(peak_hz(played[:2400], 8000) - 440) < 5
        assert min(abs(peak_hz(played[2400:], 8000) - f) for f in (770, 1336)) < 5
        events = read_events(tmp_path / f"{call.call_sid}-{call.stream_sid}.jsonl")
        assert events[-1]["event"] == "end" and events[-1]["reason"] == "hung_up"
