"""How much silence ends the caller's turn, judged from what they said. Pure.

A fixed end-of-turn silence is a trade: short, and callers who pause mid-thought ("my number is
five five five... one two three") get answered half-way; long, and every finished question waits
for it. With the speculative transcript in hand the words decide: a complete sentence or question
ends the turn after ``short_ms`` of silence, words that stop mid-thought (a trailing "and", "um", "my
email is", a comma, a number being spelled) after ``long_ms``; anything else after the midpoint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

_WORD = re.compile(r"[\w']+")
_DIGITS = re.compile(r"^\d+(?:-\d+)*$")  # 555, 555-12; not 7:30, 3rd, 7pm

# A turn that stops on one of these is mid-thought: conjunctions, fillers, articles, prepositions,
# possessives and copulas that want what follows ("my email is", "a table for").
CONTINUATIONS = frozenset(
    {"and", "but", "so", "or", "because", "cause", "if", "when", "while", "than", "plus"}
    | {"um", "uh", "er", "erm", "uhm"}
    | {"the", "a", "an", "my", "your", "our", "their", "his", "her"}
    | {"to", "of", "for", "with", "from", "into", "at", "about", "in", "on", "by", "under"}
    | {"is", "are", "was", "were", "it's", "i'm", "i'd", "i'll", "we're", "we'd", "number"}
)
# ... unless the phrase is a common complete ending.
COMPLETE_ENDINGS = ("think so", "hope so", "guess so", "believe so", "and so on", "is it")
NUMBER_WORDS = frozenset(
    {"zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}
    | {"double", "triple"}
)
# Words before a number that say one is being read out (and may go on).
DICTATION_CUES = frozenset(
    {"number", "phone", "card", "code", "zip", "account", "extension", "pin", "digits", "id"}
)
PHONE_DIGITS = 10


class TurnEnd(Enum):
    COMPLETE = "complete"  # a finished sentence or question
    UNSURE = "unsure"  # no punctuation to go by, nothing dangling
    MID_THOUGHT = "mid_thought"  # the words want more


@dataclass(frozen=True)
class EndOfTurnParams:
    short_ms: float = 250.0  # silence that ends a complete sentence or question
    long_ms: float = 1000.0  # silence that ends words stopping mid-thought
    # With the audio end-of-turn model (end_of_turn_fusion): the silence when words and voice both say
    # done, and the model's probabilities that count as done / as more coming. Tuned on the tuning
    # half of the labelled set (benchmarks.end_of_turn_accuracy --tune, 20261204T0646): in a call the
    # segmenter's 200 ms pause comes first, so "both done" ends the turn as soon as it closes.
    both_done_ms: float = 0.0
    audio_done: float = 0.8
    audio_more: float = 0.3

    def silence_ms(self, end: TurnEnd) -> float:
        """The silence that ends a turn whose words end like ``end`` (the words alone)."""
        if end is TurnEnd.COMPLETE:
            return self.short_ms
        if end is TurnEnd.MID_THOUGHT:
            return self.long_ms
        return (self.short_ms + self.long_ms) / 2


def classify(transcript: str) -> TurnEnd:
    """How the caller's words end."""
    text = transcript.strip()
    words = [w.lower() for w in _WORD.findall(text)]
    if not words or text.endswith("?"):
        return TurnEnd.COMPLETE  # nothing said, or a question: nothing to wait for
    if text.endswith((",", ";", ":", "-", "...", "\u2026")):
        return TurnEnd.MID_THOUGHT
    ending = " ".join(words[-3:])
    if words[-1] in CONTINUATIONS and not ending.endswith(COMPLETE_ENDINGS):
        return TurnEnd.MID_THOUGHT
    if _reading_a_number(text):
        return TurnEnd.MID_THOUGHT
    if text.endswith((".", "!")):
        return TurnEnd.COMPLETE
    return TurnEnd.UNSURE


def _reading_a_number(text: str) -> bool:
    """A number read out group by group or digit by digit (a phone number, a card, a code): a pause
    between groups is not the end of the turn."""
    tokens = [token.strip(".,?!;:\"'").lower() for token in text.split()]
    tokens = [token for token in tokens if token]
    last = tokens[-1]
    if _DIGITS.match(last):
        if sum(c.isdigit() for c in last) >= PHONE_DIGITS:
            return False  # a whole phone number in one piece
        if len(tokens) > 1 and _DIGITS.match(tokens[-2]):
            return True  # "555 123"
        return "-" in last or any(cue in DICTATION_CUES for cue in tokens[-4:-1])
    spoken = 0
    for token in reversed(tokens):
        if token not in NUMBER_WORDS:
            break
        spoken += 1
    return spoken >= 3  # "five five five"
