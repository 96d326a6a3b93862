"""The agent's side of one media stream: chunking, backpressure, marks, clear, heard-audio recording.

``send_audio`` converts to 8 kHz once, cuts the audio into chunks of ``chunk_ms`` and puts them on a
bounded queue (waiting when it is full). ``run`` sends each chunk as one ``media`` message followed by
a ``mark``, but only while the audio already sent and not yet heard stays within ``max_lead_ms``, so a
``clear`` never has much to discard. ``clear`` bypasses the queue.

What the caller heard goes to the recording as it plays (the head chunk up to its elapsed estimate,
the rest when its mark comes back), so the agent channel holds exactly the audio heard before a
``clear``. It is placed the way Twilio plays its buffer, back to back from when each chunk was sent,
not at mark arrival times, so network jitter on the echoes leaves no gaps or overlaps.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from orchestrator.call_handler import ChunkPlayout
from orchestrator.edge_options import OutboundOptions
from orchestrator.twilio import mulaw
from orchestrator.twilio.audio import TWILIO_RATE, OutboundAudio
from orchestrator.twilio.metrics import EdgeMetrics
from orchestrator.twilio.playout import MarkAck, MarkOutcome, PlayoutTracker
from orchestrator.twilio.serializer import clear_message, mark_message, media_message

log = logging.getLogger(__name__)

SendText = Callable[[str], Awaitable[None]]
# (when the chunk started playing, clock seconds; offset into it in samples; the heard samples)
RecordHeard = Callable[[float, int, npt.NDArray[np.int16]], None]


class OutputClosed(RuntimeError):
    """The call's stream has ended; nothing more can be sent."""


@dataclass(frozen=True)
class _Chunk:
    mark: str
    label: str
    pcm8k: npt.NDArray[np.int16]
    generation: int

    @property
    def duration_ms(self) -> float:
        return len(self.pcm8k) * 1000.0 / TWILIO_RATE


class OutboundStream:
    def __init__(
        self,
        stream_sid: str,
        options: OutboundOptions,
        send_text: SendText,
        record_heard: RecordHeard,
        metrics: EdgeMetrics,
        clock: Callable[[], float],
    ) -> None:
        self.tracker = PlayoutTracker(clock)
        self._clock = clock
        self._stream_sid = stream_sid
        self._options = options
        self._send_text = send_text
        self._record_heard = record_heard
        self._metrics = metrics
        self._audio = OutboundAudio(options.resampler_quality)
        self._queue: asyncio.Queue[_Chunk] = asyncio.Queue(options.queue_chunks)
        self._send_lock = asyncio.Lock()
        self._progress = asyncio.Event()  # set on mark acks and clears: the lead may have shrunk
        self._generation = 0  # bumped by clear: queued chunks of older generations are dropped
        self._sequence = 0
        # mark -> (pcm, samples already recorded, where it plays on the clock)
        self._heard_samples: dict[str, tuple[npt.NDArray[np.int16], int, float]] = {}
        self._playout_end = 0.0  # clock time Twilio's buffer runs dry, by the chunks sent so far
        self._closed = False

    # ---- the handler's side (CallOutput) ----------------------------------------------------

    async def send_audio(
        self,
        pcm: npt.NDArray[np.int16] | npt.NDArray[np.float32],
        sample_rate: int,
        label: str,
        *,
        end_of_segment: bool = True,
    ) -> str:
        """Cancel-safe: a cancelled call may have queued some of its chunks."""
        if self._closed:
            raise OutputClosed("the call's media stream has ended")
        started = time.perf_counter()
        pcm8k = self._audio.convert(pcm, sample_rate, end_of_segment)
        self._metrics.codec_seconds.labels("out").observe(time.perf_counter() - started)
        step = self._options.chunk_ms * TWILIO_RATE // 1000
        pieces = [pcm8k[i : i + step] for i in range(0, len(pcm8k), step)] or [pcm8k]
        mark = ""
        for piece in pieces:
            mark = f"{label}#{self._sequence}"
            self._sequence += 1
            chunk = _Chunk(mark, label, piece, self._generation)
            await self._queue.put(chunk)
            self.tracker.chunk_queued(mark, chunk.duration_ms, label)
            self._metrics.outbound_queue_depth.inc()
        return mark

    async def clear(self) -> tuple[ChunkPlayout, ...]:
        self._generation += 1
        self._drain_queue()
        self._audio.reset()
        async with self._send_lock:
            if not self._closed:
                await self._send_text(clear_message(self._stream_sid))
            cut = self.tracker.clear()
        self._playout_end = self._clock()
        for chunk in cut:
            self._write_heard(chunk)
            entry = self._heard_samples.pop(chunk.mark, None)
            if entry is not None and chunk.played_ms > 0:
                self._playout_end = max(self._playout_end, entry[2] + chunk.played_ms / 1000.0)
        self._progress.set()
        return cut

    # ---- the session's side -----------------------------------------------------------------

    async def run(self) -> None:
        """Send queued chunks at most ``max_lead_ms`` ahead of playout. Runs until cancelled."""
        while True:
            chunk = await self._queue.get()
            self._metrics.outbound_queue_depth.dec()
            await self._wait_for_room(chunk.duration_ms)
            async with self._send_lock:
                if chunk.generation != self._generation or self._closed:
                    continue
                started = time.perf_counter()
                payload = mulaw.encode(chunk.pcm8k)
                self._metrics.codec_seconds.labels("out").observe(time.perf_counter() - started)
                if payload:
                    await self._send_text(media_message(self._stream_sid, payload))
                    self._metrics.media_messages_out.inc()
                # Pending before the mark leaves: its echo can come back before this task runs again.
                self.tracker.chunk_sent(chunk.mark)
                await self._send_text(mark_message(self._stream_sid, chunk.mark))
                plays_at = max(self._clock(), self._playout_end)
                self._playout_end = plays_at + chunk.duration_ms / 1000.0
                self._heard_samples[chunk.mark] = (chunk.pcm8k, 0, plays_at)

    def mark_received(self, name: str) -> MarkAck:
        ack = self.tracker.mark_received(name)
        if ack.outcome is MarkOutcome.PLAYED:
            for chunk in ack.played:
                self._write_heard(chunk)
                self._heard_samples.pop(chunk.mark, None)
        self._progress.set()
        return ack

    def record_progress(self) -> None:
        """Write the part of the playing chunk heard so far to the recording."""
        head = self.tracker.head()
        if head is not None:
            self._write_heard(head)

    def close(self) -> None:
        """No more sending; what was heard so far is recorded. Idempotent."""
        if self._closed:
            return
        self.record_progress()
        self._closed = True
        self._drain_queue()

    # ---- internals --------------------------------------------------------------------------

    async def _wait_for_room(self, duration_ms: float) -> None:
        while True:
            ahead = self.tracker.unplayed_ms()
            excess_ms = ahead + duration_ms - self._options.max_lead_ms
            if ahead <= 0 or excess_ms <= 0:
                return
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), timeout=excess_ms / 1000.0)

    def _drain_queue(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()
            self._metrics.outbound_queue_depth.dec()

    def _write_heard(self, chunk: ChunkPlayout) -> None:
        entry = self._heard_samples.get(chunk.mark)
        if entry is None:
            return
        pcm, written, plays_at = entry
        heard = min(len(pcm), round(chunk.played_ms * TWILIO_RATE / 1000.0))
        if heard > written:
            self._record_heard(plays_at, written, pcm[written:heard])
            self._heard_samples[chunk.mark] = (pcm, heard, plays_at)
