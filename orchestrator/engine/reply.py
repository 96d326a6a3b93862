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

from orchestrator.call_handler import CallOutput, JsonValue
from orchestrator.conversation.answer_guard import AnswerGuard, AnswerGuardParams
from orchestrator.conversation.heard_text import HeardText
from orchestrator.conversation.phrase_chunker import ChunkerParams, PhraseChunker, TextChunk
from orchestrator.conversation.reply_ledger import ReplyLedger
from orchestrator.conversation.timings import Stage, TurnMarks
from orchestrator.conversation.tool_calls import CallMalformed, CallsParsed, ToolCallParser
from orchestrator.conversation.tool_guidance import NONE
from orchestrator.conversation.tool_specs import ToolCall, ToolResult
from orchestrator.conversation.turn_taking import (
    CallEndRequested,
    Ending,
    Event,
    FirstAudioOut,
    PlaybackDone,
    ReplyFailed,
)
from orchestrator.engine.canned_lines import LineAudio
from orchestrator.engine.models import Models
from orchestrator.engine.spoken_answer import spoken_chunks
from orchestrator.engine.tool_rounds import ToolExchange, ToolUse, finish_call, speakable
from orchestrator.engine.tool_runner import ToolOutcome
from orchestrator.triton.llm_client import LlmDelta
from orchestrator.triton.tts_client import ContextTurn

log = logging.getLogger(__name__)

