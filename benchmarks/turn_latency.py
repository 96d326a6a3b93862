"""Voice-to-voice and barge-in latency of a simulated call, measured on the caller's side and split by
stage with the orchestrator's ``turn_timings``. Pure: the call_latency benchmark and its tests feed it.

Definitions (every time is on one monotonic clock: the caller and the orchestrator share a process):

- **voice-to-voice**: the caller's last voiced 20 ms frame sent -> the first agent audio frame the
  caller received after it.
- **stages** of a turn, from the orchestrator's ``turn_timings`` (contiguous, see
  ``orchestrator/conversation/timings.py``): endpointing wait, STT, reply start, LLM TTFT, LLM first phrase,
  first TTS audio, first byte; **transport** is the rest of voice-to-voice: the caller's frames to the
  orchestrator's VAD clock and its first frame back over the WebSocket (it also absorbs the difference
  between the VAD's end of speech and the caller's last voiced frame).
- **orchestrator overhead**: the stages that are the orchestrator's own Python, not a model and not a
  deliberate wait: reply start (transcript -> LLM request: turn logic, prompt) and first byte (first TTS
  audio -> first frame written: resampling, mu-law, WebSocket send). Its ratio is their sum over the
  sum of end-to-end (the orchestrator's voice-to-voice). Time spent in our client code inside the model
  stages (gRPC streaming, tensor packing) is counted as model time, so this ratio is a lower bound.
- **barge-in**: the first voiced frame of an utterance that started over the agent's audio -> the
  ``clear`` the caller received.
- **end of turn**: the silence each turn waited before it was confirmed over, and the pipeline time
  the speculative work hid inside it; **speculation**: replies started before the end of the turn,
  adopted or cancelled, and the LLM tokens, TTS audio and transcriptions the cancelled ones wasted.
- **false clears**: noise over the agent (a cough, an "mm-hmm") that made it stop: a ``clear`` within
  ``CLEAR_WINDOW_S`` of the noise. (The reply then resumes where it was cut.)
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.results_file import percentiles_ms
from callsim.steps import CallerTurn

# The chain of turn_timings stages that sums to end_to_end_ms, in order, with display names.
STAGES: tuple[tuple[str, str], ...] = (
    ("endpointing_ms", "pause detected"),
    ("stt_ms", "STT"),
    ("reply_start_ms", "reply start"),
    ("llm_ttft_ms", "LLM TTFT"),
    ("llm_first_phrase_ms", "LLM first phrase"),
    ("tts_first_audio_ms", "first TTS audio"),
    ("held_ms", "held for end of turn"),
    ("first_byte_ms", "first byte out"),
)
# Beside the chain: the silence the turn waited, and the pipeline time spent inside it.
END_OF_TURN_FIGURES: tuple[tuple[str, str], ...] = (
    ("end_of_turn_ms", "end of turn (silence waited)"),
    ("speculation_ms", "hidden by speculation"),
)
OVERHEAD_STAGES = ("reply_start_ms", "first_byte_ms")
TRANSPORT = "transport_ms"
# A turn_timings belongs to a caller turn when the orchestrator's "caller stopped" lies between this
# long before the caller's last voiced frame and MATCH_LATE_S after it (and before the caller's next
# utterance): the VAD's end of speech is within a window or two of the last voiced frame, but it is
# stamped when the audio is processed, which lags behind real time when the CPU is overloaded.
MATCH_EARLY_S = 1.0
MATCH_LATE_S = 5.0
# turn_timings is logged this long after the first byte went out, at most (the turns loop's delay).
SEND_LOG_SLACK_S = 2.0
# An interruption's clear must arrive within this long after the interrupting utterance ended.
CLEAR_WINDOW_S = 5.0


@dataclass(frozen=True)
class TurnLatency:
    call_sid: str
    text: str
    over_agent: bool
    voice_to_voice_s: float
    stages_ms: dict[str, float] | None  # STAGES keys + transport_ms; None: no turn_timings matched
    end_of_turn_ms: dict[str, float] = field(default_factory=dict)  # END_OF_TURN_FIGURES keys
    speculation: dict[str, float] = field(default_factory=dict)  # the turn's speculation counters

    @property
    def overhead_ms(self) -> float | None:
        if self.stages_ms is None or any(k not in self.stages_ms for k in OVERHEAD_STAGES):
            return None
        return sum(self.stages_ms[k] for k in OVERHEAD_STAGES)

    @property
    def end_to_end_ms(self) -> float | None:
        if self.stages_ms is None:
            return None
        return self.voice_to_voice_s * 1000.0 - self.stages_ms[TRANSPORT]


@dataclass(frozen=True)
class BargeIn:
    call_sid: str
    text: str
    latency_s: float | None  # None: no clear came (the agent played on, or had finished)


@dataclass(frozen=True)
class NoiseOverAgent:
    call_sid: str
    kind: str  # "cough", or the backchannel said
    cleared: bool  # the agent stopped for it (a false clear)


def first_after(times: Sequence[float], t: float) -> float | None:
    """The first of the ascending ``times`` at or after ``t``."""
    index = bisect.bisect_left(times, t)
    return times[index] if index < len(times) else None


def stage_split(timing: Mapping[str, Any], voice_to_voice_ms: float) -> dict[str, float] | None:
    """The stages of one ``turn_timings`` event plus transport (voice-to-voice minus end-to-end).

    None when a stage is missing (a reply that failed or was cut before its first audio).
    """
    if any(timing.get(key) is None for key, _ in STAGES) or timing.get("end_to_end_ms") is None:
        return None
    split = {key: float(timing[key]) for key, _ in STAGES}
    split[TRANSPORT] = voice_to_voice_ms - float(timing["end_to_end_ms"])
    return split


def caller_stopped_at(timing: Mapping[str, Any], call_start: float) -> float:
    """Loop time of the orchestrator's 'caller stopped' for a ``turn_timings`` event (``t_ms`` is on
    the call clock, which starts at ``call_start``, and is logged when the first byte went out)."""
    return call_start + (float(timing["t_ms"]) - float(timing["end_to_end_ms"])) / 1000.0


def call_latencies(
    call_sid: str,
    turns: Sequence[CallerTurn],
    arrivals: Sequence[float],
    clears: Sequence[float],
    timings: Sequence[Mapping[str, Any]],
    call_start: float,
    coughs_over_agent: Sequence[float] = (),
    is_backchannel: Callable[[str], bool] = lambda text: False,
) -> tuple[list[TurnLatency], list[BargeIn], list[NoiseOverAgent]]:
    """One call's turns, barge-ins and noise over the agent from what the caller saw and the
    orchestrator logged.

    ``arrivals``/``clears`` are the loop times the caller received agent media / ``clear``;
    ``timings`` the call's ``turn_timings`` events; ``call_start`` the loop time of ``start``.
    Utterances that ``is_backchannel`` over the agent count as noise, not turns. A turn whose reply
    never arrived is left out (the call ended first).
    """
    arrivals = sorted(arrivals)
    clears = sorted(clears)
    noises = [
        NoiseOverAgent(call_sid, "cough", _cleared_within(clears, onset, onset + CLEAR_WINDOW_S))
        for onset in coughs_over_agent
    ]
    for turn in [t for t in turns if t.over_agent and is_backchannel(t.text)]:
        cleared = _cleared_within(clears, turn.onset, turn.voiced_end + CLEAR_WINDOW_S)
        noises.append(NoiseOverAgent(call_sid, turn.text, cleared))
    turns = [t for t in turns if not (t.over_agent and is_backchannel(t.text))]
    unmatched = [t for t in timings if t.get("end_to_end_ms") is not None and "t_ms" in t]
    latencies: list[TurnLatency] = []
    barge_ins: list[BargeIn] = []
    for index, turn in enumerate(turns):
        next_onset = turns[index + 1].onset if index + 1 < len(turns) else float("inf")
        cleared_at = None
        if turn.over_agent:
            clear = first_after(clears, turn.onset)
            if clear is not None and clear <= min(turn.voiced_end + CLEAR_WINDOW_S, next_onset):
                cleared_at = clear
            latency = None if cleared_at is None else cleared_at - turn.onset
            barge_ins.append(BargeIn(call_sid, turn.text, latency))
        latest = min(turn.voiced_end + MATCH_LATE_S, next_onset)
        timing = _nearest(unmatched, turn.voiced_end, latest, call_start)
        if timing is not None:
            unmatched.remove(timing)
        # The reply's first frame: not audio of the reply the caller cut (it may still arrive
        # until the clear), nor anything long before the orchestrator sent this turn's first byte.
        not_before = turn.voiced_end
        if cleared_at is not None:
            not_before = max(not_before, cleared_at)
        if timing is not None:
            sent = call_start + float(timing["t_ms"]) / 1000.0 - SEND_LOG_SLACK_S
            not_before = max(not_before, sent)
        reply = first_after(arrivals, not_before)
        if reply is None or reply >= next_onset:
            continue  # no reply heard before the caller spoke again
        v2v_s = reply - turn.voiced_end
        stages = None if timing is None else stage_split(timing, v2v_s * 1000.0)
        end_of_turn = {
            key: float(timing[key])
            for key, _ in END_OF_TURN_FIGURES
            if timing is not None and timing.get(key) is not None
        }
        speculation = dict(timing.get("speculation", {})) if timing is not None else {}
        latencies.append(
            TurnLatency(
                call_sid, turn.text, turn.over_agent, v2v_s, stages, end_of_turn, speculation
            )
        )
    return latencies, barge_ins, noises


def _cleared_within(clears: Sequence[float], start: float, end: float) -> bool:
    clear = first_after(clears, start)
    return clear is not None and clear <= end


def _nearest(
    timings: Sequence[Mapping[str, Any]], voiced_end: float, latest: float, call_start: float
) -> Mapping[str, Any] | None:
    candidates = [
        t
        for t in timings
        if voiced_end - MATCH_EARLY_S <= caller_stopped_at(t, call_start) <= latest
    ]
    return min(
        candidates,
        key=lambda t: abs(caller_stopped_at(t, call_start) - voiced_end),
        default=None,
    )


def summarise(
    turns: Sequence[TurnLatency],
    barge_ins: Sequence[BargeIn],
    noises: Sequence[NoiseOverAgent] = (),
) -> dict[str, Any]:
    """Figures of one concurrency level: percentiles of voice-to-voice, of each stage, barge-in
    latency, and the orchestrator's overhead ratio, over the turns the LLM path answered (those
    with a matched ``turn_timings``); end of turn and speculation; false clears."""
    split = [t for t in turns if t.stages_ms is not None]
    figures: dict[str, Any] = {
        "turns": len(split),
        # Answered otherwise: a canned line (the apology after a failed STT/LLM/TTS, the closing
        # line) or audio without a turn_timings near it. Left out of the latency figures.
        "turns_without_llm_reply": len(turns) - len(split),
    }
    if split:
        figures["voice_to_voice"] = percentiles_ms([t.voice_to_voice_s for t in split])
    stages: dict[str, Any] = {}
    for key in [k for k, _ in STAGES] + [TRANSPORT, "end_to_end_ms"]:
        values = [_stage(t, key) for t in split]
        if values:
            stages[key] = percentiles_ms([v / 1000.0 for v in values])
    figures["stages"] = stages
    figures["end_of_turn"] = {
        key: percentiles_ms([t.end_of_turn_ms[key] / 1000.0 for t in split])
        for key, _ in END_OF_TURN_FIGURES
        if split and all(key in t.end_of_turn_ms for t in split)
    }
    counters = sorted({name for t in turns for name in t.speculation})
    figures["speculation"] = {
        name: round(sum(t.speculation.get(name, 0.0) for t in turns), 1) for name in counters
    }
    cleared = sum(n.cleared for n in noises)
    figures["false_clears"] = {
        "noise_over_agent": len(noises),
        "cleared": cleared,
        **({"rate": round(cleared / len(noises), 3)} if noises else {}),
    }
    overhead = [(t.overhead_ms, t.end_to_end_ms) for t in split]
    complete = [(o, e) for o, e in overhead if o is not None and e is not None and e > 0]
    if complete:
        total_overhead = sum(o for o, _ in complete)
        total_e2e = sum(e for _, e in complete)
        total_v2v = sum(t.voice_to_voice_s * 1000.0 for t in split)
        figures["orchestrator_overhead"] = {
            "ms": percentiles_ms([o / 1000.0 for o, _ in complete]),
            "ratio_of_end_to_end": round(total_overhead / total_e2e, 5),
            "ratio_of_voice_to_voice": round(total_overhead / total_v2v, 5),
        }
    measured = [b.latency_s for b in barge_ins if b.latency_s is not None]
    figures["barge_in"] = {
        "attempts": len(barge_ins),
        "cleared": len(measured),
        **({"latency": percentiles_ms(measured)} if measured else {}),
    }
    return figures


def _stage(turn: TurnLatency, key: str) -> float:
    if key == "end_to_end_ms":
        value = turn.end_to_end_ms
        assert value is not None
        return value
    assert turn.stages_ms is not None
    return turn.stages_ms[key]
