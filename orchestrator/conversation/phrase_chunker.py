"""LLM text deltas -> chunks for the TTS, each with the text spoken before it (prosody context). Pure.

The first chunk ends at the first clause or sentence boundary once it has ``first_min_words`` words, so
the caller hears something early; later chunks (chunk 1 is playing meanwhile) end at sentence
boundaries once ``min_chars`` long, or at a clause once twice that, for better prosody. Without
punctuation a chunk is cut at the last word boundary before ``first_max_chars`` / ``max_chars``.

Chunks only ever end at whitespace, so a word is never split; and a boundary is decided only once the
next word has begun, which is what tells "3." from "3.5", "Dr. Smith" from "... the doctor. Then" and
"10:30" from "note: ". The result is therefore the same however the text is split into deltas.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from enum import IntEnum

ABBREVIATIONS = frozenset(
    {"mr.", "mrs.", "ms.", "dr.", "prof.", "sr.", "jr.", "st.", "vs.", "etc.", "approx.", "inc."}
    | {"ltd.", "co.", "mt.", "ave.", "dept.", "ext.", "fig."}
)  # not "no.": on the phone "No." is an answer far more often than "number"
_INITIALS = re.compile(r"^(?:[A-Za-z]\.)+$")  # U.S., e.g., a.m., J.
_LIST_MARKER = re.compile(r"^\(?\d{1,2}[.)]$")  # "1." or "2)" before a list item
_CLOSERS = "\"')]}\u00bb\u201d\u2019"  # closing quotes and brackets after the punctuation
_TOKEN = re.compile(r"\S+")


class Boundary(IntEnum):
    NONE = 0
    CLAUSE = 1  # , ; : dashes, ellipsis
    SENTENCE = 2  # . ! ? and line breaks


@dataclass(frozen=True)
class ChunkerParams:
    first_min_words: int = 3
    first_max_chars: int = 80
    min_chars: int = 40
    max_chars: int = 200
    context_max_chars: int = 400  # preceding text sent with each chunk
    abbreviations: frozenset[str] = ABBREVIATIONS


@dataclass(frozen=True)
class TextChunk:
    index: int
    text: str  # trimmed; never empty
    context: str  # the reply's text before this chunk, trimmed to ``context_max_chars`` at a word


class PhraseChunker:
    """One per reply: :meth:`push` each LLM delta, :meth:`flush` when the LLM is done."""

    def __init__(self, params: ChunkerParams = ChunkerParams()) -> None:
        self.params = params
        self._text = ""  # the whole reply so far
        self._start = 0  # where the next chunk begins in _text
        self._chunks = 0

    def push(self, delta: str) -> list[TextChunk]:
        self._text += delta
        chunks: list[TextChunk] = []
        while (end := self._next_break()) is not None:
            chunks.append(self._emit(end))
        return chunks

    def flush(self) -> list[TextChunk]:
        if not self._text[self._start :].strip():
            return []
        return [self._emit(len(self._text))]

    def _next_break(self) -> int | None:
        """End of the next chunk in _text, if the text so far settles it."""
        tokens = list(_TOKEN.finditer(self._text, self._start))
        first = self._chunks == 0
        max_chars = self.params.first_max_chars if first else self.params.max_chars
        last_fit: int | None = None
        # A token's boundary is known once the next token has begun.
        for i, (token, following) in enumerate(itertools.pairwise(tokens)):
            length = token.end() - tokens[0].start()
            if length > max_chars:
                # Cut at the last word that fits, or after this one if even one word does not.
                return last_fit if last_fit is not None else token.end()
            last_fit = token.end()
            boundary = self._boundary(tokens, i, following)
            if first:
                if boundary and i + 1 >= self.params.first_min_words:
                    return token.end()
            elif (boundary is Boundary.SENTENCE and length >= self.params.min_chars) or (
                boundary is Boundary.CLAUSE and length >= 2 * self.params.min_chars
            ):
                return token.end()
        return None

    def _boundary(self, tokens: list[re.Match[str]], i: int, following: re.Match[str]) -> Boundary:
        token = tokens[i].group()
        if "\n" in self._text[tokens[i].end() : following.start()]:
            return Boundary.SENTENCE
        bare = token.rstrip(_CLOSERS)
        if bare.endswith(("...", "…")):
            return Boundary.CLAUSE
        if bare.endswith(("!", "?")):
            return Boundary.SENTENCE
        if bare.endswith("."):
            return self._period(tokens, i, following.group())
        if bare.endswith((",", ";", ":", "\u2014", "\u2013")) or bare in ("-", "--"):
            return Boundary.CLAUSE
        return Boundary.NONE

    def _period(self, tokens: list[re.Match[str]], i: int, following: str) -> Boundary:
        bare = tokens[i].group().rstrip(_CLOSERS)
        if bare.lower() in self.params.abbreviations or _INITIALS.match(bare):
            return Boundary.NONE
        if _LIST_MARKER.match(bare) and self._starts_list_item(tokens, i):
            return Boundary.NONE
        if following[:1].islower():
            return Boundary.NONE  # a sentence does not start in lower case: "approx. five"
        return Boundary.SENTENCE

    def _starts_list_item(self, tokens: list[re.Match[str]], i: int) -> bool:
        if i == 0:
            return True
        previous = tokens[i - 1]
        if "\n" in self._text[previous.end() : tokens[i].start()]:
            return True
        return previous.group().endswith((":", ",", ";")) or previous.group().lower() in (
            "and",
            "or",
        )

    def _emit(self, end: int) -> TextChunk:
        text = self._text[self._start : end].strip()
        chunk = TextChunk(self._chunks, text, self._context())
        self._start = end
        self._chunks += 1
        return chunk

    def _context(self) -> str:
        before = self._text[: self._start].strip()
        limit = self.params.context_max_chars
        if len(before) <= limit:
            return before
        tail = before[-limit:]
        # Start at a word: drop the partial first word unless the cut fell on a space.
        return tail if before[-limit - 1].isspace() else tail.partition(" ")[2].lstrip()
