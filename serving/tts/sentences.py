"""Split text to be spoken into sentences, keeping each sentence's character span in the input.

Both TTS engines synthesise sentence by sentence, so the first audio comes after one sentence rather
than the whole reply, and each audio chunk can name the span of text it voices.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A sentence ends after . ! ? or ; followed by whitespace or the end (not "3.14"), or at a line break.
_SENTENCE_END = re.compile(r"[.!?;]+(?=\s|$)|\n")


@dataclass(frozen=True)
class TextSpan:
    """``text[start:end]`` of the request's text."""

    start: int
    end: int

    def of(self, text: str) -> str:
        return text[self.start : self.end]


def split_sentences(text: str) -> list[TextSpan]:
    """Non-empty, whitespace-trimmed sentence spans of ``text``, in order."""
    ends = [match.end() for match in _SENTENCE_END.finditer(text)] + [len(text)]
    spans: list[TextSpan] = []
    start = 0
    for end in ends:
        raw = text[start:end]
        if raw.strip():
            lead = len(raw) - len(raw.lstrip())
            spans.append(TextSpan(start + lead, start + lead + len(raw.strip())))
        start = end
    return spans
