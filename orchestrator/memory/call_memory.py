"""What memory keeps of one call: typed records, checked when they are made. Pure.

A :class:`StoredCall` is one call as memory holds it: the LLM-written summary, a few structured
facts, the heard transcript (kept so that memory survives a bad summary: it can be summarised
again), and the call's sentiment. A :class:`CallMemory` is a call to record: a ``StoredCall`` and
the key of the caller it belongs to. Times are timezone-aware (stored as UTC): a naive time is
rejected rather than guessed, since ordering and retention depend on it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

# Facts the summariser pulled out of a call, e.g. {"name": "Ana", "open requests": ["refund"]}.
Facts: TypeAlias = Mapping[str, str | Sequence[str]]
# Anything JSON holds; the sentiment summary is a small object of these.
JsonValue: TypeAlias = (
    str | int | float | bool | Sequence["JsonValue"] | Mapping[str, "JsonValue"] | None
)
Sentiment: TypeAlias = Mapping[str, JsonValue]

MAX_CALL_SID_CHARS = 64  # Twilio's are 34; the column's width
_CALLER_KEY = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class TranscriptTurn:
    role: str  # "user" (the caller) or "assistant" (what the caller heard of the agent)
    text: str


@dataclass(frozen=True, kw_only=True)
class StoredCall:
    call_sid: str
    ended_at: datetime  # timezone-aware
    summary: str
    facts: Facts
    transcript: Sequence[TranscriptTurn]
    sentiment: Sentiment | None = None

    def __post_init__(self) -> None:
        if not 0 < len(self.call_sid) <= MAX_CALL_SID_CHARS:
            raise ValueError(f"a call SID has 1 to {MAX_CALL_SID_CHARS} characters")
        if self.ended_at.tzinfo is None or self.ended_at.utcoffset() is None:
            raise ValueError("ended_at must be timezone-aware")
        for name, value in self.facts.items():
            if not isinstance(name, str) or not _is_fact_value(value):
                raise ValueError("facts map names to a string or a list of strings")
        for turn in self.transcript:
            if not isinstance(turn, TranscriptTurn):
                raise ValueError("a transcript is a sequence of TranscriptTurn")


@dataclass(frozen=True, kw_only=True)
class CallMemory(StoredCall):
    """A call to record under its caller's key (:func:`~orchestrator.memory.caller_key.caller_key`)."""

    caller_key: str

    def __post_init__(self) -> None:
        super().__post_init__()
        require_caller_key(self.caller_key)


def require_caller_key(key: str) -> str:
    """``key`` if it is a caller key; a raw number passed by mistake would be stored in clear."""
    if not _CALLER_KEY.fullmatch(key):
        raise ValueError("not a caller key (64 hex characters)")
    return key


def _is_fact_value(value: object) -> bool:
    if isinstance(value, str):
        return True
    return isinstance(value, list | tuple) and all(isinstance(item, str) for item in value)
