"""Tool turns' latency from a call's event log (benchmarks.tool_latency)."""

from __future__ import annotations

import pytest

from benchmarks.tool_latency import summarise_tool_turns, tool_turns

pytestmark = pytest.mark.unit

EVENTS = [
    {
        "t_ms": 900.0,
        "event": "turn_timings",
        "reply_id": 1,
        "end_to_end_ms": 300.0,
    },  # greeting-less
    {"t_ms": 5000.0, "event": "tool_call", "reply_id": 3, "name": "check_availability"},
    {"t_ms": 5600.0, "event": "tool_filler", "reply_id": 3},
    {"t_ms": 5610.0, "event": "turn_timings", "reply_id": 3, "end_to_end_ms": 900.0},
    {"t_ms": 6400.0, "event": "tool_answer_audio", "reply_id": 3},
    {"t_ms": 9000.0, "event": "tool_call", "reply_id": 5, "name": "book_table"},
    {"t_ms": 9300.0, "event": "turn_timings", "reply_id": 5, "end_to_end_ms": 1200.0},
    {"t_ms": 9300.0, "event": "tool_answer_audio", "reply_id": 5},
]


def test_first_audio_is_the_replys_and_the_answer_adds_the_time_to_its_audio() -> None:
    slow, fast = tool_turns(EVENTS)
    assert (slow.reply_id, slow.tools, slow.filler) == (3, ("check_availability",), True)
    assert slow.first_audio_ms == 900.0 and slow.answer_audio_ms == pytest.approx(1690.0)
    assert (fast.filler, fast.first_audio_ms, fast.answer_audio_ms) == (False, 1200.0, 1200.0)


def test_summary_counts_fillers_and_missing_answers() -> None:
    events = [e for e in EVENTS if not (e["event"] == "tool_answer_audio" and e["reply_id"] == 5)]
    figures = summarise_tool_turns(tool_turns(events))
    assert figures["turns"] == 2 and figures["fillers"] == 1 and figures["filler_rate"] == 0.5
    assert figures["answers_missing"] == 1 and figures["answer_audio"]["n"] == 1
    assert figures["calls_by_tool"] == {"book_table": 1, "check_availability": 1}
    assert summarise_tool_turns([]) == {"turns": 0}
