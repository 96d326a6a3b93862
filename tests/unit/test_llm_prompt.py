"""Gemma's chat template as built by orchestrator/gemma_prompt.py."""

from __future__ import annotations

import pytest

from orchestrator.gemma_prompt import PromptError, Turn, build_prompt


def test_system_prompt_is_folded_into_the_first_user_turn() -> None:
    prompt = build_prompt("Be brief.", [Turn("user", "Hi there")])

    assert (
        prompt == "<start_of_turn>user\nBe brief.\n\nHi there<end_of_turn>\n<start_of_turn>model\n"
    )


def test_a_conversation_alternates_turns_and_ends_with_an_open_model_turn() -> None:
    history = [Turn("user", "Hi"), Turn("model", "Hello!"), Turn("user", "Book a table")]

    prompt = build_prompt("", history, bos=True)

    assert prompt == (
        "<bos><start_of_turn>user\nHi<end_of_turn>\n"
        "<start_of_turn>model\nHello!<end_of_turn>\n"
        "<start_of_turn>user\nBook a table<end_of_turn>\n"
        "<start_of_turn>model\n"
    )


def test_consecutive_caller_utterances_become_one_turn() -> None:
    prompt = build_prompt("", [Turn("user", "Hi."), Turn("user", " Are you there?")])

    assert prompt.count("<start_of_turn>user") == 1
    assert "Hi. Are you there?" in prompt


def test_the_prompt_of_a_turn_extends_the_previous_turn_s_prompt() -> None:
    """What makes vLLM's prefix cache reuse the system prompt and earlier turns."""
    first = build_prompt("System.", [Turn("user", "One")])
    second = build_prompt(
        "System.", [Turn("user", "One"), Turn("model", "Two"), Turn("user", "Three")]
    )

    assert second.startswith(first)


@pytest.mark.parametrize(
    "history", [[], [Turn("model", "Hello")], [Turn("user", "Hi"), Turn("model", "Hello")]]
)
def test_histories_that_do_not_end_with_the_caller_are_rejected(history: list[Turn]) -> None:
    with pytest.raises(PromptError):
        build_prompt("System.", history)
