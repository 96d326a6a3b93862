"""The stt_prompt_wer benchmark's scoring (pure): normalisation, WER, copied agent words, prompts."""

from __future__ import annotations

import pytest

from benchmarks.stt_prompt_wer import (
    AGENT,
    CALLER,
    STT_PROMPT_CHARS,
    Case,
    cases,
    copied_agent_words,
    edit_distance,
    longer,
    normalise,
    wer,
)


def test_normalise_drops_case_punctuation_and_spells_numbers() -> None:
    assert normalise("Great, thank you. Goodbye!") == ["great", "thank", "you", "goodbye"]
    assert normalise("It's 7:30, for 4.") == ["its", "seven", "thirty", "for", "four"]
    assert normalise("555-213") == ["five", "five", "five", "two", "one", "three"]
    assert normalise("45 or 12") == ["forty", "five", "or", "twelve"]


@pytest.mark.parametrize(
    ("reference", "hypothesis", "distance"),
    [
        ([], [], 0),
        (["a", "b"], ["a", "b"], 0),
        (["a", "b", "c"], ["a", "x", "c"], 1),  # substitution
        (["a", "b", "c"], ["a", "c"], 1),  # deletion
        (["a", "b"], ["x", "a", "b", "y"], 2),  # insertions
        (["a", "b"], [], 2),
        ([], ["a"], 1),
    ],
)
def test_edit_distance(reference: list[str], hypothesis: list[str], distance: int) -> None:
    assert edit_distance(reference, hypothesis) == distance


def test_wer_sums_errors_over_reference_words() -> None:
    said = ["Great, thank you. Goodbye.", "Under the name Dana."]
    heard = ["service. Great. Thank you. Goodbye. Bye.", "under the name Donna"]
    assert wer(said, heard) == pytest.approx((2 + 1) / 8)
    assert wer(said, said) == 0.0


def test_copied_agent_words_finds_runs_the_caller_did_not_say() -> None:
    agent = ["I'm a food delivery service.", "Thank you, Dana."]
    copied = copied_agent_words(
        "I'm a food delivery service. How long does it take?", "How long does it take?", agent
    )
    assert copied == ["a food delivery", "food delivery service", "im a food"]


def test_copied_agent_words_ignores_short_runs_and_words_the_caller_said() -> None:
    agent = ["I'm a food delivery service.", "Thank you, Dana. Your table is booked."]
    said = "Great, thank you. Goodbye."
    assert copied_agent_words("service. Great. Thank you. Goodbye.", said, agent) == []
    assert copied_agent_words("Thank you, Dana.", "Thank you, Dana.", agent) == []


def test_prompts_keep_the_last_characters_of_the_chosen_turns() -> None:
    case = Case("Yes.", ((AGENT, "Hello there."), (CALLER, "Hi."), (AGENT, "A" * 300)))
    assert case.prompt("none") == ""
    assert case.prompt("caller") == "Hi."
    assert case.prompt("full") == ("Hello there. Hi. " + "A" * 300)[-STT_PROMPT_CHARS:]
    assert case.agent_turns == ["Hello there.", "A" * 300]


def test_script_gives_each_caller_turn_its_history() -> None:
    all_cases = cases()
    assert len(all_cases) >= 12
    assert all(c.history and c.history[-1][0] == AGENT for c in all_cases)


def test_longer_flags_transcripts_with_more_words_than_said() -> None:
    assert longer("service. Great. Thank you. Goodbye.", "Great, thank you. Goodbye.")
    assert not longer("Great. Thank you, bye.", "Great, thank you. Goodbye.")
