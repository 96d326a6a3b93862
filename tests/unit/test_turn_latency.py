"""Caller-side voice-to-voice / barge-in latency and the stage split (pure)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.turn_latency import (
    STAGES,
    TRANSPORT,
    call_latencies,
    first_after,
    stage_split,
    summarise,
)
from callsim.steps import CallerTurn, voiced_frames

START = 100.0  # loop time the call started; t_ms in the event log counts from here


def timing(caller_stopped: float, **stages: float) -> dict[str, float]:
    """A turn_timings event for a turn whose caller stopped at loop time ``caller_stopped``."""
    values = {
        "endpointing_ms": 420.0,
        "stt_ms": 300.0,
        "reply_start_ms": 2.0,
        "llm_ttft_ms": 500.0,
        "llm_first_phrase_ms": 400.0,
        "tts_first_audio_ms": 250.0,
        "held_ms": 0.0,
        "first_byte_ms": 3.0,
        **stages,
    }
    values["end_to_end_ms"] = sum(values[k] for k, _ in STAGES)
    values["t_ms"] = (caller_stopped - START) * 1000.0 + values["end_to_end_ms"]
    return values


def test_first_after() -> None:
    assert first_after([1.0, 2.0, 3.0], 2.0) == 2.0
    assert first_after([1.0, 2.0, 3.0], 2.5) == 3.0
    assert first_after([1.0], 1.5) is None


def test_stage_split_sums_to_voice_to_voice() -> None:
    event = timing(105.0)
    split = stage_split(event, voice_to_voice_ms=1900.0)
    assert split is not None
    assert split[TRANSPORT] == pytest.approx(1900.0 - 1875.0)
    assert sum(split.values()) == pytest.approx(1900.0)
    missing = dict(event)
    del missing["llm_ttft_ms"]
    assert stage_split(missing, 1900.0) is None


def test_turns_and_barge_ins_of_a_call() -> None:
    turns = [
        CallerTurn("first", onset=103.0, voiced_end=105.0, over_agent=False),
        CallerTurn("interrupting", onset=108.0, voiced_end=110.0, over_agent=True),
        CallerTurn("unanswered", onset=114.0, voiced_end=115.0, over_agent=True),
    ]
    arrivals = [101.0, 106.9, 107.0, 107.1, 112.0, 112.02]
    clears = [108.6]
    timings = [timing(110.03), timing(104.98)]  # out of order: matched by time, not position
    latencies, barge_ins, _ = call_latencies("CA1", turns, arrivals, clears, timings, START)

    assert [t.text for t in latencies] == ["first", "interrupting"]  # no reply to the third
    first, second = latencies
    assert first.voice_to_voice_s == pytest.approx(1.9)
    assert second.voice_to_voice_s == pytest.approx(2.0)
    assert first.stages_ms is not None and second.stages_ms is not None
    assert first.stages_ms[TRANSPORT] == pytest.approx(1900.0 - 1875.0)
    assert second.end_to_end_ms == pytest.approx(1875.0)
    assert first.overhead_ms == pytest.approx(5.0)

    assert [(b.text, b.latency_s) for b in barge_ins] == [
        ("interrupting", pytest.approx(0.6)),
        ("unanswered", None),  # no clear after its onset
    ]


def test_audio_of_the_cut_reply_is_not_the_answer() -> None:
    turns = [CallerTurn("interrupting", onset=108.0, voiced_end=110.0, over_agent=True)]
    arrivals = [109.0, 110.2, 112.0]  # the old reply until the clear at 110.4, then the answer
    latencies, barge_ins, _ = call_latencies(
        "CA1", turns, arrivals, [110.4], [timing(110.0)], START
    )
    assert latencies[0].voice_to_voice_s == pytest.approx(2.0)
    assert barge_ins[0].latency_s == pytest.approx(2.4)


def test_a_timing_too_far_from_the_caller_is_not_matched() -> None:
    turns = [CallerTurn("q", onset=103.0, voiced_end=105.0, over_agent=False)]
    for stopped in (103.9, 110.5):  # before the caller stopped; long after (a later turn's)
        latencies, _, _ = call_latencies("CA1", turns, [107.0], [], [timing(stopped)], START)
        assert latencies[0].stages_ms is None
    latencies, _, _ = call_latencies("CA1", turns, [109.4], [], [timing(107.5)], START)
    assert latencies[0].stages_ms is not None  # the VAD's clock lagged 2.5 s behind


def test_summary_figures_and_overhead_ratio() -> None:
    turns = [CallerTurn(f"q{i}", 100.0 + 10 * i, 102.0 + 10 * i, i % 2 == 1) for i in range(4)]
    arrivals = [104.0 + 10 * i for i in range(4)]
    timings = [timing(102.0 + 10 * i) for i in range(4)]
    clears = [110.5, 130.7]
    latencies, barge_ins, _ = call_latencies("CA1", turns, arrivals, clears, timings, START)
    figures = summarise(latencies, barge_ins)
    assert figures["turns"] == 4 and figures["turns_without_llm_reply"] == 0
    assert figures["voice_to_voice"]["p50_ms"] == pytest.approx(2000.0)
    assert figures["stages"]["llm_ttft_ms"]["max_ms"] == pytest.approx(500.0)
    assert figures["stages"][TRANSPORT]["p50_ms"] == pytest.approx(125.0)
    overhead = figures["orchestrator_overhead"]
    assert overhead["ratio_of_end_to_end"] == pytest.approx(5.0 / 1875.0, abs=1e-5)
    assert overhead["ratio_of_voice_to_voice"] == pytest.approx(5.0 / 2000.0, abs=1e-5)
    assert figures["barge_in"]["attempts"] == figures["barge_in"]["cleared"] == 2
    assert figures["barge_in"]["latency"]["max_ms"] == pytest.approx(700.0)


def test_summary_without_turns() -> None:
    figures = summarise([], [])
    assert figures["turns"] == 0 and "voice_to_voice" not in figures
    turns = [CallerTurn("q", onset=103.0, voiced_end=105.0, over_agent=False)]
    apology, _, _ = call_latencies("CA1", turns, [107.0], [], [], START)  # no turn_timings
    figures = summarise(apology, [])
    assert figures["turns"] == 0 and figures["turns_without_llm_reply"] == 1
    assert figures["barge_in"] == {"attempts": 0, "cleared": 0}


def test_voiced_frames() -> None:
    pcm = np.zeros(8000, np.int16)  # 1 s = 50 frames
    assert voiced_frames(pcm) is None
    pcm[165:170] = 10_000  # frame 1
    pcm[4000] = -20_000  # frame 25
    assert voiced_frames(pcm) == (1, 25)


def test_reply_committed_waits_for_the_reply_to_the_last_utterance() -> None:
    from benchmarks.call_latency import reply_committed

    events = [
        {"t_ms": 900.0, "event": "agent_line", "line": "greeting"},
        {"t_ms": 2000.0, "event": "agent_turn", "reply_id": 1},
        {"t_ms": 6000.0, "event": "agent_turn", "reply_id": 3},  # the previous reply ends late
    ]
    assert not reply_committed(events, said_ms=5000.0)
    events.append({"t_ms": 9000.0, "event": "turn_timings", "reply_id": 5})
    assert not reply_committed(events, said_ms=5000.0)
    events.append({"t_ms": 12000.0, "event": "agent_turn", "reply_id": 5})
    assert reply_committed(events, said_ms=5000.0)
    apology = [
        {"t_ms": 8000.0, "event": "agent_line", "line": "apology"},
        {"t_ms": 10000.0, "event": "agent_turn", "reply_id": 6},
    ]
    assert reply_committed(apology, said_ms=5000.0)


def test_noise_over_the_agent_counts_false_clears_and_is_not_a_turn() -> None:
    turns = [
        CallerTurn("Tell me about the menu.", onset=103.0, voiced_end=105.0, over_agent=False),
        CallerTurn("Mm-hmm.", onset=108.0, voiced_end=108.4, over_agent=True),
    ]
    timings = [
        timing(105.0, speculation_ms=300.0, end_of_turn_ms=400.0)
        | {"speculation": {"replies_started": 1, "replies_cancelled": 1, "wasted_llm_tokens": 7}}
    ]
    latencies, barge_ins, noises = call_latencies(
        "CA1",
        turns,
        [107.0, 110.0],
        [108.2, 111.1],  # the backchannel cleared; the cough at 111.0 too
        timings,
        START,
        coughs_over_agent=[111.0, 115.0],
        is_backchannel=lambda text: text == "Mm-hmm.",
    )
    assert [t.text for t in latencies] == ["Tell me about the menu."] and barge_ins == []
    assert sorted((n.kind, n.cleared) for n in noises) == [
        ("Mm-hmm.", True),
        ("cough", False),
        ("cough", True),
    ]
    figures = summarise(latencies, barge_ins, noises)
    assert figures["false_clears"] == {"noise_over_agent": 3, "cleared": 2, "rate": 0.667}
    assert figures["speculation"]["wasted_llm_tokens"] == 7
    assert figures["end_of_turn"]["speculation_ms"]["p50_ms"] == 300.0
