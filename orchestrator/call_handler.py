"""The contract between the Twilio edge and whatever conducts the call (the conversation engine).

The edge owns the phone side: WebSocket, codec, playout truth, recording. Per call it builds a
``CallHandler`` with the app's ``HandlerFactory`` and calls it; the handler talks back through the
``CallOutput`` it gets in ``on_start``.

Every ``on_*`` method is awaited inline by the call's receive loop, in order: it must return quickly
(hand heavy work to its own tasks) or it delays the caller's audio.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

import numpy as np
import numpy.typing as npt

JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]


@dataclass(frozen=True)
class CallInfo:
    call_sid: str
    stream_sid: str
    account_sid: str
    custom_parameters: Mapping[str, str] = field(default_factory=dict)  # <Parameter>s of the TwiML


class StopReason(Enum):
    STOPPED = "stopped"  # Twilio sent ``stop`` (caller hung up, call ended)
    DISCONNECTED = "disconnected"  # the WebSocket closed without ``stop``
    HUNG_UP = "hung_up"  # the handler called ``CallOutput.hang_up``
    TRANSFERRED = (
        "transferred"  # the handler called ``CallOutput.transfer``: a person took the call
    )
    REFUSED = "refused"  # the edge closed a stream that broke its rules (flooding media)
    ERROR = "error"


class ChunkState(Enum):
    QUEUED = "queued"  # accepted, not yet sent to Twilio
    PENDING = "pending"  # sent, mark not yet echoed (playing or waiting in Twilio's buffer)
    PLAYED = "played"  # mark echoed: heard in full
    CLEARED = "cleared"  # dropped by a clear; played_ms is what was heard of it


@dataclass(frozen=True)
class ChunkPlayout:
    """One outbound chunk as the caller heard it (a snapshot)."""

    mark: str
    label: str
    duration_ms: float
    state: ChunkState
    played_ms: float
    started_at: float | None  # clock seconds when it began playing; None if it never did

    @property
    def fully_played(self) -> bool:
        return self.state is ChunkState.PLAYED


class Playout(Protocol):
    """What the caller has heard so far, from Twilio's mark echoes and the elapsed time."""

    def chunk(self, mark: str) -> ChunkPlayout:
        """The chunk's playout now. KeyError for a mark never sent."""
        ...

    def heard_ms(self, label: str) -> float:
        """How much of everything sent under ``label`` the caller has heard so far."""
        ...

    def unplayed_ms(self) -> float:
        """Audio sent but not yet heard: how far ahead of real time the sender is."""
        ...


class CallOutput(Protocol):
    """What a handler may do to the call. Methods are safe to call from any task of the app's loop."""

    @property
    def playout(self) -> Playout:
        """What the caller has heard: fully heard chunks, heard_ms per label."""
        ...

    async def send_audio(
        self,
        pcm: npt.NDArray[np.int16] | npt.NDArray[np.float32],
        sample_rate: int,
        label: str,
        *,
        end_of_segment: bool = True,
    ) -> str:
        """Queue agent audio (int16, or float in [-1, 1]) at any rate; returns the mark name of its
        last chunk (``playout.chunk(mark)`` tells when it was heard). Waits while the outbound queue
        is full (backpressure). ``label`` groups chunks (e.g. one reply) for
        ``playout.heard_ms(label)``. Pass ``end_of_segment=False`` while streaming one utterance in
        pieces: the resampler then keeps its state across the pieces instead of flushing."""
        ...

    async def clear(self) -> tuple[ChunkPlayout, ...]:
        """Barge-in: drop queued audio and send Twilio ``clear`` now. Returns the chunks cut, each
        with what the caller heard of it."""
        ...

    async def hang_up(self) -> None:
        """End the call: completed over Twilio's REST API when the app has a client, and the stream
        closed (the TwiML has nothing after <Connect>, so Twilio hangs up even without REST)."""
        ...

    async def transfer(self, number: str) -> None:
        """Hand the caller to a person: the live call is redirected over Twilio's REST API to TwiML
        that dials ``number``, and this stream ends (``StopReason.TRANSFERRED``). Raises
        ``CallControlFailed`` (and keeps the call) when there is no REST client or Twilio refuses."""
        ...

    def log_event(self, event: str, fields: Mapping[str, JsonValue] | None = None) -> None:
        """Add a line to the call's JSONL log (turns, per-stage timings...), stamped with the call
        clock."""
        ...


class CallHandler(Protocol):
    async def on_start(self, call: CallInfo, output: CallOutput) -> None: ...

    async def on_audio(self, pcm16k: npt.NDArray[np.int16]) -> None:
        """Caller audio, int16 mono 16 kHz, in order, one piece per inbound 20 ms frame (the
        resampler's lag makes the first pieces short or empty)."""
        ...

    async def on_dtmf(self, digit: str) -> None: ...

    async def on_mark_played(self, chunk: ChunkPlayout) -> None:
        """A chunk the caller has now heard in full (not called for chunks dropped by clear)."""
        ...

    async def on_stop(self, reason: StopReason) -> None:
        """Last call, once the stream is over: nothing more reaches the caller (``send_audio``
        raises ``OutputClosed``, ``clear`` sends nothing but still returns what was heard of the
        chunks it cuts). ``playout`` and ``log_event`` work until it returns; then the recording and
        the event log are closed."""
        ...


HandlerFactory = Callable[[], CallHandler]
