"""One agent reply in flight: its generation (LLM -> phrase chunker -> TTS, or a canned line) and the
sender that plays it out to the call, with the reply's :class:`ReplyLedger` between them.

State: a speculative reply starts ``PENDING`` (generating and synthesising, nothing sent, until the
caller's turn is confirmed over: :meth:`AgentReply.release`); then ``PLAYING`` (audio goes out as it is
synthesised) -> ``HELD`` by a barge-in (nothing is sent, generation goes on) -> ``PLAYING`` again after
a false interruption, from the first unheard word; or ``ENDED`` (played out, failed or cancelled).
:meth:`AgentReply.barge_in` is the one way in to ``HELD``; what the caller heard is frozen there until
:meth:`~AgentReply.resume`.

Task ownership: a reply owns its ``send`` task and, for an LLM answer, its ``generate`` task;
:meth:`AgentReply.cancel` cancels them and waits for them, which cancels the reply's model requests (one per LLM turn, one per
TTS chunk), so the models stop generating. The reply reports what happens through ``post`` (turn-taking
events); nothing here decides what the call does next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from orchestrator.call_handler import CallOutput
from orchestrator.conversation.answer_guard import AnswerGuard, AnswerGuardParams
from orchestrator.conversation.heard_text import HeardText
from orchestrator.conversation.phrase_chunker import ChunkerParams, PhraseChunker, TextChunk
from orchestrator.conversation.reply_ledger import ReplyLedger
from orchestrator.conversation.timings import Stage, TurnMarks
from orchestrator.conversation.turn_taking import Event, FirstAudioOut, PlaybackDone, ReplyFailed
from orchestrator.engine.canned_lines import LineAudio
from orchestrator.engine.models import Models
from orchestrator.engine.spoken_answer import spoken_chunks
from orchestrator.triton.llm_client import LlmDelta
from orchestrator.triton.tts_client import ContextTurn

log = logging.getLogger(__name__)

# A reply whose last mark never comes back (a stuck or closed stream) still ends: its audio's length
# plus this margin after the last send.
PLAYBACK_GRACE_S = 5.0
FALLBACK_RATE = 16_000  # the rate to flush at when nothing was synthesised


class ReplyState(Enum):
    PENDING = "pending"  # speculative: generating, nothing sent until released
    PLAYING = "playing"  # audio goes out as it is synthesised
    HELD = "held"  # the caller barged in: nothing is sent; generation goes on
    ENDED = "ended"  # played out, failed or cancelled


@dataclass(frozen=True)
class Live:
    """What the caller heard is read off the playout as it plays."""


@dataclass(frozen=True)
class Frozen:
    """Held by a barge-in: what was heard up to the clear, in ms of the reply's audio."""

    ms: float


@dataclass(frozen=True)
class PlayedOut:
    """The reply's last mark came back: the caller heard all of it."""


Hearing = Live | Frozen | PlayedOut


