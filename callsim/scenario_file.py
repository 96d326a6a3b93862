"""Caller scenarios as JSON data files (``benchmarks/scenarios/*.json``) -> simulated-call steps.

A scenario file::

    {
      "name": "restaurant",
      "description": "what the caller does",
      "settings": {"llm_max_tokens": 24},
      "steps": [
        {"wait_agent_turns": 1},
        {"say": "What time do you open tomorrow?"},
        {"wait_agent_turns": 2},
        {"say": "Could you tell me about your menu?"},
        {"wait_for_agent_ms": 600},
        {"say": "Sorry to interrupt. Do you have vegetarian dishes?"},
        {"cough_ms": 150},
        {"pause_ms": 500},
        {"dtmf": "1"},
        {"silence_until_hang_up_ms": 40000}
      ]
    }

Each step is an object with exactly one key:

- ``say``: text the caller speaks (synthesised; see :func:`callsim.voices.caller_speech`).
- ``say_with_pause``: ``{"text": ..., "pause_after_words": n, "pause_ms": ms}``: the caller stops
  mid-sentence after ``n`` words for ``ms``, then finishes (both parts cut from the whole sentence;
  :class:`callsim.steps.SayWithPause`).
- ``pause_ms``: silence.
- ``cough_ms``: a noise burst that long.
- ``dtmf``: one key (``0-9``, ``*``, ``#``).
- ``wait_for_agent_ms``: silence until the agent's audio starts arriving, then that many ms more; a
  ``say`` right after it is an interruption N ms into the agent's reply.
- ``wait_agent_turns``: silence until the orchestrator has committed that many agent turns (the
  greeting is the first; an interrupted reply counts when it is committed).
- ``wait_agent_quiet_ms``: silence until the agent has been quiet that long.
- ``silence_until_hang_up_ms``: silence until the agent hangs up (its silence timeout), at most that long.

``settings`` are orchestrator settings the scenario needs (``orchestrator.settings.Settings`` fields).
Loading is pure; :meth:`Scenario.steps_for_call` binds ``wait_agent_turns`` to the live call.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from callsim.steps import (
    Cough,
    Dtmf,
    Say,
    SayWithPause,
    Silence,
    SilenceUntilHangUp,
    Step,
    WaitForAgent,
    WaitForAgentSilence,
    WaitUntil,
)

SCENARIOS_DIR = Path(__file__).parent / "scenarios"
DTMF_DIGITS = frozenset("0123456789*#")


class ScenarioError(ValueError):
    """A scenario file that does not follow the format (names the file and the step)."""


@dataclass(frozen=True)
class AgentTurns:
    """Wait until the orchestrator has committed ``count`` agent turns."""

    count: int


ScenarioStep = Step | AgentTurns


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    steps: tuple[ScenarioStep, ...]
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def utterances(self) -> int:
        return sum(isinstance(step, Say | SayWithPause) for step in self.steps)

    @property
    def sentences(self) -> list[str]:
        """What the caller says, each once, in order."""
        said = [s.text for s in self.steps if isinstance(s, Say | SayWithPause)]
        return list(dict.fromkeys(said))

    def first_turns(self, turns: int) -> Scenario:
        """The scenario cut before its ``turns + 1``-th utterance (keeping the waits that follow
        the last kept one, so its reply is heard)."""
        kept: list[ScenarioStep] = []
        said = 0
        for step in self.steps:
            if isinstance(step, Say | SayWithPause):
                if said == turns:
                    break
                said += 1
            kept.append(step)
        return replace(self, steps=tuple(kept))

    def steps_for_call(
        self, turns_done: Callable[[int], bool], timeout_ms: int = 60_000
    ) -> list[Step]:
        """Runnable steps: ``wait_for_agent_ms`` waits at most ``timeout_ms`` for the agent's audio,
        and ``wait_agent_turns: n`` waits (as long) until
        ``turns_done(n)``, e.g. n agent turns are committed (a caller may also accept the end of
        any reply to its last utterance: a failed reply leaves the count short)."""

        def bind(step: ScenarioStep) -> Step:
            if isinstance(step, AgentTurns):
                count = step.count
                return WaitUntil(lambda: turns_done(count), timeout_ms)
            if isinstance(step, WaitForAgent):  # a loaded CPU can take longer than its default
                return replace(step, timeout_ms=timeout_ms)
            return step

        return [bind(step) for step in self.steps]


def parse_step(raw: object, where: str) -> ScenarioStep:
    if not isinstance(raw, dict) or len(raw) != 1:
        raise ScenarioError(f"{where}: a step is an object with exactly one key, got {raw!r}")
    ((key, value),) = raw.items()
    if key == "say":
        if not isinstance(value, str) or not value.strip():
            raise ScenarioError(f"{where}: 'say' needs non-empty text")
        return Say(value)
    if key == "dtmf":
        if not isinstance(value, str) or len(value) != 1 or value not in DTMF_DIGITS:
            raise ScenarioError(f"{where}: 'dtmf' is one of 0-9, * or #, got {value!r}")
        return Dtmf(value)
    if key == "say_with_pause":
        return _say_with_pause(value, where)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ScenarioError(f"{where}: {key!r} needs a non-negative integer, got {value!r}")
    match key:
        case "pause_ms":
            return Silence(value)
        case "cough_ms":
            return Cough(value)
        case "wait_for_agent_ms":
            return WaitForAgent(after_ms=value)
        case "wait_agent_turns":
            return AgentTurns(value)
        case "wait_agent_quiet_ms":
            return WaitForAgentSilence(quiet_ms=value)
        case "silence_until_hang_up_ms":
            return SilenceUntilHangUp(value)
    raise ScenarioError(f"{where}: unknown step {key!r}")


def _say_with_pause(value: object, where: str) -> SayWithPause:
    if not isinstance(value, dict) or set(value) != {"text", "pause_after_words", "pause_ms"}:
        raise ScenarioError(
            f"{where}: 'say_with_pause' is {{'text', 'pause_after_words', 'pause_ms'}}, got {value!r}"
        )
    text, words, pause_ms = value["text"], value["pause_after_words"], value["pause_ms"]
    if not isinstance(text, str) or not text.strip():
        raise ScenarioError(f"{where}: 'say_with_pause' needs non-empty text")
    for name, number in (("pause_after_words", words), ("pause_ms", pause_ms)):
        if not isinstance(number, int) or isinstance(number, bool) or number <= 0:
            raise ScenarioError(f"{where}: {name!r} needs a positive integer, got {number!r}")
    if words >= len(text.split()):
        raise ScenarioError(f"{where}: the pause must come before the last word of {text!r}")
    return SayWithPause(text, words, pause_ms)


def parse_scenario(document: object, source: str = "<scenario>") -> Scenario:
    if not isinstance(document, dict):
        raise ScenarioError(f"{source}: a scenario is a JSON object")
    unknown = set(document) - {"name", "description", "settings", "steps"}
    if unknown:
        raise ScenarioError(f"{source}: unknown keys {sorted(unknown)}")
    steps = document.get("steps")
    if not isinstance(steps, list) or not steps:
        raise ScenarioError(f"{source}: 'steps' must be a non-empty list")
    settings = document.get("settings", {})
    if not isinstance(settings, dict):
        raise ScenarioError(f"{source}: 'settings' must be an object")
    return Scenario(
        name=str(document.get("name", Path(source).stem)),
        description=str(document.get("description", "")),
        steps=tuple(parse_step(raw, f"{source} step {i + 1}") for i, raw in enumerate(steps)),
        settings=dict(settings),
    )


def load_scenario(path: Path | str) -> Scenario:
    """A scenario file; a bare name (``"latency"``) is looked up in ``benchmarks/scenarios/``."""
    file = Path(path)
    if not file.suffix and not file.exists():
        file = SCENARIOS_DIR / f"{file}.json"
    try:
        document = json.loads(file.read_text())
    except json.JSONDecodeError as error:
        raise ScenarioError(f"{file}: not JSON ({error})") from error
    return parse_scenario(document, str(file))
