"""The conversation as the LLM's text prompt, in the chat format it was tuned on. Pure.

The vLLM backend's ``text_input`` is raw text, so the orchestrator applies the template itself:

- **Gemma** (production): two roles, ``user`` and ``model``, and no system role: the system prompt
  opens the first user turn, followed by a blank line (what its Hugging Face template does). The
  history must start and end with the caller, and roles alternate strictly (consecutive turns of one
  role are merged); since the agent speaks first on a phone call, a fixed "call connected" user turn
  precedes the greeting. ``<bos>`` is not written: vLLM tokenizes a text prompt with special tokens.
- **ChatML** (the CPU profile's SmolLM2, and many small instruct models): ``system``, ``user``,
  ``assistant`` blocks.

Both end with an open agent turn; the model ends its answer with its end-of-turn token
(``llm_stop_token_ids``), never seen in the text.

    <start_of_turn>user            <|im_start|>system
    {system}                       {system}<|im_end|>
                                   <|im_start|>user
    {first user text}<end_of_turn> {text}<|im_end|>
    <start_of_turn>model           <|im_start|>assistant

**Tools** (:mod:`~orchestrator.conversation.tool_prompt` declares them in the system text, and says
where each format's convention comes from): a turn may carry the calls the agent wrote
(``tool_calls``, an assistant turn: its heard words, then the call block as the model wrote it) or the
tools' answers (``tool_results``, a user turn: the result blocks, then any words of the caller's). The
blocks' text is here, beside the turns', since it is the prompt format's: :func:`render_calls` and
:func:`render_results`; the stream parser (:mod:`~orchestrator.conversation.tool_calls`) reads the same
:data:`TOOL_MARKERS`.

    ```tool_code                   <tool_call>
    name(arg="v", n=2)             {"name": "name", "arguments": {"arg": "v", "n": 2}}
    ```                            </tool_call>
    ```tool_output                 <tool_response>
    {result}                       {result}
    ```                            </tool_response>
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Protocol

from orchestrator.conversation.tool_specs import ToolCall, ToolResult


class Role(Enum):
    USER = "user"  # the caller
    ASSISTANT = "model"  # the agent (Gemma's name for the role)


class PromptFormat(StrEnum):
    GEMMA = "gemma"
    CHATML = "chatml"


class SpokenTurn(Protocol):
    """A turn of the conversation. One may also have ``tool_calls: tuple[ToolCall, ...]`` and
    ``tool_results: tuple[ToolResult, ...]`` (read with ``getattr``, so any turn without them fits)."""

    @property
    def role(self) -> Role: ...

    @property
    def text(self) -> str: ...


@dataclass(frozen=True)
class Turn:
    role: Role
    text: str
    tool_calls: tuple[ToolCall, ...] = ()  # an assistant turn: the calls written after ``text``
    tool_results: tuple[ToolResult, ...] = ()  # a user turn: the tools' answers, before ``text``


class PromptError(ValueError):
    """The history cannot be turned into a prompt of this format."""


BOS = "<bos>"
_GEMMA_START, _GEMMA_END = "<start_of_turn>", "<end_of_turn>"
_CHATML_START, _CHATML_END = "<|im_start|>", "<|im_end|>"
# The formats' markers are special tokens: the model ends its turn with one, but vLLM never puts them
# in the text (skip_special_tokens), so as stop strings they cannot match: end turns on their ids.
SPECIAL_TOKENS = frozenset({BOS, _GEMMA_START, _GEMMA_END, _CHATML_START, _CHATML_END})
_CHATML_ROLES = {Role.USER: "user", Role.ASSISTANT: "assistant"}
# Gemma's history must start with the caller; the greeting comes first, so the prompt opens with this.
CALL_CONNECTED = "(The phone call has connected.)"


@dataclass(frozen=True)
class ToolMarkers:
    call_open: str
    call_close: str
    result_open: str
    result_close: str


TOOL_MARKERS = {
    PromptFormat.GEMMA: ToolMarkers("```tool_code", "```", "```tool_output", "```"),
    PromptFormat.CHATML: ToolMarkers(
        "<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>"
    ),
}
# What a failed call's result (``ok=False``) says before the reason.
TOOL_ERROR = "Error: "


def build_prompt(fmt: PromptFormat, system: str, history: Sequence[SpokenTurn]) -> str:
    """The prompt for the agent's next turn, answering the caller's last words."""
    if fmt is PromptFormat.CHATML:
        return chatml_prompt(system, history)
    turns = list(history)
    if turns and turns[0].role is Role.ASSISTANT:
        turns.insert(0, Turn(Role.USER, CALL_CONNECTED))
    return gemma_prompt(system, turns)


def gemma_prompt(system: str, history: Sequence[SpokenTurn], bos: bool = False) -> str:
    """``history`` starts and ends with the caller. ``bos=True`` for an engine that does not add it."""
    turns = _merge_consecutive(PromptFormat.GEMMA, history)
    if not turns or turns[0].role is not Role.USER:
        raise PromptError("the history must start with a user turn")
    if turns[-1].role is not Role.USER:
        raise PromptError("the history must end with a user turn (the model answers it)")
    parts = [BOS] if bos else []
    for index, turn in enumerate(turns):
        text = turn.text.strip()
        if index == 0 and system.strip():
            text = f"{system.strip()}\n\n{text}"
        parts.append(f"{_GEMMA_START}{turn.role.value}\n{text}{_GEMMA_END}\n")
    parts.append(f"{_GEMMA_START}{Role.ASSISTANT.value}\n")
    return "".join(parts)


def chatml_prompt(system: str, history: Sequence[SpokenTurn]) -> str:
    parts = [f"{_CHATML_START}system\n{system.strip()}{_CHATML_END}\n"] if system.strip() else []
    for turn in history:
        role = _CHATML_ROLES[turn.role]
        text, _ = _turn_text(PromptFormat.CHATML, turn)
        parts.append(f"{_CHATML_START}{role}\n{text}{_CHATML_END}\n")
    parts.append(f"{_CHATML_START}assistant\n")
    return "".join(parts)


def render_calls(fmt: PromptFormat, calls: Sequence[ToolCall]) -> str:
    """The call block as the model writes it: Gemma's ``tool_code`` block, one Python-style call a line
    (keyword arguments, Python literals); ChatML's ``<tool_call>`` block, one JSON object a line."""
    markers = TOOL_MARKERS[fmt]
    if fmt is PromptFormat.GEMMA:
        lines = [_python_call(call) for call in calls]
    else:
        lines = [
            json.dumps({"name": call.name, "arguments": dict(call.arguments)}, ensure_ascii=False)
            for call in calls
        ]
    return "\n".join([markers.call_open, *lines, markers.call_close])


