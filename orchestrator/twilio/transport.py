"""The socket shell of a media stream: moves messages between a Starlette WebSocket and a
:class:`~orchestrator.twilio.session.MediaStreamSession` (which knows no sockets)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from orchestrator.call_handler import StopReason
from orchestrator.twilio.serializer import MalformedMessage, Start, parse_inbound
from orchestrator.twilio.session import MediaStreamSession

log = logging.getLogger(__name__)

# Twilio sends ``connected`` then ``start``; a socket that sends this many other messages first is
# not Twilio.
MAX_MESSAGES_BEFORE_START = 4


@dataclass(frozen=True)
class Opening:
    start: Start
    messages: tuple[str, ...]  # up to and including ``start``, as received, for the session


async def receive_start(websocket: WebSocket, timeout_s: float) -> Opening | None:
    """The stream's ``start``, read before the stream is given a call slot; None when it does not
    come within ``timeout_s``, the socket sends something else first, or it goes away."""
    messages: list[str] = []
    try:
        async with asyncio.timeout(timeout_s):
            for _ in range(MAX_MESSAGES_BEFORE_START):
                text = await websocket.receive_text()
                messages.append(text)  # the session reports what is wrong with the others
                with contextlib.suppress(MalformedMessage):
                    event = parse_inbound(text)
                    if isinstance(event, Start):
                        return Opening(event, tuple(messages))
    except (TimeoutError, WebSocketDisconnect, RuntimeError, KeyError):
        pass  # RuntimeError/KeyError: a disconnect or a binary message where text was expected
    return None


async def pump_websocket(
    websocket: WebSocket, session: MediaStreamSession, opening: Sequence[str] = ()
) -> StopReason:
    """Move messages from the socket into the session until ``stop``, a hang-up or disconnect;
    ``opening``: messages already read from it."""
    reason = StopReason.DISCONNECTED
    already_read = [{"type": "websocket.receive", "text": text} for text in opening]
    try:
        while True:
            message = already_read.pop(0) if already_read else await websocket.receive()
            if message["type"] == "websocket.disconnect":
                if not session.hung_up:
                    log.warning("WebSocket closed (code %s) without stop", message.get("code"))
                break
            if message.get("text") is not None:
                over = await session.receive_text(message["text"])
                if over is not None:
                    reason = over
                    break
            else:
                session.receive_binary(len(message.get("bytes") or b""))
    except WebSocketDisconnect:
        log.warning("WebSocket dropped without stop")
    except Exception:
        log.exception("media stream failed")
        reason = StopReason.ERROR
    finally:
        reason = await session.end(reason)
    return reason


async def close_websocket(websocket: WebSocket, code: int = 1000, reason: str = "") -> None:
    """Close the socket if it is still open (the peer may already be gone)."""
    if websocket.application_state is WebSocketState.CONNECTED:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await websocket.close(code, reason)
