"""Only Twilio gets a call slot (real uvicorn, real WebSockets, the tone-responder edge; no Triton):
a stream's handshake must be signed for a stream URL our webhook issued, once, and its ``start`` must
name the call that URL was issued to. Whatever is refused is refused before a handler exists: no
recording, no slot. Idle or slow sockets keep no real caller out, and a stream that floods media is
bounded, then closed."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from call_checks import assert_recording_complete, wait_for
from fastapi import FastAPI
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from callsim.harness import new_call_sid
from callsim.hostile_sockets import flood_media, open_idle_sockets
from callsim.tone_responder import ToneResponder
from callsim.twilio_dialer import SIMULATED_AUTH_TOKEN, dial, post_voice_webhook
from callsim.twilio_messages import twilio_signature as sign
from callsim.twilio_phone import SimulatedTwilioCall, serve_app
from orchestrator.app import create_app
from orchestrator.settings import Settings

pytestmark = pytest.mark.timeout(60)


@dataclass
class Edge:
    app: FastAPI
    base: str
    recordings: Path

    def rejected(self, reason: str) -> float:
        value = self.app.state.metrics.registry.get_sample_value(
            "cc_streams_rejected_total", {"reason": reason}
        )
        return float(value or 0.0)

    def recorded_calls(self) -> set[str]:
        return {p.name.split("-")[0] for p in self.recordings.glob("*.jsonl")}


@contextlib.asynccontextmanager
async def served(tmp_path: Path, **overrides: Any) -> AsyncIterator[Edge]:
    recordings = tmp_path / "recordings"
    settings = Settings(
        twilio_auth_token=SIMULATED_AUTH_TOKEN,
        recordings_dir=str(recordings),
        log_json=False,
        **overrides,
    )
    app = create_app(settings, ToneResponder)
    async with serve_app(app) as base:
        yield Edge(app, base, recordings)


async def handshake_status(url: str, signature: str | None) -> int:
    """101 when the server takes the WebSocket (then closed at once), else the HTTP status."""
    headers = {} if signature is None else {"X-Twilio-Signature": signature}
    try:
        async with connect(url, additional_headers=headers):
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


async def greeting_heard(phone: SimulatedTwilioCall) -> None:
    await wait_for(lambda: phone.log.played_ms() >= 300, timeout_s=10)


async def test_only_a_signed_handshake_for_a_stream_we_issued_gets_in(tmp_path: Path) -> None:
    async with served(tmp_path) as edge:
        sid = new_call_sid()
        stream = await post_voice_webhook(edge.base, sid)
        other = await post_voice_webhook(edge.base, new_call_sid())
        bare = stream.url.rsplit("/", 1)[0]
        token = SIMULATED_AUTH_TOKEN
        assert await handshake_status(stream.url, None) == 403  # unsigned
        assert await handshake_status(stream.url, sign("not-our-token", stream.url)) == 403
        assert await handshake_status(stream.url, sign(token, other.url)) == 403  # another URL
        assert await handshake_status(bare, sign(token, bare)) == 403  # no stream token
        made_up = bare + "/" + "A" * 32
        assert await handshake_status(made_up, sign(token, made_up)) == 403  # never issued
        assert edge.recorded_calls() == set()

        # The signed path works end to end: greeted, a digit answered, hung up.
        phone = SimulatedTwilioCall(stream.url, sid, "MZ" + sid[2:], stream.parameters, token)
        await phone.connect()
        await greeting_heard(phone)
        # The same handshake again (a captured one replayed) is refused, during and after the call.
        assert await handshake_status(stream.url, sign(token, stream.url)) == 403
        await phone.send_dtmf("#")
        await asyncio.wait_for(phone.closed.wait(), 5)
        assert await handshake_status(stream.url, sign(token, stream.url)) == 403

    assert edge.recorded_calls() == {sid}
    assert assert_recording_complete(edge.recordings, sid).of("end")[0]["reason"] == "hung_up"
    assert edge.rejected("unsigned") == 1
    assert edge.rejected("bad_signature") == 2
    assert edge.rejected("no_grant") == 2
    assert edge.rejected("replayed") == 2


async def test_a_start_for_a_call_we_never_answered_is_closed(tmp_path: Path) -> None:
    async with served(tmp_path) as edge:
        phone = await dial(edge.base, new_call_sid())
        phone.call_sid = new_call_sid()  # a start naming another call
        with contextlib.suppress(ConnectionClosed):
            await phone.connect()
        await asyncio.wait_for(phone.closed.wait(), 5)
        assert phone.ws.close_code == 1008
        assert edge.rejected("wrong_call") == 1
        assert edge.app.state.admission.active == 0
    assert edge.recorded_calls() == set()


async def test_a_stream_with_no_start_is_closed_and_held_no_slot(tmp_path: Path) -> None:
    async with served(tmp_path, stream_start_timeout_s=1.0, max_concurrent_calls=1) as edge:
        silent = await dial(edge.base, new_call_sid())
        await silent.connect(send_start=False)
        # While the silent stream waits, a real call takes the only slot.
        phone = await dial(edge.base, new_call_sid())
        await phone.connect()
        await greeting_heard(phone)
        await asyncio.wait_for(silent.closed.wait(), 5)
        assert silent.ws.close_code == 1008
        assert edge.rejected("no_start") == 1
        await phone.stop()
    assert edge.recorded_calls() == {phone.call_sid}


async def test_idle_and_slow_sockets_keep_no_real_caller_out(tmp_path: Path) -> None:
    async with served(tmp_path, max_concurrent_calls=1) as edge:
        idle = await open_idle_sockets(edge.base, 20)

        started = time.monotonic()
        phone = await dial(edge.base, new_call_sid())
        await phone.connect()
        await greeting_heard(phone)
        assert time.monotonic() - started < 5
        await phone.send_dtmf("5")
        await wait_for(lambda: phone.log.played_ms() >= 600, timeout_s=5)
        await phone.stop()
        for writer in idle:
            writer.close()
    assert edge.rejected("no_grant") == 10
    assert edge.recorded_calls() == {phone.call_sid}


async def test_a_flooding_stream_is_bounded_then_closed_while_another_call_goes_on(
    tmp_path: Path,
) -> None:
    async with served(tmp_path, media_flood_close_ms=2000.0) as edge:
        flooder = await dial(edge.base, new_call_sid())
        other = await dial(edge.base, new_call_sid())
        await flooder.connect()
        await other.connect()
        await greeting_heard(other)

        flood = await flood_media(flooder, factor=10, limit_s=10)
        closed_after_s = flood.closed_after_s
        assert closed_after_s is not None and closed_after_s < 5, flood
        await asyncio.wait_for(flooder.closed.wait(), 5)
        assert flooder.ws.close_code == 1008

        # The other call is still answered.
        before = other.log.played_ms()
        await other.send_dtmf("5")
        await wait_for(lambda: other.log.played_ms() >= before + 300, timeout_s=5)
        await other.stop()

    flooded = assert_recording_complete(edge.recordings, flooder.call_sid)
    assert flooded.of("end")[0]["reason"] == "refused"
    assert [e["detail"] for e in flooded.of("bad_input", reason="flood")] == [
        "media dropped",
        "stream closed",
    ]
    # What was taken (the other call sends no media) is bounded: 2x real time plus a 2 s burst.
    taken_ms = edge.app.state.metrics.registry.get_sample_value("cc_media_frames_in_total") * 20
    assert taken_ms <= 2000 + 2 * closed_after_s * 1000 + 100, (taken_ms, flood)
    assert_recording_complete(edge.recordings, other.call_sid)