class Changed:
    """Wakes the reply's waiters when its state, ledger or playout changes; each waiter re-checks
    the condition it waits for."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait_for(self, condition: Callable[[], bool], timeout_s: float | None = None) -> None:
        """Return once ``condition()`` holds; TimeoutError after ``timeout_s``."""
        async with asyncio.timeout(timeout_s):
            while not condition():
                await self._event.wait()


class AgentReply:
    def __init__(
        self,
        reply_id: int,
        call_sid: str,
        output: CallOutput,
        post: Callable[[Event], None],
        marks: TurnMarks | None,
        now_ms: Callable[[], float],
        speculative: bool = False,
    ) -> None:
        self.reply_id = reply_id
        self.ledger = ReplyLedger()
        self.state = ReplyState.PENDING if speculative else ReplyState.PLAYING
        self.speculative = speculative  # started before the caller's turn was over, not released
        # The stage times of the caller's turn it answers; None for a canned line (not a turn).
        self.marks = marks
        self.llm_tokens = 0  # generated so far (what a cancelled speculation wasted)
        self._request_prefix = f"{call_sid}-r{reply_id}"
        self._output = output
        self._post = post
        self._now_ms = now_ms
        self._changed = Changed()
        self._segment = 0  # playout segment: a new one (and label) after each resume
        self._segment_offset_ms = 0.0  # where the current segment starts in the reply's audio
        self._hearing: Hearing = Live()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def label(self) -> str:
        """The playout label of the current segment (``CallOutput.playout.heard_ms(label)``)."""
        return f"{self._request_prefix}-s{self._segment}"

    # ---- starting ----------------------------------------------------------------------------

    def start_llm(
        self,
        models: Models,
        chunker: ChunkerParams,
        prompt: str,
        guard: AnswerGuardParams,
    ) -> None:
        self._start(self._generate_llm(models, chunker, prompt, AnswerGuard(guard)))

    def start_line(self, line: LineAudio) -> None:
        index = self.ledger.add_chunk(line.text)
        self.ledger.add_audio(index, line.audio, line.sample_rate)
        self.ledger.finish_chunk(index)
        self.ledger.finish_generation()
        self._start(None)

    def _start(self, generation: Coroutine[Any, Any, None] | None) -> None:
        if generation is not None:
            name = f"{self._request_prefix}-generate"
            self._tasks.append(asyncio.create_task(self._guard(generation), name=name))
        name = f"{self._request_prefix}-send"
        self._tasks.append(asyncio.create_task(self._guard(self._send()), name=name))

    def release(self) -> None:
        """The caller's turn is over: send the speculative reply (its audio is often ready)."""
        self.speculative = False
        if self.state is ReplyState.PENDING:
            self._set_state(ReplyState.PLAYING)

    # ---- barge-in ----------------------------------------------------------------------------

    async def barge_in(self) -> None:
        """The caller talks over the reply: stop sending, clear Twilio's buffer, and keep what the
        caller heard up to the clear. Generation goes on until :meth:`cancel` or :meth:`resume`."""
        self._set_state(ReplyState.HELD)
        await self._output.clear()
        self._hearing = Frozen(self._playing_heard_ms())

    def resume(self) -> None:
        """False interruption: play on from the first word the caller did not hear."""
        heard = self.heard()
        self._segment_offset_ms = self.ledger.rewind(heard.chunk_index, heard.resume_ms)
        self._segment += 1
        self._hearing = Live()
        self._set_state(ReplyState.PLAYING)

    def heard(self) -> HeardText:
        """What the caller heard of this reply so far (all of it once played out)."""
        match self._hearing:
            case Live():
                return self.ledger.heard(self._playing_heard_ms())
            case Frozen(ms=ms):
                return self.ledger.heard(ms)
            case PlayedOut():
                return self.ledger.heard(float("inf"))

    async def cancel(self, timeout_s: float = 2.0) -> None:
        """Cancel generation and sending; returns once both tasks are gone (or ``timeout_s``)."""
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=timeout_s)
        self._set_state(ReplyState.ENDED)

    def playout_changed(self) -> None:
        """A mark came back (the sender may be waiting for the last one)."""
        self._changed.notify()

    def _playing_heard_ms(self) -> float:
        return self._segment_offset_ms + self._output.playout.heard_ms(self.label)

    def _set_state(self, state: ReplyState) -> None:
        self.state = state
        self._changed.notify()

    def _mark(self, stage: Stage) -> None:
        if self.marks is not None:
            self.marks.mark(stage, self._now_ms())

    # ---- generation --------------------------------------------------------------------------

    async def _generate_llm(
        self, models: Models, chunker: ChunkerParams, prompt: str, guard: AnswerGuard
    ) -> None:
        chunks: asyncio.Queue[TextChunk | None] = asyncio.Queue()
        async with asyncio.TaskGroup() as group:
            group.create_task(
                self._llm_to_chunks(models, PhraseChunker(chunker), guard, prompt, chunks)
            )
            group.create_task(self._chunks_to_speech(models, chunks))
        self.ledger.finish_generation()
        self._changed.notify()

    async def _llm_to_chunks(
        self,
        models: Models,
        chunker: PhraseChunker,
        guard: AnswerGuard,
        prompt: str,
        chunks: asyncio.Queue[TextChunk | None],
    ) -> None:
        """LLM deltas -> the chunks the caller will hear; the guard ending the answer closes the
        LLM stream (the server stops generating)."""

        def on_delta(delta: LlmDelta) -> None:
            self._mark(Stage.LLM_FIRST_TOKEN)
            self.llm_tokens += delta.tokens

        self._mark(Stage.LLM_REQUESTED)
        request_id = f"{self._request_prefix}-llm"
        try:
            async with contextlib.aclosing(models.generate(prompt, request_id)) as deltas:
                async for chunk in spoken_chunks(deltas, chunker, guard, on_delta):
                    chunks.put_nowait(chunk)
            if guard.stopped_by:
                log.info("answer ended by the guard (%s)", guard.stopped_by)
        finally:
            chunks.put_nowait(None)

    async def _chunks_to_speech(
        self, models: Models, chunks: asyncio.Queue[TextChunk | None]
    ) -> None:
        ledger = self.ledger
        while (chunk := await chunks.get()) is not None:
            index = ledger.add_chunk(chunk.text)
            context = self._previous_chunk_context(index, models.speaker_id)
            self._mark(Stage.TTS_REQUESTED)
            request_id = f"{self._request_prefix}-tts{index}"
            async for speech in models.speak(chunk.text, context, request_id=request_id):
                self._mark(Stage.TTS_FIRST_AUDIO)
                ledger.add_audio(index, speech.audio, speech.sample_rate)
                self._changed.notify()
            ledger.finish_chunk(index)
            self._changed.notify()
            self._output.log_event(
                "tts_chunk",
                {
                    "reply_id": self.reply_id,
                    "index": index,
                    "text": chunk.text,
                    "audio_ms": ledger.chunk_audio_ms(index),
                },
            )

    def _previous_chunk_context(self, index: int, speaker: int) -> list[ContextTurn]:
        """The reply's previous chunk, text and audio: what CSM conditions this chunk's prosody on."""
        rate = self.ledger.sample_rate
        if index == 0 or rate is None:
            return []
        audio = self.ledger.chunk_audio(index - 1)
        if audio.size == 0:
            return []
        return [ContextTurn(self.ledger.chunk_text(index - 1), speaker, audio, rate)]

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
            rate = self.ledger.sample_rate or FALLBACK_RATE
            flush = np.zeros(0, np.float32)  # ends the segment: the resampler's tail goes out too
            last_mark = await self._output.send_audio(flush, rate, self.label, end_of_segment=True)
            if await self._wait_played(last_mark, segment):
                # The last mark came back: the caller heard it all (the played-ms estimate can fall
                # a few ms short of the TTS audio: resampler edges).
                self._hearing = PlayedOut()
                break
        self._set_state(ReplyState.ENDED)
        self._post(PlaybackDone(self.reply_id))

    async def _send_available(self, first: bool) -> str | None:
        """Send until everything generated is out; the last mark sent, if any."""
        ledger = self.ledger
        last_mark: str | None = None
        while True:
            await self._changed.wait_for(
                lambda: (
                    self.state is ReplyState.PLAYING and (ledger.has_unsent() or ledger.finished)
                )
            )
            piece = ledger.take()
            if piece is None:  # finished
                return last_mark
            rate = ledger.sample_rate or FALLBACK_RATE
            last_mark = await self._output.send_audio(
                piece.audio, rate, self.label, end_of_segment=False
            )
            if first:
                first = False
                self._mark(Stage.FIRST_BYTE_SENT)
                self._post(FirstAudioOut(self.reply_id))

    async def _wait_played(self, mark: str, segment: int) -> bool:
        """True once ``mark`` was heard (or never will be: see PLAYBACK_GRACE_S); False when a
        resume started a new segment to send."""
        while self._segment == segment:
            if self.state is ReplyState.HELD:  # until cancelled or resumed
                await self._changed.wait_for(lambda: self.state is not ReplyState.HELD)
                continue
            if self._heard_in_full(mark):
                return True
            # Audio still queued toward Twilio is not in the playout yet: wait for the reply's own
            # unheard audio, not just what was sent (a long answer was declared heard too early).
            unheard_ms = max(
                self._output.playout.unplayed_ms(), self.ledger.audio_ms - self._playing_heard_ms()
            )
            timeout_s = unheard_ms / 1000.0 + PLAYBACK_GRACE_S
            try:
                await self._changed.wait_for(
                    lambda: self.state is ReplyState.HELD or self._heard_in_full(mark), timeout_s
                )
            except TimeoutError:
                log.warning("reply %s: last mark never came back", self._request_prefix)
                return True
        return False

    def _heard_in_full(self, mark: str) -> bool:
        try:
            return self._output.playout.chunk(mark).fully_played
        except KeyError:  # not this stream's any more (cleared and forgotten)
            return True

    async def _guard(self, work: Coroutine[Any, Any, None]) -> None:
        """Run one of the reply's tasks; a failure ends the reply (turn-taking plays the apology)."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("reply %s failed", self._request_prefix)
            if self.state is not ReplyState.ENDED:  # the first failure ends the reply
                self._set_state(ReplyState.ENDED)
                self._post(ReplyFailed(self.reply_id))
                for task in self._tasks:
                    if task is not asyncio.current_task():
                        task.cancel()
