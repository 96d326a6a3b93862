"""A ``CallHandler`` that records what the edge delivers, for tests and the edge benchmark; the
caller of the test drives the call's output directly."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from orchestrator.call_handler import CallInfo, CallOutput, ChunkPlayout, StopReason


@dataclass
class RecordingHandler:
    calls: list[str] = field(default_factory=list)  # every callback, in order, as a line of text
    audio: list[npt.NDArray[np.int16]] = field(default_factory=list)
    audio_times: list[float] = field(default_factory=list)  # perf_counter() at each on_audio
    digits: list[str] = field(default_factory=list)
    marks_played: list[ChunkPlayout] = field(default_factory=list)
    output: CallOutput | None = None
    started: asyncio.Event = field(default_factory=asyncio.Event)
    stop_reason: StopReason | None = None
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    _mark_arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def on_start(self, call: CallInfo, output: CallOutput) -> None:
        self.calls.append(f"start {call.call_sid} {dict(call.custom_parameters)}")
        self.output = output
        self.started.set()

    async def on_audio(self, pcm16k: npt.NDArray[np.int16]) -> None:
        self.calls.append(f"audio {len(pcm16k)}")
        self.audio.append(pcm16k)
        self.audio_times.append(time.perf_counter())

    async def on_dtmf(self, digit: str) -> None:
        self.calls.append(f"dtmf {digit}")
        self.digits.append(digit)

    async def on_mark_played(self, chunk: ChunkPlayout) -> None:
        self.calls.append(f"played {chunk.mark}")
        self.marks_played.append(chunk)
        self._mark_arrived.set()

    async def on_stop(self, reason: StopReason) -> None:
        self.calls.append(f"stop {reason.value}")
        self.stop_reason = reason
        self.stopped.set()

    async def started_output(self, timeout_s: float = 5.0) -> CallOutput:
        """The call's output, once ``start`` has arrived."""
        await asyncio.wait_for(self.started.wait(), timeout_s)
        assert self.output is not None
        return self.output

    async def played(self, mark: str, timeout_s: float = 5.0) -> None:
        """Returns once the chunk with ``mark`` has been heard in full."""
        assert self.output is not None
        while not self.output.playout.chunk(mark).fully_played:
            self._mark_arrived.clear()
            await asyncio.wait_for(self._mark_arrived.wait(), timeout_s)
