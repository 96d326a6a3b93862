"""What an attacker's sockets do to the Media Streams endpoint, for the tests and benchmarks.edge_abuse:
idle and slow sockets that never become a stream, and a stream flooding media faster than real time."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

from websockets.exceptions import ConnectionClosed

from callsim.twilio_messages import media_message
from callsim.twilio_phone import FRAME_BYTES, SimulatedTwilioCall


async def open_idle_sockets(base_url: str, count: int) -> list[asyncio.StreamWriter]:
    """``count`` TCP connections to the stream path, left open: half never finish their HTTP headers
    (slowloris), half send a complete but unsigned WebSocket upgrade. Close the writers when done."""
    host, port = base_url.removeprefix("http://").split(":")
    writers: list[asyncio.StreamWriter] = []
    for index in range(count):
        _, writer = await asyncio.open_connection(host, int(port))
        request = (
            f"GET /twilio/media/{'x' * 32} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        )
        writer.write(request.encode() + (b"" if index % 2 else b"\r\n"))
        await writer.drain()
        writers.append(writer)
    return writers


@dataclass
class Flood:
    frames_sent: int = 0
    closed_after_s: float | None = None  # when the edge closed the stream, if it did


async def flood_media(phone: SimulatedTwilioCall, factor: int = 10, limit_s: float = 60.0) -> Flood:
    """20 ms frames, ``factor`` of them every 20 ms, stamped with the call clock, until the edge
    closes the stream, ``limit_s`` passes or the task is cancelled."""
    flood = Flood()
    frame = b"\xff" * FRAME_BYTES
    started = time.monotonic()
    with contextlib.suppress(ConnectionClosed):
        while not phone.closed.is_set() and time.monotonic() - started < limit_s:
            now_ms = round((time.monotonic() - started) * 1000)
            for _ in range(factor):
                await phone.send_json(media_message(phone.stream_sid, frame, now_ms))
                flood.frames_sent += 1
            await asyncio.sleep(0.02)
    if phone.closed.is_set():
        flood.closed_after_s = round(time.monotonic() - started, 2)
    return flood
