"""The prompt of one agent reply: who the agent is, what it remembers of the caller, the conversation as
the caller heard it, and what only this reply answers. Pure.

What stays the same for the whole call comes first, so that vLLM's prefix cache keeps hitting from turn
to turn: the persona and the caller's memory brief (the system prompt), then the history (append-only,
assistant turns as heard: an interrupted reply is only the words that were played). What belongs to this
reply alone comes last: the caller's words not yet committed as a turn (a speculative reply) and the
mood instruction, written after the caller's last words rather than into the system prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.conversation.prompts import PromptFormat, Role, SpokenTurn, Turn, build_prompt


@dataclass(frozen=True)
class ReplyPrompt:
    text: str
    acknowledged: bool  # the mood instruction is in it (it follows caller words, or is left out)


def system_prompt(persona: str, memory_brief: str) -> str:
    """The persona, then the caller's memory brief when there is one."""
    return f"{persona}\n\n{memory_brief}" if memory_brief else persona


def reply_prompt(
    fmt: PromptFormat,
    persona: str,
    memory_brief: str,
    history: Sequence[SpokenTurn],
    speculative_words: str | None = None,
    instruction: str | None = None,
) -> ReplyPrompt:
    """The LLM prompt answering ``history``, or, for a speculative reply, ``history`` followed by the
    caller's ``speculative_words``; ``instruction`` (the caller's mood) goes after the caller's last
    words, and only there."""
    turns: list[SpokenTurn] = list(history)
    if speculative_words is not None:
        turns.append(Turn(Role.USER, speculative_words))
    acknowledged = instruction is not None and bool(turns) and turns[-1].role is Role.USER
    if acknowledged:
        turns[-1] = Turn(Role.USER, f"{turns[-1].text}\n\n({instruction})")
    text = build_prompt(fmt, system_prompt(persona, memory_brief), turns)
    return ReplyPrompt(text, acknowledged)
