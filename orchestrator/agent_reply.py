"""One agent reply in flight: its generation (LLM -> phrase chunker -> TTS, or a canned line) and the
sender that plays it out to the call. The I/O shell around ``ReplyPlayback`` and ``HeardTextTracker``.

Task ownership: a reply owns exactly two tasks, ``generate`` and ``send``; :meth:`AgentReply.cancel`
cancels both and waits for them, which cancels the reply's Triton streams (one per LLM turn, one per
TTS chunk), so the models stop generating. The engine reports what happens through ``post`` (turn-taking
events); nothing here decides what the call does next.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import numpy as np

from orchestrator.call_handler import CallOutput
from orchestrator.heard_text import HeardText, HeardTextTracker
from orchestrator.llm_client import LlmClient
from orchestrator.phrase_chunker import ChunkerParams, PhraseChunker, TextChunk
from orchestrator.reply_playback import FloatArray, ReplyPlayback
from orchestrator.tts_client import ContextTurn, TtsClient
from orchestrator.turn_taking import Event, FirstAudioOut, PlaybackDone, ReplyFailed
from orchestrator.turn_timings import Stage, TurnMarks

log = logging.getLogger(__name__)

# A reply whose last mark never comes back (a stuck or closed stream) still ends: its audio's length
# plus this margin after the last send.
PLAYBACK_GRACE_S = 5.0


@dataclass(frozen=True)
class ReplyServices:
    llm: LlmClient
    tts: TtsClient
    chunker: ChunkerParams


class AgentReply:
    def __init__(
        self,
        reply_id: int,
        call_sid: str,
        output: CallOutput,
        post: Callable[[Event], None],
        marks: TurnMarks,
        now_ms: Callable[[], float],
    ) -> None:
        self.reply_id = reply_id
        self._request_prefix = f"{call_sid}-r{reply_id}"
        self._output = output
        self._post = post
        self._marks = marks
        self._now_ms = now_ms
        self.tracker = HeardTextTracker()
        self.playback = ReplyPlayback()
        self._unheld = asyncio.Event()
        self._unheld.set()
        self._audio_ready = asyncio.Event()
        self._segment = 0  # playout segment: a new one (and label) after each resume
        self._segment_offset_ms = 0.0  # where the current segment starts in the reply's audio
        self._heard_at_clear_ms: float | None = None
        self._played_all = False
        self._tasks: list[asyncio.Task[None]] = []
        self.failed = False

    # ---- starting ----------------------------------------------------------------------------

    def start_llm(self, services: ReplyServices, prompt: str) -> None:
        self._start(self._generate_llm(services, prompt))

    def start_line(self, text: str, audio: FloatArray, sample_rate: int) -> None:
        self._start(self._generate_line(text, audio, sample_rate))

    def _start(self, generation: Coroutine[Any, Any, None]) -> None:
        self._tasks = [
            asyncio.create_task(self._guard(generation), name=f"{self._request_prefix}-generate"),
            asyncio.create_task(self._guard(self._send()), name=f"{self._request_prefix}-send"),
        ]

    # ---- barge-in ----------------------------------------------------------------------------

    def hold(self) -> None:
        """Stop sending (the caller is talking); generation goes on."""
        self._unheld.clear()
        self._audio_ready.set()  # a sender waiting for its last mark re-evaluates

    def note_clear(self) -> None:
        """Twilio's buffer was cleared: remember how far into the reply the caller got."""
        self._heard_at_clear_ms = self._segment_offset_ms + self._output.playout.heard_ms(
            self.label
        )

    def resume(self) -> None:
        """False interruption: play on from the first word the caller did not hear."""
        heard = self.heard()
        self._segment_offset_ms = self.playback.rewind(heard.chunk_index, heard.resume_ms)
        self._segment += 1
        self._heard_at_clear_ms = None
        self._unheld.set()
        self._audio_ready.set()

    def heard(self) -> HeardText:
        """What the caller heard of this reply so far (all of it once playback is done)."""
        if self._played_all:
            heard_ms = float("inf")
        elif self._heard_at_clear_ms is not None:
            heard_ms = self._heard_at_clear_ms
        else:
            heard_ms = self._segment_offset_ms + self._output.playout.heard_ms(self.label)
        return self.tracker.heard(self.tracker.position_at(heard_ms))

    async def cancel(self, timeout_s: float = 2.0) -> None:
        """Cancel generation and sending; returns once both tasks are gone (or ``timeout_s``)."""
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=timeout_s)

    def playout_changed(self) -> None:
        """A mark came back (the sender may be waiting for the last one)."""
        self._audio_ready.set()

    @property
    def label(self) -> str:
        return f"{self._request_prefix}-s{self._segment}"

    # ---- generation --------------------------------------------------------------------------

    async def _generate_llm(self, services: ReplyServices, prompt: str) -> None:
        chunks: asyncio.Queue[TextChunk | None] = asyncio.Queue()
        async with asyncio.TaskGroup() as group:
            group.create_task(self._llm_to_chunks(services, prompt, chunks))
            group.create_task(self._chunks_to_speech(services.tts, chunks))
        self._generation_done()

    async def _llm_to_chunks(
        self, services: ReplyServices, prompt: str, chunks: asyncio.Queue[TextChunk | None]
    ) -> None:
        chunker = PhraseChunker(services.chunker)
        self._marks.mark(Stage.LLM_REQUESTED, self._now_ms())
        try:
            async for delta in services.llm.stream(
                prompt, request_id=f"{self._request_prefix}-llm"
            ):
                self._marks.mark(Stage.LLM_FIRST_TOKEN, self._now_ms())
                for chunk in chunker.push(delta.text):
                    chunks.put_nowait(chunk)
            for chunk in chunker.flush():
                chunks.put_nowait(chunk)
        finally:
            chunks.put_nowait(None)

    async def _chunks_to_speech(
        self, tts: TtsClient, chunks: asyncio.Queue[TextChunk | None]
    ) -> None:
        while (chunk := await chunks.get()) is not None:
            index = self.tracker.add_chunk(chunk.text)
            self.playback.add_chunk()
            context = self._previous_chunk_context(index, tts.speaker_id)
            self._marks.mark(Stage.TTS_REQUESTED, self._now_ms())
            request_id = f"{self._request_prefix}-tts{index}"
            async for speech in tts.speak(chunk.text, context, request_id=request_id):
                self._marks.mark(Stage.TTS_FIRST_AUDIO, self._now_ms())
                self.tracker.add_audio(index, speech.duration_ms)
                self.playback.add_audio(index, speech.audio, speech.sample_rate)
                self._audio_ready.set()
            self.tracker.finish_chunk(index)
            self.playback.finish_chunk(index)
            self._audio_ready.set()
            audio_ms = self.tracker.chunk_audio_ms(index)
            self._output.log_event(
                "tts_chunk",
                {
                    "reply_id": self.reply_id,
                    "index": index,
                    "text": chunk.text,
                    "audio_ms": audio_ms,
                },
            )

    def _previous_chunk_context(self, index: int, speaker: int) -> list[ContextTurn]:
        """The reply's previous chunk, text and audio: what CSM conditions this chunk's prosody on."""
        if index == 0 or self.playback.sample_rate is None:
            return []
        audio = self.playback.chunk_audio(index - 1)
        if audio.size == 0:
            return []
        text = self.tracker.chunk_text(index - 1)
        return [ContextTurn(text, speaker, audio, self.playback.sample_rate)]

    async def _generate_line(self, text: str, audio: FloatArray, sample_rate: int) -> None:
        index = self.tracker.add_chunk(text)
        self.playback.add_chunk()
        self.tracker.add_audio(index, 1000.0 * audio.size / sample_rate)
        self.playback.add_audio(index, audio, sample_rate)
        self.tracker.finish_chunk(index)
        self.playback.finish_chunk(index)
        self._generation_done()

    def _generation_done(self) -> None:
        self.playback.generation_done = True
        self._audio_ready.set()

    # ---- sending -----------------------------------------------------------------------------

    async def _send(self) -> None:
        """Send the reply as it is synthesised; after a resume, send again from the rewound cursor."""
        sent_any = False
        while True:
            segment = self._segment
            last_mark = await self._send_available(first=not sent_any)
            sent_any = sent_any or last_mark is not None
            if not sent_any:  # nothing to say (an empty answer)
                break
            rate = self.playback.sample_rate or 16_000
            flush = np.zeros(0, np.float32)  # ends the segment: the resampler's tail goes out too
            last_mark = await self._output.send_audio(flush, rate, self.label, end_of_segment=True)
            if await self._wait_played(last_mark, segment):
                # The last mark came back: the caller heard it all (the played-ms estimate can fall
                # a few ms short of the TTS audio: resampler edges).
                self._played_all = True
                break
        self._post(PlaybackDone(self.reply_id))

    async def _send_available(self, first: bool) -> str | None:
        """Send until everything generated is out; the last mark sent, if any."""
        last_mark: str | None = None
        while True:
            await self._unheld.wait()
            piece = self.playback.take()
            if piece is None:
                if self.playback.finished:
                    return last_mark
                self._audio_ready.clear()
                await self._audio_ready.wait()
                continue
            rate = self.playback.sample_rate or 16_000
            last_mark = await self._output.send_audio(
                piece.audio, rate, self.label, end_of_segment=False
            )
            if first:
                first = False
                self._marks.mark(Stage.FIRST_BYTE_SENT, self._now_ms())
                self._post(FirstAudioOut(self.reply_id))

    async def _wait_played(self, mark: str, segment: int) -> bool:
        """True once ``mark`` was heard (or never will be: see PLAYBACK_GRACE_S); False when a
        resume started a new segment to send."""
        while self._segment == segment:
            timeout: float | None = None  # while held, wait for cancel or resume
            if self._unheld.is_set():
                try:
                    if self._output.playout.chunk(mark).fully_played:
                        return True
                except KeyError:
                    return True
                timeout = self._output.playout.unplayed_ms() / 1000.0 + PLAYBACK_GRACE_S
            self._audio_ready.clear()
            try:
                async with asyncio.timeout(timeout):
                    await self._audio_ready.wait()
            except TimeoutError:
                log.warning("reply %s: last mark never came back", self._request_prefix)
                return True
        return False

    async def _guard(self, work: Coroutine[Any, Any, None]) -> None:
        """Run one of the reply's tasks; a failure ends the reply (turn-taking plays the apology)."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("reply %s failed", self._request_prefix)
            if not self.failed:
                self.failed = True
                self._post(ReplyFailed(self.reply_id))
                for task in self._tasks:
                    if task is not asyncio.current_task():
                        task.cancel()
