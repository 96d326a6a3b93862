"""Twilio's side of a Media Stream, simulated over a real WebSocket (tests and the edge benchmark).

``SimulatedTwilioCall`` connects like Twilio does, sends ``connected``/``start``, streams caller
audio as 20 ms mu-law ``media`` frames at real time, and plays what it receives the way Twilio's
buffer does: outbound media play back to back at real time, a ``mark`` is echoed when the audio
queued before it has played, and ``clear`` drops the unplayed audio and echoes the pending marks at
once. ``serve_app`` runs an ASGI app on a real uvicorn bound to a free localhost port.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import uvicorn
from websockets.asyncio.client import ClientConnection, connect

from callsim.twilio_messages import (
    connected_message,
    dtmf_message,
    mark_message,
    media_message,
    start_message,
    stop_message,
    twilio_signature,
)
from orchestrator.twilio import mulaw

RATE = 8000
FRAME_BYTES = 160  # 20 ms


@contextlib.asynccontextmanager
async def serve_app(app: Any) -> AsyncIterator[str]:
    """Run ``app`` on uvicorn at 127.0.0.1:<free port>; yields ``http://127.0.0.1:<port>``."""
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and without it
    # Nagle's algorithm meets delayed ACKs and stalls small messages by up to 40 ms.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", ws_max_size=1 << 20)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event for it
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@dataclass
class PlayedMedia:
    start: float  # loop time it started playing
    payload: bytes  # mu-law; truncated to what played if a clear cut it


@dataclass
class PhoneLog:
    media_arrivals: list[tuple[float, int]] = field(default_factory=list)  # (loop time, bytes)
    played: list[PlayedMedia] = field(default_factory=list)
    marks_echoed: list[tuple[float, str]] = field(default_factory=list)
    clears: list[float] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    def played_mulaw(self) -> bytes:
        return b"".join(item.payload for item in self.played)

    def played_ms(self) -> float:
        return len(self.played_mulaw()) * 1000.0 / RATE


class SimulatedTwilioCall:
    def __init__(
        self,
        ws_url: str,
        call_sid: str = "CA00000000000000000000000000000001",
        stream_sid: str = "MZ00000000000000000000000000000001",
        parameters: dict[str, str] | None = None,
        auth_token: str | None = None,
    ) -> None:
        """``auth_token``: sign the handshake (``X-Twilio-Signature`` over ``ws_url``) as Twilio
        does; None sends it unsigned."""
        self.ws_url = ws_url
        self.auth_token = auth_token
        self.call_sid = call_sid
        self.stream_sid = stream_sid
        self.parameters = parameters or {}
        self.log = PhoneLog()
        self.closed = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._loop = asyncio.get_running_loop()
        self._timeline_end = 0.0  # loop time when the buffered outbound audio will have played
        self._pending_marks: list[tuple[asyncio.TimerHandle, str]] = []
        self._started_at = 0.0
        self._sequence = 0
        self._chunk = 0
        self._receiver: asyncio.Task[None] | None = None

    @property
    def ws(self) -> ClientConnection:
        assert self._ws is not None, "not connected"
        return self._ws

    async def connect(self, send_start: bool = True) -> None:
        headers = {}
        if self.auth_token is not None:
            headers["X-Twilio-Signature"] = twilio_signature(self.auth_token, self.ws_url)
        self._ws = await connect(self.ws_url, max_size=1 << 22, additional_headers=headers)
        self._receiver = asyncio.create_task(self._receive())
        await self.send_json(connected_message())
        if send_start:
            await self.send_start()

    async def send_start(self) -> None:
        self._started_at = self._loop.time()
        await self.send_json(
            start_message(
                self.call_sid, self.stream_sid, self.parameters, sequence=self._next_sequence()
            )
        )

    async def send_json(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    @property
    def started_at(self) -> float:
        """Loop time ``start`` was sent (the orchestrator's call clock starts within a ms of it)."""
        return self._started_at

    async def send_audio_realtime(self, pcm8k: npt.NDArray[np.int16]) -> list[float]:
        """Caller audio as 20 ms frames, each sent when Twilio would (timestamps on the call clock).

        Returns the loop time each frame was sent at (later than due when the loop is busy).
        """
        payload = mulaw.encode(pcm8k)
        first = self._loop.time()
        offset_ms = round((first - self._started_at) * 1000)
        sent: list[float] = []
        for index, start in enumerate(range(0, len(payload), FRAME_BYTES)):
            due = first + index * 0.02
            await asyncio.sleep(max(0.0, due - self._loop.time()))
            frame = payload[start : start + FRAME_BYTES]
            self._chunk += 1
            message = media_message(
                self.stream_sid, frame, offset_ms + index * 20, self._chunk, self._next_sequence()
            )
            await self.send_json(message)
            sent.append(self._loop.time())
        return sent

    async def send_dtmf(self, digit: str) -> None:
        await self.send_json(dtmf_message(self.stream_sid, digit, self._next_sequence()))

    async def stop(self) -> None:
        await self.send_json(stop_message(self.call_sid, self.stream_sid, self._next_sequence()))
        await self.close()

    async def close(self) -> None:
        await self.ws.close()
        await self._finish()

    async def abort(self) -> None:
        """Drop the TCP connection without a close handshake (a network failure)."""
        self.ws.transport.abort()
        await self._finish()

    async def _finish(self) -> None:
        if self._receiver is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._receiver
        for handle, _ in self._pending_marks:
            handle.cancel()

    def _next_sequence(self) -> int:
        self._sequence += 1
        return self._sequence

    # ---- Twilio's outbound buffer, played at real time -------------------------------------

    async def _receive(self) -> None:
        try:
            async for raw in self.ws:
                message = json.loads(raw)
                event = message.get("event")
                if event == "media":
                    self._on_media(base64.b64decode(message["media"]["payload"]))
                elif event == "mark":
                    self._on_mark(message["mark"]["name"])
                elif event == "clear":
                    self._on_clear()
                else:
                    self.log.unexpected.append(str(raw))
        except Exception:  # a dropped connection ends the call like Twilio's side would
            pass
        finally:
            self.closed.set()

    def _on_media(self, payload: bytes) -> None:
        now = self._loop.time()
        self.log.media_arrivals.append((now, len(payload)))
        start = max(now, self._timeline_end)
        self.log.played.append(PlayedMedia(start, payload))
        self._timeline_end = start + len(payload) / RATE

    def _on_mark(self, name: str) -> None:
        due = max(self._loop.time(), self._timeline_end)
        handle = self._loop.call_at(due, self._echo_mark, name)
        self._pending_marks.append((handle, name))

    def _echo_mark(self, name: str) -> None:
        self._pending_marks = [(h, n) for h, n in self._pending_marks if n != name]
        self.log.marks_echoed.append((self._loop.time(), name))
        message = mark_message(self.stream_sid, name)
        task = asyncio.ensure_future(self.ws.send(json.dumps(message)))
        task.add_done_callback(lambda t: t.exception())  # a closed socket is not our failure

    def _on_clear(self) -> None:
        now = self._loop.time()
        self.log.clears.append(now)
        kept: list[PlayedMedia] = []
        for item in self.log.played:
            if item.start >= now:
                continue
            heard = min(len(item.payload), int((now - item.start) * RATE))
            kept.append(PlayedMedia(item.start, item.payload[:heard]))
        self.log.played = kept
        self._timeline_end = now
        pending, self._pending_marks = self._pending_marks, []
        for handle, name in pending:  # Twilio echoes the marks of cleared audio at once
            handle.cancel()
            self._echo_mark(name)
