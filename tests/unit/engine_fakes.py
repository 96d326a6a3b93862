"""Scripted stand-ins for what surrounds the conversation engine: a clock the test moves, models that
answer from a script (and record what was cancelled), and a phone that plays the agent's audio on that
clock and echoes marks like Twilio. The engine under test is the real one."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from orchestrator.call_handler import CallInfo, ChunkPlayout, JsonValue, StopReason
from orchestrator.engine.conversation import ConversationEngine
from orchestrator.engine.models import FloatArray, Heard
from orchestrator.engine.services import ConversationServices
from orchestrator.triton.llm_client import LlmDelta
from orchestrator.triton.tts_client import ContextTurn, SpeechChunk
from orchestrator.twilio.playout import MarkOutcome, PlayoutTracker

RATE = 16_000
FRAME = RATE // 50  # 20 ms
WINDOW = 512
TTS_MS_PER_CHAR = 40.0
MAX_SETTLE_YIELDS = 10_000  # a call that never settles is a bug (a busy loop)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeVad:
    """Speech probability from loudness: a window above -40 dBFS is speech."""

    def __init__(self) -> None:
        self._pending = np.zeros(0, np.float32)

    async def push(self, audio: FloatArray) -> FloatArray:
        self._pending = np.concatenate([self._pending, audio])
        windows = self._pending.size // WINDOW
        probs = [
            0.95 if np.abs(self._pending[i * WINDOW : (i + 1) * WINDOW]).max() > 0.01 else 0.02
            for i in range(windows)
        ]
        self._pending = self._pending[windows * WINDOW :]
        return np.asarray(probs, np.float32)


@dataclass
class FakeModels:
    """Answers from a script. ``transcripts`` and ``answers`` are used in order; a gate (an
    ``asyncio.Event``) holds a request until the test opens it."""

    transcripts: list[str] = field(default_factory=list)
    answers: list[list[str]] = field(default_factory=list)  # LLM deltas per reply
    stt_gates: list[asyncio.Event] = field(default_factory=list)  # one per transcription
    llm_gates: list[asyncio.Event] = field(default_factory=list)  # per reply, after its 1st delta
    tts_gate: asyncio.Event | None = None
    # The audio end-of-turn model's P(done) per pause, in order; an exception is raised instead.
    turn_ends: list[float | Exception] = field(default_factory=list)
    turn_end_audio: list[FloatArray] = field(default_factory=list)  # what it was asked about
    turn_end_gates: list[asyncio.Event] = field(default_factory=list)  # one per verdict
    requests: list[str] = field(default_factory=list)  # request ids, in order
    prompts: list[str] = field(default_factory=list)  # LLM prompts, in order
    structured_outputs: list[str | None] = field(
        default_factory=list
    )  # guided decoding, per prompt
    cancelled: list[str] = field(default_factory=list)  # request ids whose stream was cancelled
    speaker_id: int = 0

    @contextlib.asynccontextmanager
    async def vad(self, call_id: str) -> AsyncIterator[FakeVad]:
        yield FakeVad()

    async def transcribe(self, audio: FloatArray, prompt: str, request_id: str) -> Heard:
        self.requests.append(request_id)
        with self._cancellation(request_id):
            if self.stt_gates:
                await self.stt_gates.pop(0).wait()
            return Heard(self.transcripts.pop(0))

    async def turn_end(self, audio: FloatArray, request_id: str) -> float:
        self.requests.append(request_id)
        self.turn_end_audio.append(audio)
        with self._cancellation(request_id):
            if self.turn_end_gates:
                await self.turn_end_gates.pop(0).wait()
            verdict = self.turn_ends.pop(0)
            if isinstance(verdict, Exception):
                raise verdict
            return verdict

    async def generate(
        self,
        prompt: str,
        request_id: str,
        structured_outputs: str | None = None,
        max_tokens: int | None = None,
    ) -> AsyncGenerator[LlmDelta]:
        self.requests.append(request_id)
        self.prompts.append(prompt)
        self.structured_outputs.append(structured_outputs)
        deltas = self.answers.pop(0)
        gate = self.llm_gates.pop(0) if self.llm_gates else None
        with self._cancellation(request_id):
            for index, delta in enumerate(deltas):
                yield LlmDelta(delta, tokens=len(delta.split()))
                if index == 0 and gate is not None:
                    await gate.wait()

    async def speak(
        self, text: str, context: Sequence[ContextTurn], request_id: str
    ) -> AsyncIterator[SpeechChunk]:
        self.requests.append(request_id)
        with self._cancellation(request_id):
            if self.tts_gate is not None:
                await self.tts_gate.wait()
            samples = int(len(text) * TTS_MS_PER_CHAR * RATE / 1000)
            tone = np.full(samples, 0.2, np.float32)
            half = samples // 2
            for part in (tone[:half], tone[half:]):
                yield SpeechChunk(part, RATE, 0, len(text))
                await asyncio.sleep(0)

    async def ready(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None

    @contextlib.contextmanager
    def _cancellation(self, request_id: str) -> Any:
        try:
            yield
        except (asyncio.CancelledError, GeneratorExit):
            self.cancelled.append(request_id)
            raise


class FakePhone:
    """The call's output: plays what is sent back to back on the fake clock, echoes each mark when
    its audio has played, honours clear, and keeps the call's event log."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self.tracker = PlayoutTracker(clock)
        self.events: list[dict[str, Any]] = []
        self.clears = 0
        self.hung_up = False
        self.transferred_to: list[str] = []
        self.ended_at: float | None = None  # when the engine hung up or transferred
        self.sent_ms = 0.0
        self._sequence = 0
        self._playing_until = 0.0  # clock time the sent audio has played out
        self._due: list[tuple[float, str]] = []  # (play-out time, mark)
        self.engine: ConversationEngine | None = None

    @property
    def playout(self) -> PlayoutTracker:
        return self.tracker

    async def send_audio(
        self,
        pcm: npt.NDArray[np.int16] | npt.NDArray[np.float32],
        sample_rate: int,
        label: str,
        *,
        end_of_segment: bool = True,
    ) -> str:
        duration_ms = 1000.0 * len(pcm) / sample_rate
        mark = f"{label}#{self._sequence}"
        self._sequence += 1
        self.tracker.chunk_queued(mark, duration_ms, label)
        self.tracker.chunk_sent(mark)
        start = max(self._clock.now, self._playing_until)
        self._playing_until = start + duration_ms / 1000.0
        self._due.append((self._playing_until, mark))
        self.sent_ms += duration_ms
        return mark

    async def clear(self) -> tuple[ChunkPlayout, ...]:
        self.clears += 1
        self._due.clear()
        self._playing_until = self._clock.now
        return self.tracker.clear()

    async def hang_up(self) -> None:
        self.hung_up = True
        self.ended_at = self._clock.now

    async def transfer(self, number: str) -> None:
        self.transferred_to.append(number)
        self.ended_at = self._clock.now

    def log_event(self, event: str, fields: Mapping[str, JsonValue] | None = None) -> None:
        self.events.append({"t": self._clock.now, "event": event, **(fields or {})})

    async def play(self) -> None:
        """Echo the marks of the audio played by now (the engine hears of each)."""
        while self._due and self._due[0][0] <= self._clock.now:
            _, mark = self._due.pop(0)
            ack = self.tracker.mark_received(mark)
            if ack.outcome is MarkOutcome.PLAYED and self.engine is not None:
                for chunk in ack.played:
                    await self.engine.on_mark_played(chunk)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == kind]


