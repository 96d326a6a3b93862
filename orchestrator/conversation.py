"""The conversation engine: one per call, the ``CallHandler`` that joins the Twilio edge to Triton.

The pure core decides (``turn_taking.step``: who has the floor, what to start, cancel or commit); this
shell carries out its actions over Triton streams and reports back what happened as events:

    caller audio -> VAD stream -> speech segmenter -> SpeechStarted/SpeechEnded/Tick ─┐
    transcriptions (stt), replies (llm -> chunker -> tts -> edge), marks  ───────────>  events
    events -> turn_taking.step -> actions (StartTranscription, StartReply, SendClear, ...)

Task ownership: the engine owns the call's turns loop and VAD loop, each transcription task, and every
:class:`AgentReply` (which owns its generation and sender tasks). A barge-in cancels exactly that reply's
tasks and with them its Triton streams; ``on_stop`` cancels and awaits everything the call owns.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

import numpy as np
import numpy.typing as npt
import tritonclient.grpc.aio as grpcclient_aio

from orchestrator.agent_reply import AgentReply, ReplyServices
from orchestrator.call_audio import CallAudioBuffer
from orchestrator.call_handler import CallInfo, CallOutput, StopReason
from orchestrator.canned_lines import CannedLines, line_texts
from orchestrator.chatml_prompt import build_chatml_prompt
from orchestrator.conversation_history import ConversationHistory, Role
from orchestrator.conversation_metrics import ConversationMetrics
from orchestrator.gemma_prompt import Turn, build_prompt
from orchestrator.llm_client import LlmClient, SamplingOptions
from orchestrator.phrase_chunker import ChunkerParams
from orchestrator.playout import ChunkPlayout
from orchestrator.settings import Settings, system_prompt
from orchestrator.speech_segmenter import SpeechEnded, SpeechSegmenter
from orchestrator.stt_client import SttClient
from orchestrator.triton_connection import connect
from orchestrator.tts_client import TtsClient
from orchestrator.turn_taking import (
    Action,
    CallerHungUp,
    CallStarted,
    CancelReply,
    CommitAssistantTurn,
    CommitUserTurn,
    Event,
    FirstAudioOut,
    HangUp,
    Phase,
    ResumeReply,
    SendClear,
    SpeakLine,
    StartReply,
    StartTranscription,
    Tick,
    TranscriptionFailed,
    TranscriptReady,
    TurnParams,
    TurnState,
    step,
)
from orchestrator.turn_timings import Stage, TurnMarks
from orchestrator.vad_stream import WINDOW, VadStream

log = logging.getLogger(__name__)

PRE_ROLL_MS = 200  # audio before the detected onset, so the first phoneme reaches the STT
POST_ROLL_MS = 100
STT_PROMPT_CHARS = 200
# Gemma's history must start with the caller; the greeting comes first, so the prompt opens with this.
CALL_CONNECTED = "(The phone call has connected.)"
AUDIO_QUEUE_FRAMES = 500  # 10 s of 20 ms frames; older frames are dropped if the VAD stalls
VAD_RETRY_S = (0.2, 0.5, 1.0, 2.0, 5.0)


class ConversationServices:
    """Process-wide: settings, one Triton channel shared by every call, the canned lines, metrics."""

    def __init__(self, settings: Settings, metrics: ConversationMetrics | None = None) -> None:
        self.settings = settings
        self.system_prompt = system_prompt(settings)  # read once: a bad persona file fails at start
        self.canned = CannedLines(line_texts(settings))
        self.metrics = metrics or ConversationMetrics.create()
        self._client: grpcclient_aio.InferenceServerClient | None = None

    @property
    def client(self) -> grpcclient_aio.InferenceServerClient:
        # Created on first use, inside the server's event loop (a gRPC aio channel belongs to one).
        if self._client is None:
            self._client = connect(self.settings.triton_url)
        return self._client

    def stt(self) -> SttClient:
        return SttClient(self.client, "stt")

    def tts(self) -> TtsClient:
        return TtsClient(self.client, "tts")

    def reply_services(self) -> ReplyServices:
        settings = self.settings
        llm = LlmClient(
            self.client,
            settings.llm_model,
            SamplingOptions.from_settings(settings),
            settings.llm_first_token_timeout_ms / 1000.0,
        )
        return ReplyServices(llm, self.tts(), ChunkerParams.from_settings(settings))

    async def models_ready(self, timeout_s: float = 2.0) -> bool:
        models = (self.settings.vad_model, "stt", self.settings.llm_model, "tts")
        try:
            async with asyncio.timeout(timeout_s):
                checks = [self.client.is_model_ready(model) for model in models]
                return all(await asyncio.gather(*checks))
        except Exception as exc:
            log.warning("Triton not ready at call start: %s", exc)
            return False

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


class ConversationEngine:
    """One call's conversation. Construct per call (``HandlerFactory``)."""

    def __init__(
        self, services: ConversationServices, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._services = services
        self._settings = services.settings
        self._clock = clock
        self._params = TurnParams.from_settings(self._settings)
        self._state = TurnState()
        self._history = ConversationHistory(services.system_prompt)
        self._segmenter = SpeechSegmenter(self._params.segmenter)
        self._call_audio = CallAudioBuffer()
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._audio_in: asyncio.Queue[npt.NDArray[np.float32]] = asyncio.Queue(AUDIO_QUEUE_FRAMES)
        self._replies: dict[int, AgentReply] = {}
        self._marks: dict[int, TurnMarks] = {}  # reply id -> its turn's stage times
        self._turn_marks = TurnMarks()  # the caller turn being answered
        self._tasks: set[asyncio.Task[None]] = set()
        self._stt_lock = asyncio.Lock()  # a call's transcriptions run in order
        self._call: CallInfo | None = None
        self._output: CallOutput | None = None

    # ---- CallHandler ---------------------------------------------------------------------------

    async def on_start(self, call: CallInfo, output: CallOutput) -> None:
        self._call, self._output = call, output
        ready = await self._services.models_ready()
        if ready:
            await self._services.canned.prepare(self._services.tts())
        self._spawn(self._run_turns(), "turns")
        self._spawn(self._run_vad(), "vad")
        self._services.metrics.calls.inc()
        self._post(CallStarted(models_ready=ready))

    async def on_audio(self, pcm16k: npt.NDArray[np.int16]) -> None:
        audio = pcm16k.astype(np.float32) / 32768.0
        if self._audio_in.full():  # the VAD stalled (Triton down): keep the newest audio
            self._audio_in.get_nowait()
        self._audio_in.put_nowait(audio)

    async def on_dtmf(self, digit: str) -> None:
        return None  # logged by the edge; the conversation does not use keypresses

    async def on_mark_played(self, chunk: ChunkPlayout) -> None:
        for reply in self._replies.values():
            reply.playout_changed()

    async def on_stop(self, reason: StopReason) -> None:
        self._post(CallerHungUp())
        replies = list(self._replies.values())
        await asyncio.gather(*(reply.cancel() for reply in replies))
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5.0)
        self._output = None

    # ---- the turns loop ------------------------------------------------------------------------

    def _post(self, event: Event) -> None:
        self._events.put_nowait(event)

    def _now_ms(self) -> float:
        return self._clock() * 1000.0

    async def _run_turns(self) -> None:
        while self._state.phase is not Phase.ENDED:
            event = await self._events.get()
            now = self._now_ms()
            if isinstance(event, SpeechEnded):
                self._on_speech_ended(event, now)
            result = step(self._state, event, now, self._params)
            if result.ignored and not isinstance(event, Tick):
                log.debug("turn event %s ignored: %s", type(event).__name__, result.ignored)
            self._state = result.state
            for action in result.actions:
                try:
                    await self._execute(action, now)
                except Exception:
                    log.exception("turn action %s failed", type(action).__name__)
            if isinstance(event, FirstAudioOut):
                self._report_timings(event.reply_id)

    def _on_speech_ended(self, speech: SpeechEnded, now: float) -> None:
        # The segmenter's times are call-audio ms; the caller stopped (detected - end) ms before now.
        self._turn_marks = TurnMarks()
        self._turn_marks.mark(Stage.CALLER_STOPPED, now - (speech.detected_ms - speech.end_ms))
        self._turn_marks.mark(Stage.END_OF_TURN, now)

    async def _execute(self, action: Action, now: float) -> None:
        output = self._require_output()
        match action:
            case StartTranscription():
                self._spawn(self._transcribe(action), f"stt-{action.utterance_id}")
            case CommitUserTurn(text=text):
                self._history.add_user(text)
                output.log_event("user_turn", {"text": text})
            case StartReply(reply_id=reply_id):
                self._start_llm_reply(reply_id)
            case SpeakLine(reply_id=reply_id, line=line):
                audio = self._services.canned.get(line)
                self._new_reply(reply_id).start_line(audio.text, audio.audio, audio.sample_rate)
                output.log_event("agent_line", {"line": line.value})
            case SendClear(reply_id=reply_id):
                held = self._replies.get(reply_id)
                if held is not None:
                    held.hold()
                await output.clear()
                if held is not None:
                    held.note_clear()
                output.log_event("barge_in", {"reply_id": reply_id})
            case CancelReply(reply_id=reply_id):
                cancelled = self._replies.get(reply_id)
                if cancelled is not None:
                    await cancelled.cancel()
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

    def _start_llm_reply(self, reply_id: int) -> None:
        self._marks[reply_id] = self._turn_marks
        reply = self._new_reply(reply_id)
        reply.start_llm(self._services.reply_services(), self._prompt())

    def _new_reply(self, reply_id: int) -> AgentReply:
        call_sid = self._call.call_sid if self._call else "call"
        marks = self._marks.get(reply_id) or TurnMarks()
        reply = AgentReply(
            reply_id, call_sid, self._require_output(), self._post, marks, self._now_ms
        )
        self._replies[reply_id] = reply
        return reply

    def _commit_reply(self, reply_id: int, interrupted: bool) -> None:
        reply = self._replies.pop(reply_id, None)
        if reply is None:
            return
        heard = reply.heard()
        self._history.add_reply(heard)
        self._require_output().log_event(
            "agent_turn",
            {
                "reply_id": reply_id,
                "text": heard.text,
                "interrupted": interrupted,
                "complete": heard.complete,
            },
        )
        self._marks.pop(reply_id, None)

    def _prompt(self) -> str:
        turns = [Turn(t.role.value, t.text) for t in self._history.turns]
        if self._settings.llm_prompt_format == "chatml":
            return build_chatml_prompt(self._history.system_prompt, turns)
        if turns and turns[0].role == Role.ASSISTANT.value:
            turns.insert(0, Turn("user", CALL_CONNECTED))
        return build_prompt(self._history.system_prompt, turns)

    def _report_timings(self, reply_id: int) -> None:
        marks = self._marks.get(reply_id)
        if marks is None:
            return
        timings = marks.timings()
        self._services.metrics.observe(timings)
        if self._output is not None:
            fields = {k: v for k, v in timings.as_dict().items() if v is not None}
            self._output.log_event("turn_timings", {"reply_id": reply_id, **fields})

    # ---- transcription -------------------------------------------------------------------------

    async def _transcribe(self, action: StartTranscription) -> None:
        speech = action.speech
        audio = self._call_audio.slice_ms(
            speech.onset_ms - PRE_ROLL_MS, speech.end_ms + POST_ROLL_MS
        )
        prompt = " ".join(t.text for t in self._history.turns)[-STT_PROMPT_CHARS:]
        call_sid = self._call.call_sid if self._call else "call"
        try:
            async with self._stt_lock:
                transcript = await self._services.stt().transcribe(
                    audio, prompt, request_id=f"{call_sid}-u{action.utterance_id}"
                )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("transcription %d failed: %s", action.utterance_id, exc)
            self._post(TranscriptionFailed(action.utterance_id))
            return
        self._turn_marks.mark(Stage.STT_DONE, self._now_ms())
        self._post(TranscriptReady(action.utterance_id, transcript.text))

    # ---- voice activity ------------------------------------------------------------------------

    async def _run_vad(self) -> None:
        """Caller audio -> VAD probabilities -> segmenter events and ticks, for the whole call.

        When the VAD stream fails (Triton restarting), windows count as silence until it is back, so
        the segmenter's timeline stays aligned with the call's audio.
        """
        attempt = 0
        while True:
            try:
                async with VadStream(
                    self._services.client,
                    self._settings.vad_model,
                    call_id=self._call.call_sid if self._call else "",
                ) as vad:
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
        deadline = self._clock() + seconds
        pending = 0
        while (left := deadline - self._clock()) > 0:
            try:
                async with asyncio.timeout(left):
                    audio = await self._audio_in.get()
            except TimeoutError:
                break
            self._call_audio.append(audio)
            pending += audio.size
            while pending >= WINDOW:
                pending -= WINDOW
                self._on_probability(0.0)

    def _on_probability(self, probability: float) -> None:
        for event in self._segmenter.push(probability):
            self._post(event)
        self._post(Tick(probability))

    # ---- tasks ---------------------------------------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        call_sid = self._call.call_sid if self._call else "call"
        task = asyncio.create_task(work, name=f"{call_sid}-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("call task %s failed", task.get_name(), exc_info=task.exception())

    def _require_output(self) -> CallOutput:
        if self._output is None:
            raise RuntimeError("the call has no output (not started or already stopped)")
        return self._output
