"""A scripted phone call against the orchestrator, as Twilio would carry it (tests, demo, benchmarks).

A scenario is a list of steps: the caller says something (Piper's voice, or espeak-ng without Piper),
stays silent, coughs, presses a key (DTMF), barges in a given time after the agent's reply starts
playing, or stays silent until the agent hangs up (scenario files: :mod:`callsim.scenario_file`).
:func:`run_steps` returns the caller-side times of every utterance (onset and last voiced frame sent)
for latency figures measured outside the orchestrator. The caller side
is :class:`~benchmarks.twilio_phone.SimulatedTwilioCall` (real WebSocket, real-time frames, marks echoed
as audio plays, ``clear`` honoured). Afterwards :class:`CallRecord` reads what the orchestrator wrote
for the call: its JSONL event log (turns, timings) and its stereo recording.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from websockets.exceptions import ConnectionClosed

from callsim.twilio_phone import RATE, SimulatedTwilioCall
from callsim.voices import caller_speech, resample

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Say:
    """The caller says ``text``: synthesised, or ``audio`` (16 kHz) when given, e.g. a sentence cut
    at a word boundary so its prosody is mid-sentence."""

    text: str
    audio: FloatArray | None = field(default=None, compare=False)


@dataclass(frozen=True)
class SayWithPause:
    """The caller says ``text`` but stops for ``pause_ms`` after its first ``pause_after_words``
    words, mid-sentence, then goes on: both parts cut from the whole sentence as synthesised, so the
    voice before the pause is mid-sentence prosody. An agent who answers in the pause cut them off."""

    text: str
    pause_after_words: int
    pause_ms: int


@dataclass(frozen=True)
class Silence:
    ms: int


@dataclass(frozen=True)
class Cough:
    """A short noise burst over the line: it may pause the agent (a clear), never cut its reply."""

    ms: int = 150


@dataclass(frozen=True)
class WaitForAgent:
    """Silence until the agent's audio starts arriving (at most ``timeout_ms``), then ``after_ms``."""

    after_ms: int = 0
    timeout_ms: int = 30_000


@dataclass(frozen=True)
class WaitForAgentSilence:
    """Silence until the agent has been quiet for ``quiet_ms`` (at most ``timeout_ms``)."""

    quiet_ms: int = 3000  # the CPU profile can pause that long between two chunks of a reply
    timeout_ms: int = 60_000


@dataclass(frozen=True)
class WaitUntil:
    """Silence until ``done()`` (e.g. the orchestrator logged the agent's turn), at most
    ``timeout_ms``."""

    done: Callable[[], bool]
    timeout_ms: int = 60_000


@dataclass(frozen=True)
class Dtmf:
    """A key press (Twilio sends it as a ``dtmf`` message, outside the audio)."""

    digit: str


@dataclass(frozen=True)
class SilenceUntilHangUp:
    """Silence until the agent ends the call (its silence timeout), at most ``timeout_ms``."""

    timeout_ms: int = 60_000


Step = (
    Say
    | SayWithPause
    | Silence
    | Cough
    | Dtmf
    | WaitForAgent
    | WaitForAgentSilence
    | WaitUntil
    | SilenceUntilHangUp
)

# A 20 ms frame is voiced when a sample in it exceeds this (of full scale): the threshold of
# speech_samples.voiced_span, which cuts the synthesiser's leading and trailing silence.
VOICED_LEVEL = 0.02


def to_phone(audio16k: FloatArray) -> npt.NDArray[np.int16]:
    return (np.clip(resample(audio16k, 16_000, RATE), -1.0, 1.0) * 32767).astype(np.int16)


