"""The LLM's prompt formats: Gemma's template (production) and ChatML (the CPU profile)."""

from __future__ import annotations

import pytest

from orchestrator.conversation.prompts import (
    CALL_CONNECTED,
    PromptError,
    PromptFormat,
    Role,
    Turn,
    build_prompt,
    chatml_prompt,
    gemma_prompt,
)

USER, MODEL = Role.USER, Role.ASSISTANT


def test_system_prompt_is_folded_into_the_first_user_turn() -> None:
    prompt = gemma_prompt("Be brief.", [Turn(USER, "Hi there")])
    assert (
        prompt == "<start_of_turn>user\nBe brief.\n\nHi there<end_of_turn>\n<start_of_turn>model\n"
    )


def test_a_conversation_alternates_turns_and_ends_with_an_open_model_turn() -> None:
    history = [Turn(USER, "Hi"), Turn(MODEL, "Hello!"), Turn(USER, "Book a table")]
    prompt = gemma_prompt("", history, bos=True)
    assert prompt == (
        "<bos><start_of_turn>user\nHi<end_of_turn>\n"
        "<start_of_turn>model\nHello!<end_of_turn>\n"
        "<start_of_turn>user\nBook a table<end_of_turn>\n"
        "<start_of_turn>model\n"
    )


def test_consecutive_caller_utterances_become_one_turn() -> None:
    prompt = gemma_prompt("", [Turn(USER, "Hi."), Turn(USER, " Are you there?")])
    assert prompt.count("<start_of_turn>user") == 1
    assert "Hi. Are you there?" in prompt


def test_the_prompt_of_a_turn_extends_the_previous_turn_s_prompt() -> None:
    """What makes vLLM's prefix cache reuse the system prompt and earlier turns."""
    first = gemma_prompt("System.", [Turn(USER, "One")])
    second = gemma_prompt("System.", [Turn(USER, "One"), Turn(MODEL, "Two"), Turn(USER, "Three")])
    assert second.startswith(first)


@pytest.mark.parametrize(
    "history", [[], [Turn(MODEL, "Hello")], [Turn(USER, "Hi"), Turn(MODEL, "Hello")]]
)
def test_histories_that_do_not_end_with_the_caller_are_rejected(history: list[Turn]) -> None:
    with pytest.raises(PromptError):
        gemma_prompt("System.", history)


def test_gemma_call_opens_with_a_connected_turn_before_the_greeting() -> None:
    history = [Turn(MODEL, "Hello! How can I help?"), Turn(USER, "Are you open?")]
    prompt = build_prompt(PromptFormat.GEMMA, "Be brief.", history)
    assert prompt.startswith(f"<start_of_turn>user\nBe brief.\n\n{CALL_CONNECTED}<end_of_turn>\n")
    assert prompt.endswith("Are you open?<end_of_turn>\n<start_of_turn>model\n")


def test_chatml_prompt_maps_roles_and_opens_the_assistant_turn() -> None:
    prompt = chatml_prompt("Be brief.", [Turn(MODEL, "Hello!"), Turn(USER, "When do you open?")])
    assert prompt == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n"
        "<|im_start|>user\nWhen do you open?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert build_prompt(PromptFormat.CHATML, "Be brief.", [Turn(USER, "Hi")]) == chatml_prompt(
        "Be brief.", [Turn(USER, "Hi")]
    )


def test_no_system_block_without_a_system_prompt() -> None:
    assert chatml_prompt(" ", [Turn(USER, "Hi")]).startswith("<|im_start|>user\n")
