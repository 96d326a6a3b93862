"""Twilio Media Streams JSON <-> typed events, with messages as Twilio documents them."""

from __future__ import annotations

import base64
import json

import pytest

from orchestrator.twilio.serializer import (
    Connected,
    Dtmf,
    MalformedMessage,
    Mark,
    Media,
    MediaFormat,
    Start,
    Stop,
    UnknownEvent,
    clear_message,
    mark_message,
    media_message,
    parse_inbound,
)

# https://www.twilio.com/docs/voice/media-streams/websocket-messages
CONNECTED = '{"event": "connected", "protocol": "Call", "version": "1.0.0"}'
START = json.dumps(
    {
        "event": "start",
        "sequenceNumber": "1",
        "start": {
            "accountSid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
            "streamSid": "MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
            "callSid": "CAXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": {"FirstName": "Jane", "LastName": "Doe"},
        },
        "streamSid": "MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    }
)
MEDIA = json.dumps(
    {
        "event": "media",
        "sequenceNumber": "3",
        "media": {
            "track": "inbound",
            "chunk": "1",
            "timestamp": "5",
            "payload": base64.b64encode(b"\xff" * 160).decode(),
        },
        "streamSid": "MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    }
)


def test_connected() -> None:
    assert parse_inbound(CONNECTED) == Connected("Call", "1.0.0")


def test_start() -> None:
    event = parse_inbound(START)
    assert isinstance(event, Start)
    assert event.call_sid.startswith("CA") and event.stream_sid.startswith("MZ")
    assert event.media_format == MediaFormat("audio/x-mulaw", 8000, 1)
    assert event.tracks == ("inbound",)
    assert event.custom_parameters == {"FirstName": "Jane", "LastName": "Doe"}


def test_media() -> None:
    assert parse_inbound(MEDIA) == Media("inbound", 1, 5, b"\xff" * 160)


def test_mark_dtmf_stop() -> None:
    mark = '{"event":"mark","sequenceNumber":"4","streamSid":"MZ1","mark":{"name":"my label"}}'
    dtmf = '{"event":"dtmf","streamSid":"MZ1","sequenceNumber":"5","dtmf":{"track":"inbound_track","digit":"1"}}'
    stop = '{"event":"stop","sequenceNumber":"5","stop":{"accountSid":"AC1","callSid":"CA1"},"streamSid":"MZ1"}'
    assert parse_inbound(mark) == Mark("my label")
    assert parse_inbound(dtmf) == Dtmf("1")
    assert parse_inbound(stop) == Stop("CA1")


def test_unknown_event_is_not_an_error() -> None:
    assert parse_inbound('{"event": "party"}') == UnknownEvent("party")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"no_event": 1}', "'event'"),
        ('{"event": "media"}', "'media' object"),
        (
            '{"event": "media", "media": {"chunk": "1", "timestamp": "0", "payload": "@@@"}}',
            "base64",
        ),
        ('{"event": "media", "media": {"chunk": "x", "timestamp": "0", "payload": ""}}', "'chunk'"),
        ('{"event": "media", "media": {"chunk": "1", "timestamp": "0"}}', "'payload'"),
        ('{"event": "mark", "mark": {}}', "'name'"),
        ('{"event": "start", "start": {"callSid": "CA1"}}', "mediaFormat"),
    ],
)
def test_malformed(text: str, reason: str) -> None:
    with pytest.raises(MalformedMessage, match=reason):
        parse_inbound(text)


def test_outbound_messages() -> None:
    assert json.loads(media_message("MZ1", b"\x00\xff")) == {
        "event": "media",
        "streamSid": "MZ1",
        "media": {"payload": "AP8="},
    }
    assert json.loads(mark_message("MZ1", "m#1")) == {
        "event": "mark",
        "streamSid": "MZ1",
        "mark": {"name": "m#1"},
    }
    assert json.loads(clear_message("MZ1")) == {"event": "clear", "streamSid": "MZ1"}
