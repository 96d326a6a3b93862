from __future__ import annotations

import pytest

from orchestrator.conversation.call_summary import parse_summary, stated_facts, summary_request
from orchestrator.conversation.prompts import Role, Turn

pytestmark = pytest.mark.unit

CALL = [
    Turn(Role.ASSISTANT, "Thank you for calling The Green Table. How can I help?"),
    Turn(Role.USER, "Hi, my name is Ana Lopez and I'd like a table for two on Friday."),
    Turn(Role.ASSISTANT, "Of course. Any dietary needs?"),
    Turn(Role.USER, "Yes, I'm allergic to peanuts. I'm calling from work, sorry."),
]


def test_the_request_carries_the_heard_transcript_and_the_format() -> None:
    request = summary_request(CALL)
    assert "Caller: Hi, my name is Ana Lopez" in request
    assert "Agent: Of course." in request
    assert request.rstrip().endswith("Open requests: <anything still to be done for them>")


def test_a_well_formed_answer_becomes_summary_and_facts() -> None:
    answer = (
        "Summary: Ana booked a table for two on Friday.\n"
        "Name: Ana Lopez\nPreferences: a quiet table\nAllergies: peanuts\nOpen requests: none"
    )
    summary = parse_summary(answer, CALL)
    assert summary.summary == "Ana booked a table for two on Friday."
    assert summary.facts == {
        "name": "Ana Lopez",
        "preferences": "a quiet table",
        "allergies": ["peanuts"],  # as the caller said it
    }


def test_facts_the_caller_stated_fill_what_the_llm_left_out() -> None:
    summary = parse_summary("Ana wants a table.\n\nShe called from work.", CALL)  # no labels
    assert summary.summary == "Ana wants a table. She called from work."
    assert summary.facts == {"name": "Ana Lopez", "allergies": ["peanuts"]}


def test_without_a_usable_summary_the_callers_words_are_kept() -> None:
    # The CPU profile's 135M model echoes the transcript back rather than summarising it.
    echo = "The phone call:\nAna: Hi, I'm Ana.\nAgent: Thank you, Ana.\nCaller: Can I book a"
    for answer in ("", "Summary: none\nName: Ana", echo):
        summary = parse_summary(answer, CALL)
        assert summary.summary.startswith("The caller said: Hi, my name is Ana Lopez")


def test_what_the_caller_said_wins_over_the_llms_reading() -> None:
    summary = parse_summary("Summary: booked.\nName: John\nPreferences: window seat", CALL)
    assert summary.facts == {
        "name": "Ana Lopez",
        "preferences": "window seat",
        "allergies": ["peanuts"],
    }


@pytest.mark.parametrize(
    ("said", "facts"),
    [
        ("I'm calling about my booking", {}),
        ("this is Sam", {"name": "Sam"}),
        ("it's Priya Shah speaking", {"name": "Priya Shah"}),
        ("my son has a nut allergy", {"allergies": ["nut"]}),
        ("we are allergic to shellfish, and I'd like a table", {"allergies": ["shellfish"]}),
        ("no allergies, thanks", {}),
    ],
)
def test_stated_facts(said: str, facts: dict[str, object]) -> None:
    assert stated_facts([Turn(Role.USER, said)]) == facts


def test_the_agent_saying_a_name_is_not_the_callers() -> None:
    assert stated_facts([Turn(Role.ASSISTANT, "Hi, this is Sam from the restaurant.")]) == {}
