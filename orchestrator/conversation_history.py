"""One call's conversation as the LLM will see it: system prompt + user/assistant turns. Pure.

Assistant turns come only from :class:`~orchestrator.heard_text.HeardText`, so an interrupted reply
stores what the caller heard, never the rest the LLM had generated (the context-drift pitfall), and is
marked ``interrupted``. A reply the caller heard nothing of stores nothing, so the speech that cut it
joins the caller's previous words. Consecutive turns of one role merge (Gemma needs strict
alternation), which keeps the history append-only except for its last turn: the prompt's prefix stays
the same from turn to turn and vLLM's prefix cache keeps hitting.

``gemma_prompt.build_prompt(history.system_prompt, [Turn(t.role.value, t.text) for t in history.turns])``
builds the prompt; the role values are Gemma's.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from orchestrator.heard_text import HeardText


class Role(Enum):
    USER = "user"  # the caller
    ASSISTANT = "model"  # the agent (Gemma's name for the role)


@dataclass(frozen=True)
class HistoryTurn:
    role: Role
    text: str
    interrupted: bool = False  # an assistant turn the caller cut short: ``text`` is the heard part


class ConversationHistory:
    def __init__(self, system_prompt: str) -> None:
        self.system_prompt = system_prompt
        self._turns: list[HistoryTurn] = []

    @property
    def turns(self) -> tuple[HistoryTurn, ...]:
        return tuple(self._turns)

    def add_user(self, text: str) -> None:
        """What the caller said (a transcript); blank text is not a turn."""
        self._append(HistoryTurn(Role.USER, text.strip()))

    def add_reply(self, heard: HeardText) -> None:
        """What the caller heard of an agent reply; ``interrupted`` unless they heard all of it."""
        self._append(HistoryTurn(Role.ASSISTANT, heard.text.strip(), not heard.complete))

    def _append(self, turn: HistoryTurn) -> None:
        if not turn.text:
            return
        if self._turns and self._turns[-1].role is turn.role:
            last = self._turns.pop()
            turn = HistoryTurn(turn.role, f"{last.text} {turn.text}", turn.interrupted)
        self._turns.append(turn)
