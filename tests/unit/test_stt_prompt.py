"""Which earlier turns prompt the STT model."""

from __future__ import annotations

from orchestrator.conversation.prompts import Role, Turn
from orchestrator.conversation.stt_prompt import SttPrompt, stt_prompt

TURNS = [
    Turn(Role.ASSISTANT, "Hello, Luigi's."),
    Turn(Role.USER, "A table for Dana."),
    Turn(Role.ASSISTANT, "I'm a food delivery service."),
    Turn(Role.USER, "At seven thirty."),
]


def test_the_prompt_holds_the_turns_the_mode_names() -> None:
    assert stt_prompt(TURNS, SttPrompt.NONE, 200) == ""
    assert stt_prompt(TURNS, SttPrompt.CALLER, 200) == "A table for Dana. At seven thirty."
    full = "Hello, Luigi's. A table for Dana. I'm a food delivery service. At seven thirty."
    assert stt_prompt(TURNS, SttPrompt.FULL, 200) == full
    assert stt_prompt(TURNS, SttPrompt.FULL, 16) == full[-16:]
