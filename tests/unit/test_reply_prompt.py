"""A reply's prompt (orchestrator/conversation/reply_prompt.py): persona, memory, history as heard, the
speculative words and the mood instruction, in both prompt formats. A table of cases, each the whole
prompt."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from orchestrator.conversation.heard_text import HeardText
from orchestrator.conversation.history import ConversationHistory, HistoryTurn
from orchestrator.conversation.prompts import PromptFormat, Role
from orchestrator.conversation.reply_prompt import reply_prompt

PERSONA = "You answer for Luigi's."
MEMORY = "Last call: booked a table."
MOOD = "Acknowledge it."


def heard_history() -> tuple[HistoryTurn, ...]:
    """Greeting heard in full, a question, an answer the caller cut off after "We open", their words."""
    history = ConversationHistory(PERSONA)
    history.add_reply(HeardText("Hello!", complete=True, chunk_index=0, resume_ms=0.0))
    history.add_user("When do you open?")
    history.add_reply(HeardText("We open", complete=False, chunk_index=0, resume_ms=0.0))
    history.add_user("Sorry, tomorrow?")
    return history.turns


@dataclass(frozen=True)
class Case:
    name: str
    fmt: PromptFormat
    memory: str
    speculative: str | None
    instruction: str | None
    prompt: str
    acknowledged: bool


G_HISTORY = (
    "<start_of_turn>user\n{system}\n\n(The phone call has connected.)<end_of_turn>\n"
    "<start_of_turn>model\nHello!<end_of_turn>\n"
    "<start_of_turn>user\nWhen do you open?<end_of_turn>\n"
    "<start_of_turn>model\nWe open<end_of_turn>\n"
)
C_HISTORY = (
    "<|im_start|>system\n{system}<|im_end|>\n"
    "<|im_start|>assistant\nHello!<|im_end|>\n"
    "<|im_start|>user\nWhen do you open?<|im_end|>\n"
    "<|im_start|>assistant\nWe open<|im_end|>\n"
)
CASES = [
    Case(
        "gemma: history as heard, the cut-off answer as its heard words",
        PromptFormat.GEMMA,
        "",
        None,
        None,
        G_HISTORY.format(system=PERSONA)
        + "<start_of_turn>user\nSorry, tomorrow?<end_of_turn>\n<start_of_turn>model\n",
        False,
    ),
    Case(
        "gemma: memory after the persona, speculative words merged into the caller's turn",
        PromptFormat.GEMMA,
        MEMORY,
        "At eight?",
        None,
        G_HISTORY.format(system=f"{PERSONA}\n\n{MEMORY}")
        + "<start_of_turn>user\nSorry, tomorrow? At eight?<end_of_turn>\n<start_of_turn>model\n",
        False,
    ),
    Case(
        "gemma: the mood instruction after the caller's last words",
        PromptFormat.GEMMA,
        "",
        None,
        MOOD,
        G_HISTORY.format(system=PERSONA)
        + f"<start_of_turn>user\nSorry, tomorrow?\n\n({MOOD})<end_of_turn>\n"
        "<start_of_turn>model\n",
        True,
    ),
    Case(
        "chatml: memory, speculative words as their own turn, then the instruction",
        PromptFormat.CHATML,
        MEMORY,
        "At eight?",
        MOOD,
        C_HISTORY.format(system=f"{PERSONA}\n\n{MEMORY}")
        + "<|im_start|>user\nSorry, tomorrow?<|im_end|>\n"
        + f"<|im_start|>user\nAt eight?\n\n({MOOD})<|im_end|>\n<|im_start|>assistant\n",
        True,
    ),
    Case(
        "chatml: history as heard",
        PromptFormat.CHATML,
        "",
        None,
        None,
        C_HISTORY.format(system=PERSONA)
        + "<|im_start|>user\nSorry, tomorrow?<|im_end|>\n<|im_start|>assistant\n",
        False,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_reply_prompt(case: Case) -> None:
    prompt = reply_prompt(
        case.fmt, PERSONA, case.memory, heard_history(), case.speculative, case.instruction
    )
    assert prompt.text == case.prompt
    assert prompt.acknowledged is case.acknowledged


def test_an_instruction_is_left_out_when_the_agent_spoke_last() -> None:
    greeting_only = (HistoryTurn(Role.ASSISTANT, "Hello!"),)
    prompt = reply_prompt(PromptFormat.CHATML, PERSONA, "", greeting_only, None, MOOD)
    assert MOOD not in prompt.text
    assert not prompt.acknowledged


def test_the_next_turns_prompt_extends_this_ones_prefix() -> None:
    """Persona and memory first, history append-only: vLLM's prefix cache keeps the call's prompt."""
    history = heard_history()
    first = reply_prompt(PromptFormat.GEMMA, PERSONA, MEMORY, history[:2]).text
    later = reply_prompt(PromptFormat.GEMMA, PERSONA, MEMORY, history).text
    assert later.startswith(first.removesuffix("<start_of_turn>model\n"))
