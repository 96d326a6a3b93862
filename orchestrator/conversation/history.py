"""One call's conversation as the LLM will see it: system prompt + user/assistant turns. Pure.

Assistant turns come only from :class:`~orchestrator.conversation.heard_text.HeardText`, so an interrupted reply
stores what the caller heard, never the rest the LLM had generated (the context-drift pitfall), and is
marked ``interrupted``. A reply the caller heard nothing of stores nothing, so the speech that cut it
joins the caller's previous words. Consecutive turns of one role merge (Gemma needs strict
alternation), which keeps the history append-only except for its last turn: the prompt's prefix stays
the same from turn to turn and vLLM's prefix cache keeps hitting.

``prompts.build_prompt(fmt, history.system_prompt, history.turns)`` builds the LLM's prompt.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.conversation.heard_text import HeardText
from orchestrator.conversation.prompts import Role


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
