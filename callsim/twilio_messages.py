"""The Media Streams messages Twilio sends to our WebSocket, as its documentation gives them
(https://www.twilio.com/docs/voice/media-streams/websocket-messages). Values are left untyped so that
tests can send malformed ones."""

from __future__ import annotations

import base64
from typing import Any

from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC00000000000000000000000000000001"
MULAW_8K = {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}


def twilio_signature(auth_token: str, url: str, params: dict[str, str] | None = None) -> str:
    """``X-Twilio-Signature`` of a request to ``url`` (a webhook's form ``params``; a stream
    handshake has none)."""
    return str(RequestValidator(auth_token).compute_signature(url, params or {}))


def connected_message() -> dict[str, Any]:
    return {"event": "connected", "protocol": "Call", "version": "1.0.0"}


def start_message(
    call_sid: Any,
    stream_sid: Any,
    parameters: Any = None,
    media_format: Any = None,
    sequence: int = 1,
) -> dict[str, Any]:
    return {
        "event": "start",
        "sequenceNumber": str(sequence),
        "start": {
            "accountSid": ACCOUNT_SID,
            "streamSid": stream_sid,
            "callSid": call_sid,
            "tracks": ["inbound"],
            "mediaFormat": MULAW_8K if media_format is None else media_format,
            "customParameters": {} if parameters is None else parameters,
        },
        "streamSid": stream_sid,
    }


def media_message(
    stream_sid: Any, payload: bytes, timestamp_ms: Any, chunk: int = 1, sequence: int = 2
) -> dict[str, Any]:
    return {
        "event": "media",
        "sequenceNumber": str(sequence),
        "media": {
            "track": "inbound",
            "chunk": str(chunk),
            "timestamp": str(timestamp_ms),
            "payload": base64.b64encode(payload).decode("ascii"),
        },
        "streamSid": stream_sid,
    }


def dtmf_message(stream_sid: Any, digit: Any, sequence: int = 2) -> dict[str, Any]:
    return {
        "event": "dtmf",
        "streamSid": stream_sid,
        "sequenceNumber": str(sequence),
        "dtmf": {"track": "inbound_track", "digit": digit},
    }


def mark_message(stream_sid: Any, name: Any) -> dict[str, Any]:
    return {"event": "mark", "streamSid": stream_sid, "mark": {"name": name}}


def stop_message(call_sid: Any, stream_sid: Any, sequence: int = 2) -> dict[str, Any]:
    return {
        "event": "stop",
        "sequenceNumber": str(sequence),
        "stop": {"accountSid": ACCOUNT_SID, "callSid": call_sid},
        "streamSid": stream_sid,
    }