def render_results(fmt: PromptFormat, results: Sequence[ToolResult]) -> str:
    """The tools' answers, one block each, in the calls' order: ``tool_output`` (Gemma) or
    ``<tool_response>`` (ChatML). A failed call's block says ``Error: `` and why. A closing marker inside
    a result is removed, so that a tool's text cannot end its block early."""
    markers = TOOL_MARKERS[fmt]
    blocks = []
    for result in results:
        content = result.content.replace(markers.result_close, "").strip()
        if not result.ok:
            content = f"{TOOL_ERROR}{content}"
        blocks.append(f"{markers.result_open}\n{content}\n{markers.result_close}")
    return "\n".join(blocks)


def python_literal(value: object) -> str:
    """A JSON value as a Python literal (strings double-quoted, as JSON writes them)."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(python_literal(item) for item in value) + "]"
    if isinstance(value, Mapping):
        items = (
            f"{json.dumps(str(k), ensure_ascii=False)}: {python_literal(v)}"
            for k, v in value.items()
        )
        return "{" + ", ".join(items) + "}"
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def _python_call(call: ToolCall) -> str:
    arguments = ", ".join(
        f"{name}={python_literal(value)}" for name, value in call.arguments.items()
    )
    return f"{call.name}({arguments})"


def _turn_text(fmt: PromptFormat, turn: SpokenTurn) -> tuple[str, bool]:
    """The turn's text in the prompt (results, words, calls), and whether it has a tool block."""
    calls: Sequence[ToolCall] = getattr(turn, "tool_calls", ())
    results: Sequence[ToolResult] = getattr(turn, "tool_results", ())
    parts = [render_results(fmt, results)] if results else []
    if turn.text.strip():
        parts.append(turn.text.strip())
    if calls:
        parts.append(render_calls(fmt, calls))
    return "\n".join(parts), bool(calls or results)


def _merge_consecutive(fmt: PromptFormat, history: Sequence[SpokenTurn]) -> list[Turn]:
    """Consecutive turns of one role as one: words join with a space, a tool block goes on its own
    line (heard words, then the call block; the results, then the caller's words)."""
    merged: list[Turn] = []
    blocks: list[bool] = []
    for turn in history:
        text, has_block = _turn_text(fmt, turn)
        if merged and merged[-1].role is turn.role:
            separator = "\n" if has_block or blocks[-1] else " "
            merged[-1] = Turn(turn.role, f"{merged[-1].text.strip()}{separator}{text}")
            blocks[-1] = blocks[-1] or has_block
        else:
            merged.append(Turn(turn.role, text))
            blocks.append(has_block)
    return merged