def speech(ms: int) -> list[npt.NDArray[np.int16]]:
    """Loud frames (the fake VAD hears speech)."""
    return [np.full(FRAME, 3000, np.int16)] * (ms // 20)


def silence(ms: int) -> list[npt.NDArray[np.int16]]:
    return [np.zeros(FRAME, np.int16)] * (ms // 20)


class Call:
    """One engine on the fake clock, models and phone; the test feeds it caller audio frame by frame."""

    def __init__(
        self,
        engine: ConversationEngine,
        clock: FakeClock,
        phone: FakePhone,
        parameters: dict[str, str] | None = None,  # the stream's <Parameter>s (From, To, ...)
    ) -> None:
        self.engine, self.clock, self.phone = engine, clock, phone
        phone.engine = engine
        self.call_sid = "CA" + uuid.uuid4().hex
        self.parameters = parameters or {}

    async def start(self) -> None:
        info = CallInfo(self.call_sid, "MZ" + self.call_sid[2:], "AC1", self.parameters)
        await self.engine.on_start(info, self.phone)
        await self.settle()

    async def stop(self) -> None:
        await self.engine.on_stop(StopReason.STOPPED)

    def tasks(self) -> list[asyncio.Task[Any]]:
        """The call's tasks still running."""
        return [t for t in asyncio.all_tasks() if self.call_sid in t.get_name() and not t.done()]

    async def feed(self, frames: list[npt.NDArray[np.int16]]) -> None:
        """Each frame 20 ms later on the clock; the engine's tasks run between frames."""
        for frame in frames:
            self.clock.now += 0.02
            await self.engine.on_audio(frame)
            await self.phone.play()
            await self.settle()

    async def until(self, done: Any, max_ms: int = 10_000) -> None:
        """Silence until ``done()``."""
        for _ in range(max_ms // 20):
            if done():
                return
            await self.feed(silence(20))
        raise AssertionError("the call never got there")

    async def settle(self) -> None:
        """Until nothing of the call can run: every task waits on what only the test gives (the
        clock, caller audio, a gate). A fixed number of yields is a guess that breaks the day a
        chain of awaits grows one longer; the event loop's queue of ready callbacks says it."""
        loop = asyncio.get_running_loop()
        for _ in range(MAX_SETTLE_YIELDS):
            await asyncio.sleep(0)
            if not loop._ready:  # type: ignore[attr-defined]  # CPython's BaseEventLoop queue
                return
        raise AssertionError(f"the call still had work after {MAX_SETTLE_YIELDS} yields")


@contextlib.asynccontextmanager
async def started_call(
    services: ConversationServices, parameters: dict[str, str] | None = None
) -> AsyncIterator[Call]:
    """A call whose greeting has been heard in full; stopped on the way out, leaving no task."""
    clock = FakeClock()
    call = Call(ConversationEngine(services, clock), clock, FakePhone(clock), parameters)
    await call.start()
    try:
        await call.until(lambda: call.phone.of("agent_turn"))
        yield call
    finally:
        await call.stop()
    assert call.tasks() == []
