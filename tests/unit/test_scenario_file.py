"""Scenario data files -> simulated-call steps (pure)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from callsim.scenario_file import (
    SCENARIOS_DIR,
    AgentTurns,
    ScenarioError,
    load_scenario,
    parse_scenario,
)
from callsim.steps import (
    Cough,
    Dtmf,
    Say,
    Silence,
    SilenceUntilHangUp,
    WaitForAgent,
    WaitForAgentSilence,
    WaitUntil,
)

EVERY_STEP = {
    "name": "all",
    "settings": {"llm_max_tokens": 8},
    "steps": [
        {"wait_agent_turns": 1},
        {"say": "Hello there."},
        {"pause_ms": 250},
        {"cough_ms": 150},
        {"dtmf": "#"},
        {"wait_for_agent_ms": 600},
        {"say": "Sorry, stop."},
        {"wait_agent_quiet_ms": 1000},
        {"silence_until_hang_up_ms": 9000},
    ],
}


def test_every_step_kind() -> None:
    scenario = parse_scenario(EVERY_STEP)
    assert scenario.steps == (
        AgentTurns(1),
        Say("Hello there."),
        Silence(250),
        Cough(150),
        Dtmf("#"),
        WaitForAgent(after_ms=600),
        Say("Sorry, stop."),
        WaitForAgentSilence(quiet_ms=1000),
        SilenceUntilHangUp(9000),
    )
    assert scenario.settings == {"llm_max_tokens": 8}
    assert scenario.utterances == 2


@pytest.mark.parametrize(
    "step",
    [
        {"say": ""},
        {"dtmf": "12"},
        {"dtmf": "x"},
        {"pause_ms": -1},
        {"pause_ms": "100"},
        {"cough_ms": True},
        {"sing": "la"},
        {"say": "a", "pause_ms": 1},
        "say hello",
    ],
)
def test_bad_steps_name_the_step(step: object) -> None:
    with pytest.raises(ScenarioError, match=r"x\.json step 2"):
        parse_scenario({"steps": [{"pause_ms": 1}, step]}, "x.json")


def test_bad_documents() -> None:
    for document in ([], {"steps": []}, {"steps": [{"pause_ms": 1}], "extra": 1}):
        with pytest.raises(ScenarioError):
            parse_scenario(document)


def test_first_turns_keeps_the_waits_after_the_last_kept_utterance() -> None:
    scenario = parse_scenario(EVERY_STEP)
    one = scenario.first_turns(1)
    assert one.steps == scenario.steps[:6]  # up to the wait before the second utterance
    assert one.utterances == 1
    assert scenario.first_turns(5).steps == scenario.steps


def test_agent_turns_bind_to_a_live_count() -> None:
    committed = [0]
    steps = parse_scenario(EVERY_STEP).steps_for_call(lambda n: committed[0] >= n, timeout_ms=1234)
    wait = steps[0]
    assert isinstance(wait, WaitUntil) and wait.timeout_ms == 1234
    assert not wait.done()
    committed[0] = 1
    assert wait.done()
    assert steps[5] == WaitForAgent(after_ms=600, timeout_ms=1234)
    assert steps[1:5] + steps[6:] == list(
        parse_scenario(EVERY_STEP).steps[1:5] + (parse_scenario(EVERY_STEP).steps[6:])
    )


def test_checked_in_scenarios_load(tmp_path: Path) -> None:
    files = sorted(SCENARIOS_DIR.glob("*.json"))
    assert {f.stem for f in files} >= {"latency", "interruption", "noise_dtmf_timeout"}
    for file in files:
        scenario = load_scenario(file)
        assert scenario.utterances >= 1, file
    assert load_scenario("latency") == load_scenario(SCENARIOS_DIR / "latency.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(ScenarioError, match="not JSON"):
        load_scenario(broken)
    steps = json.loads((SCENARIOS_DIR / "noise_dtmf_timeout.json").read_text())["steps"]
    assert {"dtmf", "cough_ms", "silence_until_hang_up_ms"} <= {k for s in steps for k in s}