# A reply whose last mark never comes back (a stuck or closed stream) still ends: its audio's length
# plus this margin after the last send.
PLAYBACK_GRACE_S = 5.0
FALLBACK_RATE = 16_000  # the rate to flush at when nothing was synthesised
# The played-ms estimate can fall a few ms short of the audio (resampler edges).
HEARD_SLACK_MS = 30.0


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
        # Tools: the reply's rounds (what the engine stores), the chunks queued for the TTS (their
        # ledger indices, in order), the longest a running call that must not be cut can take.
        self.exchanges: list[ToolExchange] = []
        self.committed = False  # stored in the history (the engine's, once)
        self._queued = 0
        self._uncancellable_s = 0.0
        self._released_ms = now_ms()  # when the caller's turn ended (reset on release)
        self._round = 0  # the tool round being generated
        self._round_filler = False  # the filler was said in this round
        self._calling_since_ms: float | None = None  # a call is being written or run since
        self._answer_audio_out = False  # tool_answer_audio was logged
        self._said_words = False  # the model's words were queued (not only a filler or a line)

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
        tools: ToolUse | None = None,
    ) -> None:
        self._start(self._generate_llm(models, chunker, prompt, guard, tools))

    def start_line(self, line: LineAudio) -> None:
        self._add_line(line)
        self.ledger.finish_generation()
        self._start(None)

    def _add_line(self, line: LineAudio) -> None:
        """A pre-synthesised line (a canned line, the filler) as a chunk of the reply."""
        index = self.ledger.add_chunk(line.text)
        self.ledger.add_audio(index, line.audio, line.sample_rate)
        self.ledger.finish_chunk(index)

    def _start(self, generation: Coroutine[Any, Any, None] | None) -> None:
        if generation is not None:
            name = f"{self._request_prefix}-generate"
            self._tasks.append(asyncio.create_task(self._guard(generation), name=name))
        name = f"{self._request_prefix}-send"
        self._tasks.append(asyncio.create_task(self._guard(self._send()), name=name))

    def release(self) -> None:
        """The caller's turn is over: send the speculative reply (its audio is often ready)."""
        self.speculative = False
        self._released_ms = self._now_ms()
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
        return self.ledger.heard(self._heard_ms())

    def heard_parts(self) -> list[HeardText]:
        """What the caller heard of the words before each tool round, then of the answer."""
        return self.ledger.heard_parts(self._heard_ms(), [e.end_chunk for e in self.exchanges])

    def _heard_ms(self) -> float:
        match self._hearing:
            case Live():
                return self._playing_heard_ms()
            case Frozen(ms=ms):
                return ms
            case PlayedOut():
                return float("inf")

    async def cancel(self, timeout_s: float = 2.0) -> None:
        """Cancel generation and sending; returns once both tasks are gone (or ``timeout_s``, or
        longer while a tool that must not be cut, a booking, finishes: its result is kept)."""
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=max(timeout_s, self._uncancellable_s + 1.0))
        self._set_state(ReplyState.ENDED)

    def playout_changed(self) -> None:
        """A mark came back (the sender may be waiting for the last one)."""
        self._changed.notify()

    def time_passed(self) -> None:
        """The call's clock moved (a VAD window): a filler may be due."""
        if self._calling_since_ms is not None:
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
        self,
        models: Models,
        chunker: ChunkerParams,
        prompt: str,
        guard: AnswerGuardParams,
        tools: ToolUse | None,
    ) -> None:
        chunks: asyncio.Queue[TextChunk | LineAudio | None] = asyncio.Queue()
        async with asyncio.TaskGroup() as group:
            group.create_task(self._rounds(models, chunker, guard, prompt, tools, chunks))
            group.create_task(self._chunks_to_speech(models, chunks))
        self.ledger.finish_generation()
        self._changed.notify()

    async def _rounds(
        self,
        models: Models,
        chunker: ChunkerParams,
        guard: AnswerGuardParams,
        prompt: str,
        tools: ToolUse | None,
        chunks: asyncio.Queue[TextChunk | LineAudio | None],
    ) -> None:
        """The answer, and with tools, each call the model writes run and the model asked again."""
        filler: asyncio.Task[None] | None = None
        if tools is not None and tools.filler is not None:
            filler = asyncio.create_task(self._fillers(tools, tools.filler, chunks))
        try:
            rounds = tools.max_rounds if tools is not None else 0
            call_number = tools.first_call_number if tools is not None else 1
            for round_index in range(rounds + 1):
                self._round, self._round_filler, self._calling_since_ms = round_index, False, None
                parser = tools.parser(call_number) if tools is not None else None
                found: list[CallsParsed | CallMalformed] = []
                words = await self._llm_to_chunks(
                    models, chunker, guard, prompt, tools, parser, found, chunks, round_index
                )
                if not found or tools is None or parser is None:
                    return
                call_number = parser.next_call_number
                written = found[0]
                if isinstance(written, CallMalformed) or round_index == rounds:
                    reason = (
                        written.reason
                        if isinstance(written, CallMalformed)
                        else f"more than {rounds} rounds of tool calls"
                    )
                    self._tool_call_refused(reason, tools, chunks)
                    return
                ending = await self._run_calls(tools, written.calls, words, chunks)
                if ending is not None:
                    self._end_call(ending, tools, chunks)
                    return
                prompt = tools.next_prompt(self.exchanges)
        finally:
            self._calling_since_ms = None
            if filler is not None:
                filler.cancel()
                await asyncio.wait([filler])
            chunks.put_nowait(None)

    async def _llm_to_chunks(
        self,
        models: Models,
        chunker: ChunkerParams,
        guard_params: AnswerGuardParams,
        prompt: str,
        tools: ToolUse | None,
        parser: ToolCallParser | None,
        found: list[CallsParsed | CallMalformed],
        chunks: asyncio.Queue[TextChunk | LineAudio | None],
        round_index: int,
    ) -> str:
        """LLM deltas -> the chunks the caller will hear (the words before a call, with tools); the
        guard ending the answer, or a call block closing, closes the LLM stream (the server stops
        generating). Returns the words queued."""

        def on_delta(delta: LlmDelta) -> None:
            self._mark(Stage.LLM_FIRST_TOKEN)
            self.llm_tokens += delta.tokens

        self._mark(Stage.LLM_REQUESTED)
        suffix = str(round_index) if round_index else ""
        request_id = f"{self._request_prefix}-llm{suffix}"
        guard = AnswerGuard(guard_params)
        words: list[str] = []
        guided = tools.guidance(round_index) if tools is not None else NONE
        generation = models.generate(
            prompt + guided.prefill, request_id, guided.structured_outputs, guided.max_tokens
        )
        async with contextlib.aclosing(generation) as deltas:
            source = deltas if parser is None else speakable(deltas, parser, found, guided)
            async with contextlib.aclosing(source) as stream:
                async for chunk in spoken_chunks(stream, PhraseChunker(chunker), guard, on_delta):
                    self._queue(chunks, chunk)
                    words.append(chunk.text)
                    self._said_words = True
            if parser is not None and (parser.in_call or found):
                # The words before the call are all queued: from here the caller may get a filler.
                self._calling_since_ms = self._now_ms()
                self._changed.notify()
            if parser is not None and parser.in_call:
                await finish_call(deltas, parser, found, guided, on_delta)
        if guard.stopped_by:
            log.info("answer ended by the guard (%s)", guard.stopped_by)
        return " ".join(words)

    def _queue(
        self, chunks: asyncio.Queue[TextChunk | LineAudio | None], item: TextChunk | LineAudio
    ) -> None:
        chunks.put_nowait(item)
        self._queued += 1

    async def _run_calls(
        self,
        tools: ToolUse,
        calls: tuple[ToolCall, ...],
        words: str,
        chunks: asyncio.Queue[TextChunk | LineAudio | None],
    ) -> Ending | None:
        """Run one round's calls (the filler is :meth:`_fillers`' job); returns how the call ends
        when one was a built-in (``transfer_call``, ``end_call``)."""
        # Never act on a turn that is not over: a speculative reply waits here for its release.
        await self._changed.wait_for(lambda: self.state is not ReplyState.PENDING)
        exchange = ToolExchange(calls, words, self._queued)
        self.exchanges.append(exchange)
        runner = tools.runner
        tasks: dict[str, asyncio.Task[ToolOutcome]] = {}
        for call in calls:
            self._output.log_event(
                "tool_call",
                {
                    "reply_id": self.reply_id,
                    "call_id": call.call_id,
                    "name": call.name,
                    "arguments": dict(call.arguments),
                },
            )
            name = f"{self._request_prefix}-{call.call_id}"
            tasks[call.call_id] = asyncio.create_task(runner.run(call), name=name)
        keep = [tasks[c.call_id] for c in calls if not runner.cancel_on_interruption(c.name)]
        self._uncancellable_s = max((runner.timeout_s(c.name) for c in calls), default=0.0)
        try:
            await asyncio.wait(tasks.values())
        except asyncio.CancelledError:
            for task in tasks.values():
                if task not in keep:
                    task.cancel()
            # A booking is not left half done: its result is kept (cancel() waits long enough).
            await asyncio.wait(tasks.values())
            raise
        finally:
            self._calling_since_ms = None  # answered (or cancelled): no filler from here
            if self._round_filler and tools.filler is not None:
                exchange.filler = tools.filler.text
            exchange.end_chunk = self._queued
            exchange.results = self._results(exchange, tasks)
            self._uncancellable_s = 0.0
        endings = [
            task.result().ending
            for task in tasks.values()
            if not task.cancelled() and task.exception() is None
        ]
        return next((ending for ending in endings if ending is not None), None)

    async def _fillers(
        self,
        tools: ToolUse,
        line: LineAudio,
        chunks: asyncio.Queue[TextChunk | LineAudio | None],
    ) -> None:
        """The filler, once per round, while a call is being written or run and has not answered
        ``filler_after_ms`` after the caller's turn ended (a later round: after its call began),
        once the caller has heard what the reply said before it. Never once it has answered:
        ``_calling_since_ms`` is cleared then. Checked on the call's clock (:meth:`time_passed`)."""

        def due() -> bool:
            since = self._calling_since_ms
            if since is None or self._round_filler or self.state is ReplyState.PENDING:
                return False
            start_ms = self._released_ms if self._round == 0 else since
            heard_all = self._playing_heard_ms() >= self.ledger.audio_ms - HEARD_SLACK_MS
            quiet = self.ledger.chunk_count == self._queued and heard_all
            return self._now_ms() >= start_ms + tools.filler_after_ms and quiet

        while True:
            await self._changed.wait_for(due)
            self._queue(chunks, line)
            self._round_filler = True
            self._output.log_event("tool_filler", {"reply_id": self.reply_id})

    def _results(
        self, exchange: ToolExchange, tasks: dict[str, asyncio.Task[ToolOutcome]]
    ) -> tuple[ToolResult, ...]:
        """The calls' results, logged; a call cancelled before it answered has none
        (:meth:`ToolExchange.settled` answers it as cancelled)."""
        results: list[ToolResult] = []
        for call in exchange.calls:
            task = tasks[call.call_id]
            if not task.done() or task.cancelled() or task.exception() is not None:
                continue
            outcome = task.result()
            results.append(outcome.result)
            fields: dict[str, JsonValue] = {
                "reply_id": self.reply_id,
                "call_id": call.call_id,
                "name": call.name,
                "ok": outcome.result.ok,
                "content": outcome.result.content,
                "latency_ms": round(outcome.latency_ms, 1),
            }
            self._output.log_event("tool_result", fields)
            if not outcome.result.ok:
                log.warning("tool %s failed: %s", call.name, outcome.result.content)
        return tuple(results)

    def _tool_call_refused(
        self, reason: str, tools: ToolUse, chunks: asyncio.Queue[TextChunk | LineAudio | None]
    ) -> None:
        """A call that cannot run (malformed, or one round too many): logged, and when the reply
        has said nothing, the apology instead of silence."""
        log.warning("reply %s: tool call refused: %s", self._request_prefix, reason)
        self._output.log_event("tool_call_refused", {"reply_id": self.reply_id, "reason": reason})
        apology = tools.ending_lines.get("apology")
        if not self._said_words and apology is not None:
            self._queue(chunks, apology)

    def _end_call(
        self, ending: Ending, tools: ToolUse, chunks: asyncio.Queue[TextChunk | LineAudio | None]
    ) -> None:
        """A built-in ended the call: the reply's words (or the line for it, when the model said none:
        a filler is not a goodbye) play out, then the call ends so (the core holds the floor)."""
        line = tools.ending_lines.get(ending.value)
        if not self._said_words and line is not None:
            self._queue(chunks, line)
        self._post(CallEndRequested(self.reply_id, ending))

    async def _chunks_to_speech(
        self, models: Models, chunks: asyncio.Queue[TextChunk | LineAudio | None]
    ) -> None:
        ledger = self.ledger
        while (chunk := await chunks.get()) is not None:
            if isinstance(chunk, LineAudio):  # a filler or a line: synthesised already
                self._add_line(chunk)
                self._changed.notify()
                continue
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
            if not self._answer_audio_out and self._answers_tools(piece.chunk_index):
                self._answer_audio_out = True  # the answer after the tools reaches the caller
                self._output.log_event("tool_answer_audio", {"reply_id": self.reply_id})

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

    def _answers_tools(self, chunk_index: int) -> bool:
        """Chunk ``chunk_index`` is of the answer after the tools' results (not a filler, not the
        words before a call)."""
        last = self.exchanges[-1] if self.exchanges else None
        return last is not None and bool(last.results) and chunk_index >= last.end_chunk

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
