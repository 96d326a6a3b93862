"""One call's conversation as the LLM will see it: system prompt + user/assistant turns. Pure.

Assistant turns come only from :class:`~orchestrator.conversation.heard_text.HeardText`, so an interrupted reply
stores what the caller heard, never the rest the LLM had generated (the context-drift pitfall), and is
marked ``interrupted``. A reply the caller heard nothing of stores nothing, so the speech that cut it
joins the caller's previous words. Consecutive turns of one role merge (Gemma needs strict
alternation), which keeps the history append-only except for its last turn: the prompt's prefix stays
the same from turn to turn and vLLM's prefix cache keeps hitting.

Tools are stored structured, independent of the prompt format (``build_prompt`` writes them in the
format's syntax): :meth:`~ConversationHistory.add_tool_calls` is an assistant turn, the words the caller
heard before the call, then the calls; :meth:`~ConversationHistory.add_tool_results` is a user turn, the
tools' answers, which the caller's next words join (written after them). Every call is answered before
the agent's next turn (a cancelled or failed call by a result with ``ok=False``), so that no words are
ever merged in after a call block.

``prompts.build_prompt(fmt, history.system_prompt, history.turns)`` builds the LLM's prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.conversation.heard_text import HeardText
from orchestrator.conversation.prompts import Role
from orchestrator.conversation.tool_specs import ToolCall, ToolResult


@dataclass(frozen=True)
class HistoryTurn:
    role: Role
    text: str  # spoken words only (heard, for the agent), never a tool block
    interrupted: bool = False  # an assistant turn the caller cut short: ``text`` is the heard part
    tool_calls: tuple[ToolCall, ...] = ()  # an assistant turn: the calls written after ``text``
    tool_results: tuple[ToolResult, ...] = ()  # a user turn: the tools' answers, before ``text``


class ConversationHistory:
    def __init__(self, system_prompt: str) -> None:
        self.system_prompt = system_prompt
        self._turns: list[HistoryTurn] = []

    @property
    def turns(self) -> tuple[HistoryTurn, ...]:
        return tuple(self._turns)

    @property
    def unanswered_calls(self) -> tuple[ToolCall, ...]:
        """The calls written that have no result yet, in the order written."""
        answered = {result.call_id for turn in self._turns for result in turn.tool_results}
        written = (call for turn in self._turns for call in turn.tool_calls)
        return tuple(call for call in written if call.call_id not in answered)

    @property
    def next_call_number(self) -> int:
        """Where a new stream's call ids start (``ToolCallParser(first_call_number=...)``): ids must be
        unique over the call, since a result finds its call by id."""
        return 1 + sum(len(turn.tool_calls) for turn in self._turns)

    def fork(self) -> ConversationHistory:
        """A copy to extend without touching this one (a reply's prompt after its tool rounds)."""
        copy = ConversationHistory(self.system_prompt)
        copy._turns = list(self._turns)
        return copy

    def add_user(self, text: str) -> None:
        """What the caller said (a transcript); blank text is not a turn."""
        self._append(HistoryTurn(Role.USER, text.strip()))

    def add_reply(self, heard: HeardText) -> None:
        """What the caller heard of an agent reply; ``interrupted`` unless they heard all of it."""
        self._append(HistoryTurn(Role.ASSISTANT, heard.text.strip(), not heard.complete))

    def add_tool_calls(self, spoken_before: HeardText | str, calls: Sequence[ToolCall]) -> None:
        """The calls the agent wrote, after the words it said before them: as heard (a ``HeardText``,
        ``interrupted`` unless heard in full) or, as a ``str``, words heard in full."""
        if not calls:
            raise ValueError("no calls to add")
        ids = [call.call_id for call in calls]
        taken = {call.call_id for turn in self._turns for call in turn.tool_calls}
        if len(set(ids)) != len(ids) or taken.intersection(ids):
            raise ValueError(f"call ids must be unique over the call: {ids}")
        if isinstance(spoken_before, HeardText):
            # Nothing heard is nothing cut short: an empty text is not an interrupted turn.
            text = spoken_before.text.strip()
            interrupted = bool(text) and not spoken_before.complete
        else:
            text, interrupted = spoken_before.strip(), False
        self._append(HistoryTurn(Role.ASSISTANT, text, interrupted, tuple(calls)))

    def add_tool_results(self, results: Sequence[ToolResult]) -> None:
        """The tools' answers to calls not yet answered, each once; stored in the calls' order."""
        if not results:
            raise ValueError("no results to add")
        order = {call.call_id: index for index, call in enumerate(self.unanswered_calls)}
        ids = [result.call_id for result in results]
        if len(set(ids)) != len(ids) or not order.keys() >= set(ids):
            raise ValueError(f"results {ids} do not answer the unanswered calls {list(order)}")
        ordered = tuple(sorted(results, key=lambda result: order[result.call_id]))
        self._append(HistoryTurn(Role.USER, "", tool_results=ordered))

    def _append(self, turn: HistoryTurn) -> None:
        if not turn.text and not turn.tool_calls and not turn.tool_results:
            return
        if self._turns and self._turns[-1].role is turn.role:
            last = self._turns.pop()
            if last.tool_calls and turn.role is Role.ASSISTANT:
                # The prompt writes a turn's words before its calls: words after them would move.
                self._turns.append(last)
                raise ValueError("the agent's calls must be answered before it says more")
            turn = HistoryTurn(
                turn.role,
                " ".join(text for text in (last.text, turn.text) if text),
                turn.interrupted if turn.text else last.interrupted,
                last.tool_calls + turn.tool_calls,
                last.tool_results + turn.tool_results,
            )
        self._turns.append(turn)
