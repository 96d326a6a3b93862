"""Twilio webhook plumbing: signature checks and the TwiML that connects a call to our stream."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Connect, VoiceResponse

MEDIA_STREAM_PATH = "/twilio/media"


def public_url(request: Request, public_base_url: str) -> str:
    """The URL Twilio requested (and signed): behind a proxy, ``public_base_url`` + path + query."""
    if not public_base_url:
        return str(request.url)
    url = public_base_url.rstrip("/") + request.url.path
    return f"{url}?{request.url.query}" if request.url.query else url


def media_stream_url(request: Request, public_base_url: str) -> str:
    base = public_base_url.rstrip("/") if public_base_url else str(request.base_url).rstrip("/")
    if base.startswith("https://"):
        base = "wss://" + base.removeprefix("https://")
    elif base.startswith("http://"):
        base = "ws://" + base.removeprefix("http://")
    return base + MEDIA_STREAM_PATH


def signature_is_valid(
    auth_token: str, url: str, form: Mapping[str, str], signature: str | None
) -> bool:
    if not auth_token or not signature:
        return False
    return bool(RequestValidator(auth_token).validate(url, dict(form), signature))


def connect_stream_twiml(stream_url: str, parameters: Mapping[str, str]) -> str:
    """<Connect><Stream> to our WebSocket; nothing follows, so closing the stream ends the call."""
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(url=stream_url)
    for name, value in parameters.items():
        stream.parameter(name=name, value=value)
    response.append(connect)
    return str(response)


def say_and_hang_up_twiml(message: str) -> str:
    response = VoiceResponse()
    response.say(message)
    response.hangup()
    return str(response)
