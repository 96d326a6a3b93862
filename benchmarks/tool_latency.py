"""Latency of the caller's turns that called tools, from a call's event log. Pure.

A tool turn is a reply with ``tool_call`` events. Its first audio (the filler or the answer) is the
reply's ``turn_timings.end_to_end_ms`` (caller stopped -> first byte sent, as the orchestrator
timed it); its answer audio adds the time from that first byte to ``tool_answer_audio`` (the first
audio of the answer after the tools' results went out). Both are orchestrator-side: the caller hears
each a transport delay later (``call_latency``'s transport row).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.results_file import percentiles_ms


@dataclass(frozen=True)
class ToolTurn:
    reply_id: int
    tools: tuple[str, ...]
    first_audio_ms: float
    answer_audio_ms: float | None  # None: the answer never went out (a failure, a hang-up)
    filler: bool


def tool_turns(events: Sequence[Mapping[str, Any]]) -> list[ToolTurn]:
    def of(kind: str) -> list[Mapping[str, Any]]:
        return [e for e in events if e.get("event") == kind]

    answered = {e["reply_id"]: e["t_ms"] for e in of("tool_answer_audio")}
    fillers = {e["reply_id"] for e in of("tool_filler")}
    called: dict[int, list[str]] = {}
    for call in of("tool_call"):
        called.setdefault(call["reply_id"], []).append(call["name"])
    turns: list[ToolTurn] = []
    for timing in of("turn_timings"):
        reply_id = timing["reply_id"]
        tools = tuple(called.get(reply_id, ()))
        if not tools or "end_to_end_ms" not in timing:
            continue
        first = float(timing["end_to_end_ms"])
        answer = answered.get(reply_id)
        turns.append(
            ToolTurn(
                reply_id,
                tools,
                first,
                None if answer is None else first + float(answer) - float(timing["t_ms"]),
                reply_id in fillers,
            )
        )
    return turns


def summarise_tool_turns(turns: Sequence[ToolTurn]) -> dict[str, Any]:
    """Percentiles of first audio and answer audio, how often the filler was said, the tools."""
    if not turns:
        return {"turns": 0}
    answers = [t.answer_audio_ms for t in turns if t.answer_audio_ms is not None]
    names = sorted({name for t in turns for name in t.tools})
    return {
        "turns": len(turns),
        "first_audio": percentiles_ms([t.first_audio_ms / 1000.0 for t in turns]),
        "answer_audio": percentiles_ms([a / 1000.0 for a in answers]) if answers else None,
        "answers_missing": len(turns) - len(answers),
        "fillers": sum(t.filler for t in turns),
        "filler_rate": round(sum(t.filler for t in turns) / len(turns), 3),
        "calls_by_tool": {n: sum(t.tools.count(n) for t in turns) for n in names},
    }
