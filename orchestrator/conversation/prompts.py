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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Protocol


class Role(Enum):
    USER = "user"  # the caller
    ASSISTANT = "model"  # the agent (Gemma's name for the role)


class PromptFormat(StrEnum):
    GEMMA = "gemma"
    CHATML = "chatml"


class SpokenTurn(Protocol):
    @property
    def role(self) -> Role: ...

    @property
    def text(self) -> str: ...


@dataclass(frozen=True)
class Turn:
    role: Role
    text: str


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
    turns = _merge_consecutive(history)
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
        parts.append(f"{_CHATML_START}{role}\n{turn.text.strip()}{_CHATML_END}\n")
    parts.append(f"{_CHATML_START}assistant\n")
    return "".join(parts)


def _merge_consecutive(history: Sequence[SpokenTurn]) -> list[Turn]:
    merged: list[Turn] = []
    for turn in history:
        if merged and merged[-1].role is turn.role:
            merged[-1] = Turn(turn.role, f"{merged[-1].text.strip()} {turn.text.strip()}")
        else:
            merged.append(Turn(turn.role, turn.text))
    return merged
