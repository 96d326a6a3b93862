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

from orchestrator.call_event_log import JsonValue
from orchestrator.playout import ChunkPlayout, PlayoutTracker


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
    ERROR = "error"


class CallOutput(Protocol):
    """What a handler may do to the call. Methods are safe to call from any task of the app's loop."""

    @property
    def playout(self) -> PlayoutTracker:
        """What the caller has heard (see orchestrator/playout.py): fully heard chunks, heard_ms."""
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
        """End the call: closes the stream; the TwiML has nothing after <Connect>, so Twilio hangs up."""
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
        """Last call; the output no longer works after it returns."""
        ...


HandlerFactory = Callable[[], CallHandler]
