"""ChatML, the chat format of the CPU profile's SmolLM2 (and many small instruct models). Pure.

Production speaks Gemma's format (orchestrator/gemma_prompt.py); a model answers sensibly only in the
format it was tuned on, so the CPU profile selects this one with ``CC_LLM_PROMPT_FORMAT=chatml``.

    <|im_start|>system
    {system}<|im_end|>
    <|im_start|>user
    {text}<|im_end|>
    <|im_start|>assistant
"""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.gemma_prompt import Turn

END = "<|im_end|>"
STOP_SEQUENCES = (END, "<|im_start|>")
_ROLES = {"user": "user", "model": "assistant"}


def build_chatml_prompt(system: str, history: Sequence[Turn]) -> str:
    parts = [f"<|im_start|>system\n{system.strip()}{END}\n"] if system.strip() else []
    for turn in history:
        parts.append(f"<|im_start|>{_ROLES[turn.role]}\n{turn.text.strip()}{END}\n")
    parts.append("<|im_start|>assistant\n")
    return "".join(parts)
