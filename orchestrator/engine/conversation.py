"""The conversation engine: one per call, the ``CallHandler`` that joins the Twilio edge to the models.

The pure core decides (``turn_taking.step``: who has the floor, what to start, cancel or commit); this
shell carries out its actions over the models' streams and reports back what happened as events:

    caller audio -> VAD stream -> speech segmenter -> SpeechStarted/SpeechEnded/Tick ─┐
    transcriptions (stt), replies (llm -> chunker -> tts -> edge), marks  ───────────>  events
    events -> turn_taking.step -> actions (StartTranscription, StartReply, SendClear, ...)

Ownership: the engine owns the call's start-up task, turns loop and VAD loop, one :class:`Utterance`
per caller utterance the core still works on (its transcription task, timing marks and voice analysis)
and one :class:`AgentReply` per reply (its generation and sender tasks, its marks, whether it is still
speculative). It holds exactly what the core's state names (``utterances_held``, ``state.reply``):
after each step whatever the core let go of is released, its tasks cancelled with their model
requests. A barge-in cancels exactly that reply's tasks; ``on_stop`` steps the hang-up (which lets go
of everything) and awaits what is left.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from orchestrator.call_handler import CallInfo, CallOutput, ChunkPlayout, JsonValue, StopReason
from orchestrator.conversation.call_audio import CallAudioBuffer
from orchestrator.conversation.history import ConversationHistory
from orchestrator.conversation.reply_prompt import reply_prompt
from orchestrator.conversation.speech_segmenter import SpeechSegmenter
from orchestrator.conversation.stt_prompt import stt_prompt
from orchestrator.conversation.timings import Stage, TurnMarks
from orchestrator.conversation.tool_guidance import Guidance, ToolChoice
from orchestrator.conversation.turn_taking import (
    Action,
    CallerHungUp,
    CallStarted,
    CancelReply,
    CancelTranscription,
    CannedLine,
    CommitAssistantTurn,
    CommitUserTurn,
    DigitPressed,
    Event,
    FirstAudioOut,
    HangUp,
    HearTurnEnd,
    Phase,
    ReleaseReply,
    ResumeReply,
    SendClear,
    SpeakLine,
    SpeculativeWords,
    StartReply,
    StartTranscription,
    Tick,
    TranscriptionFailed,
    TranscriptReady,
    TransferCall,
    TurnEndHeard,
    TurnState,
    step,
    utterances_held,
)
from orchestrator.conversation.voice_features import analyse_voice
from orchestrator.engine.caller_memory import caller_number
from orchestrator.engine.reply import AgentReply
from orchestrator.engine.services import ConversationServices
from orchestrator.engine.tool_rounds import ToolExchange, ToolUse
from orchestrator.engine.tool_runner import ToolRunner
from orchestrator.engine.utterance import Utterance
from orchestrator.memory.prompt_budget import MemoryBrief
from orchestrator.triton.turn_detector_client import TURN_DETECTOR_RATE
from orchestrator.triton.turn_detector_client import WINDOW_SAMPLES as TURN_WINDOW_SAMPLES
from orchestrator.vad_window import WINDOW_SAMPLES

log = logging.getLogger(__name__)

PRE_ROLL_MS = 200  # audio before the detected onset, so the first phoneme reaches the STT
POST_ROLL_MS = 100
TURN_AUDIO_MS = (
    1000 * TURN_WINDOW_SAMPLES // TURN_DETECTOR_RATE
)  # what the audio end-of-turn model hears
STT_PROMPT_CHARS = 200
AUDIO_QUEUE_FRAMES = 500  # 10 s of 20 ms frames; older frames are dropped if the VAD stalls
VAD_RETRY_S = (0.2, 0.5, 1.0, 2.0, 5.0)


@dataclass
class Speculation:
    """Work started before the end of a turn was confirmed, since the last reported turn."""

    replies_started: int = 0
    replies_adopted: int = 0
    replies_cancelled: int = 0
    transcriptions_cancelled: int = 0
    wasted_llm_tokens: int = 0
    wasted_tts_ms: float = 0.0


@dataclass(frozen=True)
class Holding:
    """What a call holds at a moment: the utterances and replies it works on, and its tasks."""

    utterances: tuple[int, ...]
    replies: tuple[int, ...]
    tasks: int


class ConversationEngine:
    """One call's conversation. Construct per call (``HandlerFactory``)."""

    def __init__(
        self, services: ConversationServices, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._services = services
        self._models = services.models
        self._clock = clock
        self._params = services.turn_params
        self._state = TurnState()
        self._history = ConversationHistory(services.system_prompt)
        self._segmenter = SpeechSegmenter(self._params.segmenter)
        self._call_audio = CallAudioBuffer()
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._audio_in: asyncio.Queue[npt.NDArray[np.float32]] = asyncio.Queue(AUDIO_QUEUE_FRAMES)
        # Exactly what the core's state names: see _release_what_the_core_let_go.
        self._utterances: dict[int, Utterance] = {}
        self._replies: dict[int, AgentReply] = {}
        self._speculation = Speculation()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stt_lock = asyncio.Lock()  # a call's transcriptions run in order
        self._mood = services.caller_mood()
        self._memory_key: str | None = None
        self._memory = MemoryBrief("")  # until the caller's is loaded
        self._call_sid = "call"
        self._output: CallOutput | None = None
        self._turns: asyncio.Task[None] | None = None
        self._tool_runner: ToolRunner | None = None

    # ---- CallHandler ---------------------------------------------------------------------------

    async def on_start(self, call: CallInfo, output: CallOutput) -> None:
        self._call_sid, self._output = call.call_sid, output
        services = self._services
        if services.tools is not None and services.http is not None:
            max_chars = services.settings.tool_result_max_chars
            self._tool_runner = ToolRunner(services.tools, services.http, call.call_sid, max_chars)
        self._turns = self._spawn(self._run_turns(), "turns")
        self._spawn(self._run_vad(), "vad")
        self._spawn(self._begin(), "begin")  # readiness and canned lines: not on the caller's path
        memory = self._services.memory
        if memory is not None:
            self._memory_key = memory.key(caller_number(call.custom_parameters))
            if self._memory_key is not None:
                self._spawn(self._load_memory(self._memory_key), "memory")
        self._services.metrics.calls.inc()

    async def on_audio(self, pcm16k: npt.NDArray[np.int16]) -> None:
        audio = pcm16k.astype(np.float32) / 32768.0
        if self._audio_in.full():  # the VAD stalled (Triton down): keep the newest audio
            self._audio_in.get_nowait()
        self._audio_in.put_nowait(audio)

    async def on_dtmf(self, digit: str) -> None:
        self._post(DigitPressed(digit))  # caller input: digits become a turn (the edge logs each)

    async def on_mark_played(self, chunk: ChunkPlayout) -> None:
        for reply in self._replies.values():
            reply.playout_changed()

    async def on_stop(self, reason: StopReason) -> None:
        # The hang-up is stepped here, not queued: with the turns loop stopped first, the heard part
        # of a reply in flight still becomes its agent_turn before the call's files close. The core
        # lets go of every utterance and reply, so the step releases them all.
        if self._turns is not None:
            self._turns.cancel()
            await asyncio.wait([self._turns], timeout=5.0)
        await self._step(CallerHungUp())
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5.0)
        self._remember_call()
        self._output = None

    def holding(self) -> Holding:
        """What the call holds now: after a step, only what the core's state names."""
        live = sum(not task.done() for task in self._tasks)
        return Holding(tuple(self._utterances), tuple(self._replies), live)

    def _remember_call(self) -> None:
        sentiment = self._mood.summary() if self._mood is not None else None
        if sentiment is not None and self._output is not None:
            self._output.log_event("call_sentiment", sentiment)
        memory, key = self._services.memory, self._memory_key
        if memory is not None and key is not None:
            memory.remember(self._call_sid, key, self._history.turns, sentiment)

    async def _load_memory(self, key: str) -> None:
        memory = self._services.memory
        assert memory is not None
        started = time.perf_counter()
        try:
            brief = await memory.load(key)
        except Exception as exc:  # the call goes on without memory
            log.warning("caller memory not loaded: %s", exc)
            self._require_output().log_event("memory_loaded", {"error": str(exc)})
            return
        seconds = time.perf_counter() - started
        self._services.metrics.memory_load_seconds.observe(seconds)
        self._memory = brief
        fields: dict[str, JsonValue] = {
            "calls": list(brief.call_sids),
            "facts": {k: v if isinstance(v, str) else list(v) for k, v in brief.facts.items()},
            "tokens": brief.tokens,
            "text": brief.text,
            "load_ms": round(1000.0 * seconds, 1),
        }
        self._require_output().log_event("memory_loaded", fields)

    async def _begin(self) -> None:
        ready = await self._models.ready()
        if ready:
            await self._services.canned.prepare(self._models)
        self._post(CallStarted(models_ready=ready))

    # ---- the turns loop ------------------------------------------------------------------------

    def _post(self, event: Event) -> None:
        self._events.put_nowait(event)

    def _now_ms(self) -> float:
        return self._clock() * 1000.0

    async def _run_turns(self) -> None:
        while self._state.phase is not Phase.ENDED:
            event = await self._events.get()
            if isinstance(event, FirstAudioOut):
                self._report_timings(event.reply_id)
            elif isinstance(event, Tick):
                for reply in self._replies.values():
                    reply.time_passed()
            await self._step(event)

    async def _step(self, event: Event) -> None:
        """One event through the pure core, its actions carried out, and whatever the core let go
        of released."""
        now = self._now_ms()
        result = step(self._state, event, now, self._params)
        if result.ignored and not isinstance(event, Tick):
            log.debug("turn event %s ignored: %s", type(event).__name__, result.ignored)
        self._state = result.state
        for action in result.actions:
            try:
                await self._execute(action, now)
            except Exception:
                log.exception("turn action %s failed", type(action).__name__)
        await self._release_what_the_core_let_go()

    async def _release_what_the_core_let_go(self) -> None:
        held = utterances_held(self._state)
        for utterance_id in [u for u in self._utterances if u not in held]:
            self._utterances.pop(utterance_id).release()
        current = self._state.reply.reply_id if self._state.reply is not None else None
        gone = [reply for reply_id, reply in self._replies.items() if reply_id != current]
        for reply in gone:
            del self._replies[reply.reply_id]
        # Normally already cancelled (CancelReply) or played out: then this returns at once.
        await asyncio.gather(*(reply.cancel() for reply in gone))

    async def _execute(self, action: Action, now: float) -> None:
        output = self._require_output()
        match action:
            case StartTranscription():
                self._start_transcription(action, now)
            case HearTurnEnd():
                self._start_hearing_turn_end(action)
            case CancelTranscription(utterance_id=utterance_id):
                superseded = self._utterances.pop(utterance_id, None)
                if superseded is not None:
                    superseded.release()  # cancels its STT request on the server
                self._speculation.transcriptions_cancelled += 1
                output.log_event("transcription_cancelled", {"utterance_id": utterance_id})
            case CommitUserTurn(utterance_id=utterance_id, text=text):
                self._history.add_user(text)
                committed = self._utterances.get(utterance_id)
                fields: dict[str, JsonValue] = {"text": text}
                if committed is not None:
                    committed.marks.mark(Stage.END_OF_TURN, now)
                    if committed.turn_end_probability is not None:
                        fields["turn_end_audio"] = round(committed.turn_end_probability, 3)
                if self._mood is not None:
                    voice = committed.voice_analysis() if committed is not None else None
                    fields["sentiment"] = self._mood.score(text, voice)
                output.log_event("user_turn", fields)
            case StartReply():
                answered = self._utterances.get(action.utterance_id)
                self._start_reply(action, answered.marks if answered is not None else TurnMarks())
            case ReleaseReply(reply_id=reply_id):
                released = self._replies.get(reply_id)
                if released is not None:
                    released.release()
                self._speculation.replies_adopted += 1
                self._services.metrics.speculative_replies.labels("adopted").inc()
            case SpeakLine(reply_id=reply_id, line=line):
                self._new_reply(reply_id, None).start_line(self._services.canned.get(line))
                output.log_event("agent_line", {"line": line.value})
            case SendClear(reply_id=reply_id):
                held = self._replies.get(reply_id)
                if held is not None:
                    await held.barge_in()
                else:
                    await output.clear()
                output.log_event("barge_in", {"reply_id": reply_id})
            case CancelReply(reply_id=reply_id):
                cancelled = self._replies.get(reply_id)
                if cancelled is not None:
                    await cancelled.cancel()
                    if cancelled.speculative:
                        self._speculation_cancelled(cancelled)
                    if cancelled.exchanges:  # its tools ran: the model must know what they did
                        self._commit_reply(reply_id, interrupted=True)
                output.log_event("reply_cancelled", {"reply_id": reply_id})
            case ResumeReply(reply_id=reply_id):
                resumed = self._replies.get(reply_id)
                if resumed is not None:
                    resumed.resume()
                output.log_event("reply_resumed", {"reply_id": reply_id})
            case CommitAssistantTurn(reply_id=reply_id, interrupted=interrupted):
                self._commit_reply(reply_id, interrupted)
            case HangUp():
                self._spawn(output.hang_up(), "hang-up")
            case TransferCall():
                self._spawn(self._transfer(), "transfer")

    def _start_reply(self, action: StartReply, marks: TurnMarks) -> None:
        """An LLM answer to the history, or, speculatively, to the history and the caller's words
        not yet committed (the reply then sends nothing until released)."""
        answers = action.answers
        words = answers.text if isinstance(answers, SpeculativeWords) else None
        speculative = words is not None
        if speculative:
            self._speculation.replies_started += 1
        instruction = self._mood.instruction(words) if self._mood is not None else None
        services = self._services
        prompt = reply_prompt(
            services.settings.llm_prompt_format,
            self._history.system_prompt,
            self._memory.text,
            self._history.turns,
            words,
            instruction,
        )
        if prompt.acknowledged:
            self._require_output().log_event(
                "sentiment_acknowledged", {"reply_id": action.reply_id}
            )
        reply = self._new_reply(action.reply_id, marks, speculative)
        reply.start_llm(
            self._models,
            services.chunker_params,
            prompt.text,
            services.answer_guard_params,
            self._tool_use(),
        )
        self._require_output().log_event(
            "reply_started",
            {
                "reply_id": action.reply_id,
                "speculative": speculative,
                "memory_calls": list(self._memory.call_sids),  # remembered calls in its prompt
            },
        )

    def _speculation_cancelled(self, reply: AgentReply) -> None:
        waste = self._speculation
        waste.replies_cancelled += 1
        waste.wasted_llm_tokens += reply.llm_tokens
        waste.wasted_tts_ms += reply.ledger.audio_ms
        metrics = self._services.metrics
        metrics.speculative_replies.labels("cancelled").inc()
        metrics.wasted_llm_tokens.inc(reply.llm_tokens)
        metrics.wasted_tts_seconds.inc(reply.ledger.audio_ms / 1000.0)

    def _new_reply(
        self, reply_id: int, marks: TurnMarks | None, speculative: bool = False
    ) -> AgentReply:
        output = self._require_output()
        reply = AgentReply(
            reply_id, self._call_sid, output, self._post, marks, self._now_ms, speculative
        )
        self._replies[reply_id] = reply
        return reply

    def _commit_reply(self, reply_id: int, interrupted: bool) -> None:
        """What the caller heard of the reply into the history, once: with tools, the words before
        each round as heard, its calls and results, then the answer as heard."""
        reply = self._replies.get(reply_id)
        if reply is None or reply.committed:
            return
        reply.committed = True
        parts = reply.heard_parts()
        for exchange, before in zip(reply.exchanges, parts, strict=False):
            self._history.add_tool_calls(before, exchange.calls)
            self._history.add_tool_results(exchange.settled())
        heard = parts[-1]
        self._history.add_reply(heard)
        fields: dict[str, JsonValue] = {
            "reply_id": reply_id,
            "text": " ".join(part.text for part in parts if part.text),
            "interrupted": interrupted,
            "complete": heard.complete,
        }
        if reply.exchanges:
            fields["tool_calls"] = [c.call_id for e in reply.exchanges for c in e.calls]
        self._require_output().log_event("agent_turn", fields)

    # ---- tools ---------------------------------------------------------------------------------

    def _tool_use(self) -> ToolUse | None:
        """What a reply needs to call the persona's tools; None without tools."""
        runner, services = self._tool_runner, self._services
        if runner is None:
            return None
        canned = services.canned
        lines = {
            "transfer": canned.ready(CannedLine.TRANSFER),
            "hang_up": canned.ready(CannedLine.CLOSING),
            "apology": canned.ready(CannedLine.APOLOGY),
        }
        settings = services.settings
        guided = services.tool_guidance

        def round_guidance(round_index: int) -> Guidance:
            return guided[settings.tool_choice if round_index == 0 else ToolChoice.AUTO]

        return ToolUse(
            fmt=settings.llm_prompt_format,
            tool_names=frozenset(runner.catalog.names()),
            runner=runner,
            next_prompt=self._prompt_after_tools,
            first_call_number=self._history.next_call_number,
            filler=canned.ready(CannedLine.FILLER),
            filler_after_ms=settings.tool_filler_ms,
            max_rounds=settings.tool_max_rounds,
            ending_lines={key: line for key, line in lines.items() if line is not None},
            guidance=round_guidance,
        )

    def _prompt_after_tools(self, exchanges: Sequence[ToolExchange]) -> str:
        """The history (the caller's turn is committed by then: tools wait for it), then each of
        the reply's rounds as the model wrote it: its words and the filler, calls, results."""
        history = self._history.fork()
        for exchange in exchanges:
            history.add_tool_calls(exchange.said, exchange.calls)
            history.add_tool_results(exchange.settled())
        fmt = self._services.settings.llm_prompt_format
        return reply_prompt(fmt, history.system_prompt, self._memory.text, history.turns).text

    async def _transfer(self) -> None:
        """The transfer line has played: the call goes to the person; if Twilio refuses, it ends
        (the caller heard they were being transferred, so silence would be worse)."""
        output = self._require_output()
        number = self._services.settings.transfer_number
        try:
            await output.transfer(number)
        except Exception as exc:  # CallControlFailed: no REST client, or Twilio refused
            log.warning("transfer failed, hanging up: %s", exc)
            output.log_event("transfer_failed", {"reason": str(exc)})
            await output.hang_up()

    def _report_timings(self, reply_id: int) -> None:
        reply = self._replies.get(reply_id)
        marks = reply.marks if reply is not None else None
        if marks is None:  # a canned line, or a reply already gone
            return
        timings = marks.timings()
        self._services.metrics.observe(timings)
        if self._output is not None:
            fields = {k: v for k, v in timings.as_dict().items() if v is not None}
            speculation = {k: round(v, 1) for k, v in asdict(self._speculation).items()}
            self._output.log_event(
                "turn_timings", {"reply_id": reply_id, **fields, "speculation": speculation}
            )
        self._speculation = Speculation()

    # ---- transcription -------------------------------------------------------------------------

    def _start_transcription(self, action: StartTranscription, now: float) -> None:
        speech = action.speech
        marks = TurnMarks()
        # The segmenter's times are call-audio ms; the caller stopped (detected - end) ms before now.
        marks.mark(Stage.CALLER_STOPPED, now - (speech.detected_ms - speech.end_ms))
        marks.mark(Stage.STT_REQUESTED, now)
        utterance = Utterance(action.utterance_id, marks)
        self._utterances[action.utterance_id] = utterance
        name = f"stt-{action.utterance_id}"
        utterance.transcription = self._spawn(self._transcribe(action, utterance), name)

    def _start_hearing_turn_end(self, action: HearTurnEnd) -> None:
        utterance = self._utterances.get(action.utterance_id)
        if utterance is not None:  # StartTranscription came first, in the same step
            name = f"eot-{action.utterance_id}"
            utterance.turn_end = self._spawn(self._hear_turn_end(action, utterance), name)

    async def _hear_turn_end(self, action: HearTurnEnd, utterance: Utterance) -> None:
        """The audio end-of-turn model's verdict on this pause, beside the transcription: the voice up
        to the pause's detection (its silence included, as the model was trained: pipecat asks after
        its VAD's stop), the last 8 s at most."""
        speech = action.speech
        start = max(speech.onset_ms - PRE_ROLL_MS, speech.detected_ms - TURN_AUDIO_MS)
        audio = self._call_audio.slice_ms(start, speech.detected_ms)
        request_id = f"{self._call_sid}-u{action.utterance_id}-eot"
        asked_ms = self._now_ms()
        probability: float | None = None
        try:
            probability = await self._models.turn_end(audio, request_id=request_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the words decide alone, as without the model
            log.warning("end-of-turn model failed for utterance %d: %s", action.utterance_id, exc)
        utterance.turn_end_probability = probability
        heard: dict[str, JsonValue] = {
            "utterance_id": action.utterance_id,
            "probability": None if probability is None else round(probability, 3),
            "latency_ms": round(self._now_ms() - asked_ms, 1),
        }
        self._require_output().log_event("turn_end_heard", heard)
        self._post(TurnEndHeard(action.utterance_id, probability))

    async def _transcribe(self, action: StartTranscription, utterance: Utterance) -> None:
        speech = action.speech
        audio = self._call_audio.slice_ms(
            speech.onset_ms - PRE_ROLL_MS, speech.end_ms + POST_ROLL_MS
        )
        if self._mood is not None:
            loop = asyncio.get_running_loop()
            utterance.voice = loop.run_in_executor(None, analyse_voice, audio)
        mode = self._services.settings.stt_prompt
        prompt = stt_prompt(self._history.turns, mode, STT_PROMPT_CHARS)
        request_id = f"{self._call_sid}-u{action.utterance_id}"
        try:
            async with self._stt_lock:
                heard = await self._models.transcribe(audio, prompt, request_id=request_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("transcription %d failed: %s", action.utterance_id, exc)
            self._post(TranscriptionFailed(action.utterance_id))
            return
        utterance.marks.mark(Stage.STT_DONE, self._now_ms())
        self._post(TranscriptReady(action.utterance_id, heard.text, heard.confidence))

    # ---- voice activity ------------------------------------------------------------------------

    async def _run_vad(self) -> None:
        """Caller audio -> VAD probabilities -> segmenter events and ticks, for the whole call.

        When the VAD stream fails (Triton restarting), windows count as silence until it is back, so
        the segmenter's timeline stays aligned with the call's audio.
        """
        attempt = 0
        while True:
            try:
                async with self._models.vad(self._call_sid) as vad:
                    while True:
                        audio = await self._audio_in.get()
                        self._call_audio.append(audio)
                        probabilities = await vad.push(audio)
                        for probability in probabilities:
                            self._on_probability(float(probability))
                        if probabilities.size:  # the server answered: back to the short delay
                            attempt = 0
            except Exception as exc:  # VadError, a gRPC error, ...: the call must keep listening
                delay = VAD_RETRY_S[min(attempt, len(VAD_RETRY_S) - 1)]
                log.warning("VAD stream failed (%s); retrying in %.1f s", exc, delay)
                attempt += 1
                await self._silence_for(delay)

    async def _silence_for(self, seconds: float) -> None:
        """Wait ``seconds`` while keeping the audio timeline: queued audio counts as silence."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        pending = 0
        while (left := deadline - loop.time()) > 0:
            try:
                async with asyncio.timeout(left):
                    audio = await self._audio_in.get()
            except TimeoutError:
                break
            self._call_audio.append(audio)
            pending += audio.size
            while pending >= WINDOW_SAMPLES:
                pending -= WINDOW_SAMPLES
                self._on_probability(0.0)

    def _on_probability(self, probability: float) -> None:
        for event in self._segmenter.push(probability):
            self._post(event)
        self._post(Tick(probability))

    # ---- tasks ---------------------------------------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(work, name=f"{self._call_sid}-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("call task %s failed", task.get_name(), exc_info=task.exception())

    def _require_output(self) -> CallOutput:
        if self._output is None:
            raise RuntimeError("the call has no output (not started or already stopped)")
        return self._output
