"""The call_latency benchmark's measurement on one short call: a simulated Twilio caller <-> the
orchestrator <-> the real tritonserver (CPU profile). Checks the figures are computed and consistent,
not how fast they are."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.call_latency import LevelResult, call_settings, measure_call
from benchmarks.turn_latency import STAGES, TRANSPORT
from callsim.scenario_file import parse_scenario
from callsim.twilio_phone import serve_app
from orchestrator.app import conversation_app
from serving.launcher import TritonServer

SHORT_CALL = {
    "name": "short",
    "settings": {"llm_max_tokens": 48},
    "steps": [
        {"wait_agent_turns": 1},
        {"say": "Please tell me about your restaurant."},
        {"wait_for_agent_ms": 300},
        {"say": "Sorry to interrupt. Do you have vegetarian dishes?"},
        {"wait_for_agent_ms": 0},
    ],
}


async def test_one_call_gives_every_figure(triton: TritonServer, tmp_path: Path) -> None:
    scenario = parse_scenario(SHORT_CALL, "short")
    recordings = tmp_path / "recordings"
    settings = call_settings(triton.grpc_url, recordings, scenario)
    async with serve_app(conversation_app(settings)) as base:
        call = await measure_call(base, scenario, recordings)

    assert call.utterances == 2 and not call.cut_by_deadline
    assert [t.text for t in call.turns] == [s["say"] for s in SHORT_CALL["steps"] if "say" in s]
    for turn in call.turns:
        assert turn.voice_to_voice_s > 0
        assert turn.stages_ms is not None, "no turn_timings matched the caller's turn"
        assert set(turn.stages_ms) == {k for k, _ in STAGES} | {TRANSPORT}
        assert sum(turn.stages_ms.values()) == pytest.approx(turn.voice_to_voice_s * 1000.0)
        assert turn.end_to_end_ms is not None and turn.end_to_end_ms > 0
        assert turn.overhead_ms is not None and 0 <= turn.overhead_ms < turn.end_to_end_ms

    # The second utterance started over the reply: one barge-in attempt, cut by a clear.
    assert [b.text for b in call.barge_ins] == [SHORT_CALL["steps"][3]["say"]]
    (barge_in,) = call.barge_ins
    assert barge_in.latency_s is not None and barge_in.latency_s > 0

    figures = LevelResult(1, 1.0, [call]).figures()
    assert figures["turns"] == 2 and figures["turns_without_llm_reply"] == 0
    assert figures["voice_to_voice"]["n"] == 2
    assert set(figures["stages"]) == {k for k, _ in STAGES} | {TRANSPORT, "end_to_end_ms"}
    assert 0 <= figures["orchestrator_overhead"]["ratio_of_end_to_end"] < 1
    assert figures["barge_in"]["cleared"] == 1 and figures["barge_in"]["latency"]["n"] == 1
    assert len(figures["samples"]) == 2
