"""Twilio Media Streams wire format <-> typed events. Nothing else: no audio codec, no REST calls.

Inbound messages (Twilio -> us): ``connected``, ``start``, ``media``, ``mark``, ``dtmf``, ``stop``.
Outbound messages (us -> Twilio): ``media``, ``mark``, ``clear``.
See https://www.twilio.com/docs/voice/media-streams/websocket-messages. Another carrier would get its
own serializer producing the same events.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class MalformedMessage(ValueError):
    """A message that is not valid JSON or lacks a field its event needs."""


@dataclass(frozen=True)
class MediaFormat:
    encoding: str
    sample_rate: int
    channels: int


@dataclass(frozen=True)
class Connected:
    protocol: str
    version: str


@dataclass(frozen=True)
class Start:
    stream_sid: str
    call_sid: str
    account_sid: str
    tracks: tuple[str, ...]
    media_format: MediaFormat
    custom_parameters: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Media:
    track: str
    chunk: int
    timestamp_ms: int  # since the stream started
    payload: bytes  # raw mu-law


@dataclass(frozen=True)
class Mark:
    name: str


@dataclass(frozen=True)
class Dtmf:
    digit: str


@dataclass(frozen=True)
class Stop:
    call_sid: str


@dataclass(frozen=True)
class UnknownEvent:
    event: str


InboundEvent = Connected | Start | Media | Mark | Dtmf | Stop | UnknownEvent


def _object(message: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = message.get(key)
    if not isinstance(value, dict):
        raise MalformedMessage(f"{message.get('event')!r} message without a {key!r} object")
    return value


def _text(container: Mapping[str, Any], key: str, default: str | None = None) -> str:
    value = container.get(key, default)
    if not isinstance(value, str):
        raise MalformedMessage(f"field {key!r} missing or not a string")
    return value


def _integer(container: Mapping[str, Any], key: str) -> int:
    value = container.get(key)
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise MalformedMessage(f"field {key!r} missing or not an integer")
    try:
        return int(value)  # Twilio sends numbers as strings
    except (TypeError, ValueError):
        raise MalformedMessage(f"field {key!r} missing or not an integer") from None


def parse_inbound(text: str) -> InboundEvent:
    """One WebSocket text message -> an event. Raises ``MalformedMessage``."""
    try:
        message = json.loads(text)
    except json.JSONDecodeError as error:
        raise MalformedMessage(f"invalid JSON: {error}") from None
    if not isinstance(message, dict):
        raise MalformedMessage("message is not a JSON object")
    event = message.get("event")
    if not isinstance(event, str):
        raise MalformedMessage("message without an 'event' string")
    if event == "media":
        media = _object(message, "media")
        encoded = _text(media, "payload")
        try:
            payload = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedMessage("media payload is not valid base64") from None
        return Media(
            track=_text(media, "track", "inbound"),
            chunk=_integer(media, "chunk"),
            timestamp_ms=_integer(media, "timestamp"),
            payload=payload,
        )
    if event == "start":
        start = _object(message, "start")
        media_format = _object(start, "mediaFormat")
        parameters = start.get("customParameters") or {}
        if not isinstance(parameters, dict):
            raise MalformedMessage("customParameters is not an object")
        tracks = start.get("tracks") or ["inbound"]
        return Start(
            stream_sid=_text(start, "streamSid", message.get("streamSid")),
            call_sid=_text(start, "callSid"),
            account_sid=_text(start, "accountSid", ""),
            tracks=tuple(str(t) for t in tracks),
            media_format=MediaFormat(
                encoding=_text(media_format, "encoding"),
                sample_rate=_integer(media_format, "sampleRate"),
                channels=_integer(media_format, "channels"),
            ),
            custom_parameters={str(k): str(v) for k, v in parameters.items()},
        )
    if event == "mark":
        return Mark(name=_text(_object(message, "mark"), "name"))
    if event == "dtmf":
        return Dtmf(digit=_text(_object(message, "dtmf"), "digit"))
    if event == "stop":
        stop = message.get("stop")
        call_sid = stop.get("callSid", "") if isinstance(stop, dict) else ""
        return Stop(call_sid=str(call_sid))
    if event == "connected":
        return Connected(
            protocol=str(message.get("protocol", "")), version=str(message.get("version", ""))
        )
    return UnknownEvent(event=event)


def media_message(stream_sid: str, mulaw: bytes) -> str:
    payload = base64.b64encode(mulaw).decode("ascii")
    return json.dumps({"event": "media", "streamSid": stream_sid, "media": {"payload": payload}})


def mark_message(stream_sid: str, name: str) -> str:
    return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear_message(stream_sid: str) -> str:
    return json.dumps({"event": "clear", "streamSid": stream_sid})
