"""What the STT model is prompted with: the call's earlier words help Whisper spell names and
numbers it heard before, but a small Whisper copies prompt text into the transcript, and the
agent's words in a caller's turn corrupt the history the LLM answers from. Which turns go in is a
setting, chosen per profile by word error rate (``benchmarks.stt_prompt_wer``). Pure."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from orchestrator.conversation.prompts import Role, SpokenTurn


class SttPrompt(StrEnum):
    NONE = "none"
    CALLER = "caller"  # the caller's earlier turns only
    FULL = "full"  # every earlier turn, the agent's too


def stt_prompt(turns: Sequence[SpokenTurn], mode: SttPrompt, max_chars: int) -> str:
    """The prompt: the chosen turns' text, joined, its last ``max_chars`` characters."""
    if mode is SttPrompt.NONE:
        return ""
    chosen = [t.text for t in turns if mode is SttPrompt.FULL or t.role is Role.USER]
    return " ".join(chosen)[-max_chars:]
