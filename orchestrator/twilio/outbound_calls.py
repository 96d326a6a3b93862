"""Outbound calls: place them with the Twilio REST client and act on answering-machine detection.

A call is created with inline TwiML that ``<Connect><Stream>``s it to us, plus Twilio's async AMD:
the call connects at once and Twilio posts ``AnsweredBy`` to our AMD callback later. The per-call
policy then decides: on a machine, hang up, or (``leave_message``, which asks AMD to wait for the
end of the greeting) replace the call's TwiML with the message and a hang-up, spoken after the beep.
Policies live in memory: after a restart a pending call's AMD result falls back to ``hang_up``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from enum import Enum

from twilio.rest import Client

from orchestrator.twilio.webhooks import connect_stream_twiml, say_and_hang_up_twiml

log = logging.getLogger(__name__)

AMD_CALLBACK_PATH = "/twilio/amd"
STATUS_CALLBACK_PATH = "/twilio/status"
MACHINE_ANSWERS = frozenset(
    {"machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax"}
)


class MachinePolicy(Enum):
    HANG_UP = "hang_up"
    LEAVE_MESSAGE = "leave_message"


class AmdAction(Enum):
    NONE = "none"  # a human (or unknown): the conversation goes on
    WAIT = "wait"  # a machine's greeting is still playing; the beep result follows
    HANG_UP = "hang_up"
    LEAVE_MESSAGE = "leave_message"


@dataclass(frozen=True)
class OutboundCallRequest:
    to: str
    machine_policy: MachinePolicy = MachinePolicy.HANG_UP
    message: str | None = None  # None: the configured machine_message
    parameters: dict[str, str] = field(default_factory=dict)  # passed to the stream as <Parameter>s


def amd_action(answered_by: str, policy: MachinePolicy) -> AmdAction:
    if answered_by not in MACHINE_ANSWERS:
        return AmdAction.NONE
    if answered_by == "fax" or policy is MachinePolicy.HANG_UP:
        return AmdAction.HANG_UP
    if answered_by == "machine_start":
        return AmdAction.WAIT
    return AmdAction.LEAVE_MESSAGE


class OutboundCalls:
    def __init__(self, client: Client, from_number: str, default_message: str) -> None:
        self._client = client
        self._from_number = from_number
        self._default_message = default_message
        self._policies: dict[str, tuple[MachinePolicy, str]] = {}

    async def place(self, request: OutboundCallRequest, stream_url: str, base_url: str) -> str:
        """Create the call (a blocking REST request, run in a thread); returns its Call SID."""
        parameters = {"direction": "outbound", "to": request.to, **request.parameters}
        detection = (
            "DetectMessageEnd"
            if request.machine_policy is MachinePolicy.LEAVE_MESSAGE
            else "Enable"
        )
        call = await asyncio.to_thread(
            self._client.calls.create,
            to=request.to,
            from_=self._from_number,
            twiml=connect_stream_twiml(stream_url, parameters),
            machine_detection=detection,
            async_amd="true",
            async_amd_status_callback=base_url + AMD_CALLBACK_PATH,
            async_amd_status_callback_method="POST",
            status_callback=base_url + STATUS_CALLBACK_PATH,
            status_callback_event=["initiated", "ringing", "answered", "completed"],
        )
        sid = str(call.sid)
        message = request.message if request.message is not None else self._default_message
        self._policies[sid] = (request.machine_policy, message)
        log.info(
            "placed call %s to %s (machine policy %s)", sid, request.to, request.machine_policy
        )
        return sid

    async def on_amd_result(self, call_sid: str, answered_by: str) -> AmdAction:
        policy, message = self._policies.get(
            call_sid, (MachinePolicy.HANG_UP, self._default_message)
        )
        action = amd_action(answered_by, policy)
        log.info("call %s answered by %s: %s", call_sid, answered_by, action.value)
        if action is AmdAction.HANG_UP:
            await asyncio.to_thread(self._client.calls(call_sid).update, status="completed")
        elif action is AmdAction.LEAVE_MESSAGE:
            twiml = say_and_hang_up_twiml(message)
            await asyncio.to_thread(self._client.calls(call_sid).update, twiml=twiml)
        if action in (AmdAction.NONE, AmdAction.HANG_UP, AmdAction.LEAVE_MESSAGE):
            self._policies.pop(call_sid, None)
        return action
