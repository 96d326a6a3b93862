"""The socket shell of a media stream: moves messages between a Starlette WebSocket and a
:class:`~orchestrator.twilio.session.MediaStreamSession` (which knows no sockets)."""

from __future__ import annotations

import contextlib
import logging

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from orchestrator.call_handler import StopReason
from orchestrator.twilio.session import MediaStreamSession

log = logging.getLogger(__name__)


async def pump_websocket(websocket: WebSocket, session: MediaStreamSession) -> StopReason:
    """Move messages from the socket into the session until ``stop``, a hang-up or disconnect."""
    reason = StopReason.DISCONNECTED
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                if not session.hung_up:
                    log.warning("WebSocket closed (code %s) without stop", message.get("code"))
                break
            if message.get("text") is not None:
                if not await session.receive_text(message["text"]):
                    reason = StopReason.STOPPED
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


async def close_websocket(websocket: WebSocket) -> None:
    """Close the socket if it is still open (the peer may already be gone)."""
    if websocket.application_state is WebSocketState.CONNECTED:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await websocket.close()