def silence(ms: int) -> npt.NDArray[np.int16]:
    return np.zeros(RATE * ms // 1000, np.int16)


def voiced_frames(pcm8k: npt.NDArray[np.int16]) -> tuple[int, int] | None:
    """Indices of the first and last 20 ms frame holding speech (None for silence)."""
    loud = np.flatnonzero(np.abs(pcm8k.astype(np.int32)) > VOICED_LEVEL * 32767)
    if loud.size == 0:
        return None
    frame = RATE // 50
    return int(loud[0]) // frame, int(loud[-1]) // frame


@dataclass(frozen=True)
class CallerTurn:
    """One utterance as the caller sent it (loop times)."""

    text: str
    onset: float  # first voiced frame sent
    voiced_end: float  # last voiced frame sent
    over_agent: bool  # it started while agent audio was playing (a barge-in attempt)


@dataclass
class ScenarioTimes:
    """Loop times the caller side saw (for latency figures measured outside the orchestrator)."""

    speech_ends: list[float] = field(default_factory=list)  # end of each Say
    barge_ins: list[float] = field(default_factory=list)  # start of each Say sent over the agent
    turns: list[CallerTurn] = field(default_factory=list)
    # SayWithPause: each pause mid-sentence (loop times it began and ended); a caller whose turn was
    # committed inside one (the orchestrator's log) was cut off.
    mid_sentence_pauses: list[tuple[float, float]] = field(default_factory=list)
    coughs_over_agent: list[float] = field(default_factory=list)  # their first frame sent


async def run_steps(
    phone: SimulatedTwilioCall, steps: list[Step], times: ScenarioTimes | None = None
) -> ScenarioTimes:
    """Play ``steps``; the caller-side times go into ``times`` (kept when a timeout cuts the run)."""
    loop = asyncio.get_running_loop()
    times = ScenarioTimes() if times is None else times
    for step in steps:
        if phone.closed.is_set():  # the agent hung up: the rest of the script has no one to hear it
            break
        match step:
            case Say(text=text, audio=audio):
                over_agent = _agent_playing(phone, loop.time())
                if over_agent:
                    times.barge_ins.append(loop.time())
                pcm = to_phone(caller_speech(text) if audio is None else audio)
                sent = await phone.send_audio_realtime(pcm)
                times.speech_ends.append(loop.time())
                voiced = voiced_frames(pcm)
                if voiced is not None and sent:
                    onset, end = voiced
                    times.turns.append(CallerTurn(text, sent[onset], sent[end], over_agent))
            case SayWithPause(text=text, pause_after_words=words, pause_ms=pause_ms):
                await _say_with_pause(phone, times, text, words, pause_ms)
            case Dtmf(digit=digit):
                await phone.send_dtmf(digit)
            case SilenceUntilHangUp(timeout_ms=timeout_ms):
                await _silence_until(phone, lambda: False, timeout_ms)
            case Silence(ms=ms):
                await phone.send_audio_realtime(silence(ms))
            case Cough(ms=ms):
                over_agent = _agent_playing(phone, loop.time())
                rng = np.random.default_rng(ms)
                burst = (0.3 * 32767 * rng.standard_normal(RATE * ms // 1000)).astype(np.int16)
                sent = await phone.send_audio_realtime(burst)
                if over_agent and sent:
                    times.coughs_over_agent.append(sent[0])
            case WaitForAgent(after_ms=after_ms, timeout_ms=timeout_ms):
                await _silence_until(phone, _media_after(phone), timeout_ms)
                if after_ms:
                    await phone.send_audio_realtime(silence(after_ms))
            case WaitUntil(done=done, timeout_ms=timeout_ms):
                await _silence_until(phone, done, timeout_ms)
            case WaitForAgentSilence(quiet_ms=quiet_ms, timeout_ms=timeout_ms):
                await _silence_until(
                    phone,
                    lambda: not _agent_playing(phone, loop.time() - quiet_ms / 1000.0),
                    timeout_ms,
                )
    return times


async def _say_with_pause(
    phone: SimulatedTwilioCall, times: ScenarioTimes, text: str, words: int, pause_ms: int
) -> None:
    from callsim.turn_clips import sentence_parts  # Whisper word timings: only for these steps

    loop = asyncio.get_running_loop()
    over_agent = _agent_playing(phone, loop.time())
    before, after = (to_phone(part) for part in sentence_parts(text, words))
    sent_before = await phone.send_audio_realtime(before)
    paused = loop.time()
    await phone.send_audio_realtime(silence(pause_ms))
    times.mid_sentence_pauses.append((paused, loop.time()))
    sent_after = await phone.send_audio_realtime(after)
    times.speech_ends.append(loop.time())
    first, last = voiced_frames(before), voiced_frames(after)
    if first is not None and last is not None and sent_before and sent_after:
        onset, end = sent_before[first[0]], sent_after[last[1]]
        times.turns.append(CallerTurn(text, onset, end, over_agent))


def _media_after(phone: SimulatedTwilioCall) -> Callable[[], bool]:
    """A test for 'agent audio arrived since now'."""
    arrivals = len(phone.log.media_arrivals)
    return lambda: len(phone.log.media_arrivals) > arrivals


def _agent_playing(phone: SimulatedTwilioCall, at: float) -> bool:
    """Whether agent audio plays at loop time ``at`` (or was still queued to play after it)."""
    played = phone.log.played
    if not played:
        return False
    last = played[-1]
    return last.start + len(last.payload) / RATE > at


async def _silence_until(
    phone: SimulatedTwilioCall, done: Callable[[], bool], timeout_ms: int
) -> None:
    """Send 20 ms silent frames (a live line is never quiet on the wire) until ``done()``."""
    for _ in range(timeout_ms // 100):
        if done() or phone.closed.is_set():
            return
        try:
            await phone.send_audio_realtime(silence(100))
        except ConnectionClosed:  # the agent hung up
            return
