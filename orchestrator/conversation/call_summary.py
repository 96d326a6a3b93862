"""What memory keeps of a finished call: the LLM's summary and facts, made safe to rely on. Pure.

At hang-up the served LLM is asked for a few labelled lines (:func:`summary_request`), read back by
:func:`parse_summary`. A small model may ignore the format, invent, or say nothing; so the facts a
caller states in so many words ("my name is Ana", "I'm allergic to peanuts") are also read from the
caller's own turns by rules (:func:`stated_facts`): they fill what the LLM left out and win where it
read them otherwise (a small model invents names); an unusable summary falls back to the caller's
first words. The heard transcript is stored beside it all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from orchestrator.conversation.prompts import Role, SpokenTurn

# The labelled lines the LLM is asked for, and the fact each becomes ("" = the summary itself).
FIELDS = {
    "summary": "",
    "name": "name",
    "preferences": "preferences",
    "allergies": "allergies",
    "open requests": "open requests",
}
NOTHING = {"", "none", "unknown", "n/a", "na", "-", "no", "not mentioned", "not given"}
MAX_SUMMARY_CHARS = 400
# A labelled line that is none of ours ("Caller: ...", "Agent: ...", "The call:"): a small model
# echoing the transcript back, which is no summary.
_ECHO = re.compile(r"^\s*[\w' ]{1,30}:(\s|$)")
FALLBACK_CALLER_CHARS = 200

SUMMARY_INSTRUCTION = (
    "Summarise this phone call for the next time this caller phones. Answer with exactly these "
    "lines and nothing else; write 'none' where the call says nothing:\n"
    "Summary: <one or two sentences: why they called and how it ended>\n"
    "Name: <the caller's name>\n"
    "Preferences: <what they like or asked for>\n"
    "Allergies: <any allergies or dietary needs>\n"
    "Open requests: <anything still to be done for them>"
)


@dataclass(frozen=True)
class CallSummary:
    summary: str
    facts: dict[str, str | list[str]] = field(default_factory=dict)


def summary_request(turns: Sequence[SpokenTurn]) -> str:
    """The user message asking for the summary: the heard transcript, then the instruction."""
    lines = [f"{'Caller' if t.role is Role.USER else 'Agent'}: {t.text}" for t in turns]
    return "The call:\n" + "\n".join(lines) + "\n\n" + SUMMARY_INSTRUCTION


def parse_summary(answer: str, turns: Sequence[SpokenTurn]) -> CallSummary:
    """The LLM's ``answer`` as a summary and facts; the caller's stated facts fill the gaps."""
    found: dict[str, str] = {}
    unlabelled: list[str] = []
    for line in answer.splitlines():
        label, _, value = line.partition(":")
        key = label.strip().strip("*- ").lower()
        if key in FIELDS:
            found.setdefault(key, _clean(value))
        elif line.strip() and not _ECHO.match(line):
            unlabelled.append(_clean(line))
    # A model that skips the format often still writes a plain summary: take its first words.
    summary = found.pop("summary", "") or " ".join(unlabelled)
    if summary.lower() in NOTHING:
        summary = _fallback_summary(turns)
    facts: dict[str, str | list[str]] = {
        FIELDS[key]: value for key, value in found.items() if value.lower() not in NOTHING
    }
    facts.update(stated_facts(turns))  # the caller's own words over the model's reading of them
    return CallSummary(summary[:MAX_SUMMARY_CHARS], facts)


# What callers say in so many words. Names: one or two capitalised words after the phrase (the
# transcriber capitalises names); "I'm" alone is too often "I'm calling", so it needs a capital.
_NAME = re.compile(
    r"\b(?:my name is|my name's|this is|it's|i am|i'm)\s+([A-Z][a-z'-]+(?:\s+[A-Z][a-z'-]+)?)"
)
_NOT_NAMES = {"I", "It", "This", "The", "A", "Calling", "Just", "Here", "Not", "Sorry", "Fine"}
_ALLERGY = re.compile(
    r"\ballergic to ([a-z ,'-]+?)(?:[.!?;]|,? and (?:i|we|my)\b|$)|\b([a-z-]+) allerg(?:y|ies)\b",
    re.IGNORECASE,
)
_NOT_ALLERGENS = {"an", "any", "a", "my", "the", "no", "food", "severe", "bad"}


def stated_facts(turns: Sequence[SpokenTurn]) -> dict[str, str | list[str]]:
    """The caller's name and allergies where they said them plainly; the last name given wins."""
    facts: dict[str, str | list[str]] = {}
    allergies: list[str] = []
    for turn in turns:
        if turn.role is not Role.USER:
            continue
        for match in _NAME.finditer(turn.text):
            name = match.group(1)
            if name.split()[0] not in _NOT_NAMES:
                facts["name"] = name
        for match in _ALLERGY.finditer(turn.text):
            what = (match.group(1) or match.group(2) or "").strip(" ,").lower()
            if what and what not in _NOT_ALLERGENS and what not in allergies:
                allergies.append(what)
    if allergies:
        facts["allergies"] = allergies
    return facts


def _clean(value: str) -> str:
    return " ".join(value.strip().strip("<>\"'").split())


def _fallback_summary(turns: Sequence[SpokenTurn]) -> str:
    said = " ".join(t.text for t in turns if t.role is Role.USER)
    if not said:
        return "The caller said nothing."
    return f"The caller said: {said[:FALLBACK_CALLER_CHARS]}"
