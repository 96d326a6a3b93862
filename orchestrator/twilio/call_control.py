"""A live call changed over Twilio's REST API: redirected to new TwiML (a transfer), or completed.

The ``twilio`` client is synchronous: each request runs in a worker thread so that the call's event
loop (its audio) never waits on api.twilio.com.
"""

from __future__ import annotations

import asyncio
import logging

from twilio.rest import Client
from twilio.twiml.voice_response import Dial, VoiceResponse

log = logging.getLogger(__name__)


class CallControlFailed(RuntimeError):
    """Twilio refused or did not answer the change (the message says which and why)."""


class CallControl:
    def __init__(self, client: Client) -> None:
        self._client = client

    async def redirect(self, call_sid: str, twiml: str) -> None:
        """The call leaves our stream and runs ``twiml`` instead (``<Dial>``: a cold transfer)."""
        await self._update(call_sid, twiml=twiml)

    async def complete(self, call_sid: str) -> None:
        """Hang the call up (both legs), whatever TwiML it was running."""
        await self._update(call_sid, status="completed")

    async def _update(self, call_sid: str, **changes: str) -> None:
        try:
            await asyncio.to_thread(lambda: self._client.calls(call_sid).update(**changes))
        except Exception as exc:  # the SDK's TwilioRestException, or the network
            raise CallControlFailed(
                f"call {call_sid}: update {sorted(changes)} failed: {exc}"
            ) from exc


def dial_twiml(number: str, caller_id: str = "") -> str:
    """Connect the caller to ``number`` (a transfer to a person); the call ends when they hang up."""
    response = VoiceResponse()
    dial = Dial(caller_id=caller_id) if caller_id else Dial()
    dial.number(number)
    response.append(dial)
    return str(response)
