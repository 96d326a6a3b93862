"""Gemma's chat template, applied by the orchestrator (the vLLM backend's ``text_input`` is raw text).

Gemma 3 has two roles, ``user`` and ``model``, and no system role: the system prompt goes at the start of
the first user turn, followed by a blank line (what its Hugging Face chat template does). A prompt ends with
an open ``model`` turn; the model ends its answer with ``<end_of_turn>``, a stop sequence. ``<bos>`` is
not written: vLLM tokenizes a text prompt with special tokens, so Gemma's tokenizer adds it (twice would
hurt the answers).

    <start_of_turn>user
    {system}

    {first user text}<end_of_turn>
    <start_of_turn>model
    {reply}<end_of_turn>
    <start_of_turn>user
    ...<end_of_turn>
    <start_of_turn>model
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

BOS = "<bos>"
START = "<start_of_turn>"
END = "<end_of_turn>"
STOP_SEQUENCES = (END,)

Role = Literal["user", "model"]


@dataclass(frozen=True)
class Turn:
    role: Role  # "user" = the caller, "model" = the agent
    text: str


class PromptError(ValueError):
    """The history cannot be turned into a Gemma prompt."""


def build_prompt(system: str, history: Sequence[Turn], bos: bool = False) -> str:
    """The prompt for the agent's next turn.

    ``history`` alternates user/model and starts and ends with a user turn (the caller spoke last).
    Consecutive turns of one role are merged (two caller utterances in a row become one turn), since
    Gemma's template requires strict alternation. ``bos=True`` for an engine that does not add it.
    """
    turns = _merge_consecutive(history)
    if not turns or turns[0].role != "user":
        raise PromptError("the history must start with a user turn")
    if turns[-1].role != "user":
        raise PromptError("the history must end with a user turn (the model answers it)")
    parts = [BOS] if bos else []
    for index, turn in enumerate(turns):
        text = turn.text.strip()
        if index == 0 and system.strip():
            text = f"{system.strip()}\n\n{text}"
        parts.append(f"{START}{turn.role}\n{text}{END}\n")
    parts.append(f"{START}model\n")
    return "".join(parts)


def _merge_consecutive(history: Sequence[Turn]) -> list[Turn]:
    merged: list[Turn] = []
    for turn in history:
        if merged and merged[-1].role == turn.role:
            merged[-1] = Turn(turn.role, f"{merged[-1].text.strip()} {turn.text.strip()}")
        else:
            merged.append(turn)
    return merged
