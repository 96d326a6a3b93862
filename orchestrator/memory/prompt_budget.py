"""What the system prompt says about a caller's earlier calls, within a token budget. Pure.

Calls are taken newest first, each as one dated line with its summary, while the whole block still
fits the budget; the first call that would not fit ends the list (older calls never jump ahead of a
newer one, so the memory the LLM sees is always the most recent). The facts of the calls taken are
merged, the newest call's value winning for each name (names compared case-insensitively), and end
the block::

    What you remember about this caller from earlier calls (newest first):
    - 2026-11-30: Asked to move the delivery to Friday; agreed.
    Known facts: name: Ana; allergy: peanuts; open requests: refund for order 1182

Tokens are estimated, not counted: one token per :data:`BYTES_PER_TOKEN` bytes of UTF-8, rounded
up. No tokenizer is loaded at call start, and the estimate errs high: English runs ~4 characters a
token on Llama/Gemma tokenizers (so a budget holds about a quarter less than it could), digits and
accented or non-Latin text run fewer bytes a token, where a characters/4 rule would undercount.
Summaries and facts have their whitespace collapsed, so stored text cannot add lines to the block.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC

from orchestrator.memory.call_memory import StoredCall

BYTES_PER_TOKEN = 3
HEADER = "What you remember about this caller from earlier calls (newest first):"
FACTS_LEAD = "Known facts: "


@dataclass(frozen=True)
class MemoryBrief:
    text: str  # for the system prompt; "" when there is nothing to say
    call_sids: tuple[str, ...] = ()  # the calls taken, newest first
    facts: dict[str, str | list[str]] = field(default_factory=dict)  # merged, newest wins
    tokens: int = 0  # estimated tokens of ``text``


def estimated_tokens(text: str) -> int:
    """A cheap overestimate of ``text``'s token count (see the module docstring)."""
    return math.ceil(len(text.encode()) / BYTES_PER_TOKEN)


def memory_brief(calls: Iterable[StoredCall], token_budget: int) -> MemoryBrief:
    """The brief of the newest ``calls`` whose block fits ``token_budget`` estimated tokens."""
    newest_first = sorted(calls, key=lambda call: call.ended_at, reverse=True)
    brief = MemoryBrief("")
    for taken in range(1, len(newest_first) + 1):
        candidate = _brief(newest_first[:taken])
        if candidate.tokens > token_budget:
            break
        brief = candidate
    return brief


def _brief(calls: Sequence[StoredCall]) -> MemoryBrief:
    lines = [_call_line(call) for call in calls if _one_line(call.summary)]
    facts = merged_facts(calls)
    if facts:
        lines.append(FACTS_LEAD + "; ".join(_fact_text(n, v) for n, v in facts.items()))
    if not lines:
        return MemoryBrief("")
    text = "\n".join([HEADER, *lines])
    return MemoryBrief(text, tuple(c.call_sid for c in calls), facts, estimated_tokens(text))


def merged_facts(calls: Sequence[StoredCall]) -> dict[str, str | list[str]]:
    """The facts of ``calls`` (newest first) in one dict: per name, the newest non-empty value."""
    merged: dict[str, str | list[str]] = {}
    seen: set[str] = set()
    for call in calls:
        for raw_name, raw_value in call.facts.items():
            name = _one_line(raw_name)
            value = _fact_value(raw_value)
            if not name or not value or name.casefold() in seen:
                continue
            seen.add(name.casefold())
            merged[name] = value
    return merged


def _call_line(call: StoredCall) -> str:
    day = call.ended_at.astimezone(UTC).date().isoformat()
    return f"- {day}: {_one_line(call.summary)}"


def _fact_value(value: str | Sequence[str]) -> str | list[str]:
    if isinstance(value, str):
        return _one_line(value)
    return [item for item in (_one_line(v) for v in value) if item]


def _fact_text(name: str, value: str | list[str]) -> str:
    return f"{name}: {value if isinstance(value, str) else ', '.join(value)}"


def _one_line(text: str) -> str:
    return " ".join(text.split())
