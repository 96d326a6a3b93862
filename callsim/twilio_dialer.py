"""Twilio's side of a call before its media stream, as Twilio does it: the voice webhook posted and
signed with the account's auth token (``X-Twilio-Signature``), the ``<Connect><Stream>`` of the
TwiML answer followed to its URL, and the stream's WebSocket handshake signed for that URL."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import httpx

from callsim.twilio_messages import ACCOUNT_SID, twilio_signature
from callsim.twilio_phone import SimulatedTwilioCall

# The auth token the simulated Twilio account signs with; the settings of simulated calls carry it.
SIMULATED_AUTH_TOKEN = "simulated-twilio-auth-token"
CALLER_NUMBER = "+15550100123"
AGENT_NUMBER = "+15550100999"


@dataclass(frozen=True)
class StreamInstruction:
    """A ``<Connect><Stream>`` of a TwiML answer."""

    url: str
    parameters: dict[str, str] = field(default_factory=dict)


def stream_in_twiml(twiml: str) -> StreamInstruction | None:
    stream = ET.fromstring(twiml).find("./Connect/Stream")
    if stream is None:
        return None
    parameters = {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}
    return StreamInstruction(stream.get("url", ""), parameters)


class CallNotConnected(Exception):
    """The voice webhook did not answer with a stream (refused, busy, an error)."""


async def post_voice_webhook(
    base_url: str,
    call_sid: str,
    auth_token: str = SIMULATED_AUTH_TOKEN,
    caller: str = CALLER_NUMBER,
) -> StreamInstruction:
    """An inbound call: Twilio's signed ``POST /twilio/voice``; returns the stream it was told to
    open. Raises :class:`CallNotConnected` when the answer holds no stream."""
    url = base_url.rstrip("/") + "/twilio/voice"
    form = {
        "CallSid": call_sid,
        "AccountSid": ACCOUNT_SID,
        "From": caller,
        "To": AGENT_NUMBER,
        "Direction": "inbound",
        "CallStatus": "ringing",
    }
    headers = {"X-Twilio-Signature": twilio_signature(auth_token, url, form)}
    async with httpx.AsyncClient(timeout=30.0) as client:
        response = await client.post(url, data=form, headers=headers)
    instruction = stream_in_twiml(response.text) if response.status_code == 200 else None
    if instruction is None:
        raise CallNotConnected(f"{response.status_code}: {response.text[:200]}")
    return instruction


async def dial(
    base_url: str,
    call_sid: str,
    stream_sid: str | None = None,
    auth_token: str = SIMULATED_AUTH_TOKEN,
    caller: str = CALLER_NUMBER,
) -> SimulatedTwilioCall:
    """An inbound call answered by the orchestrator at ``base_url``: the webhook posted, and the
    phone for its stream (not connected yet: ``connect()`` opens the signed stream)."""
    instruction = await post_voice_webhook(base_url, call_sid, auth_token, caller)
    return SimulatedTwilioCall(
        instruction.url,
        call_sid=call_sid,
        stream_sid=stream_sid or "MZ" + call_sid[2:],
        parameters=instruction.parameters,
        auth_token=auth_token,
    )
