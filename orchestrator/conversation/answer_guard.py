"""What of the LLM's answer is spoken: whole sentences, at most ``max_sentences`` of them, never a
sentence or clause the answer already said. Small models loop ("I'm a food delivery service. I'm a
food delivery service. ...") and stop mid-sentence at their token cap; sampling penalties make that
rarer, this guard makes sure the caller never hears it. Pure: the reply feeds it the chunker's
chunks and stops generating when it says the answer is over.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CLAUSE_END = re.compile(r"[.!?;:,]+")
_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*(?=\s|$)")
_ENDS_SENTENCE = re.compile(r"[.!?][\"')\]]*$")
_WORD = re.compile(r"[a-z0-9']+")


@dataclass(frozen=True)
class AnswerGuardParams:
    max_sentences: int = 0  # 0: as many as the LLM says
    repeat_min_words: int = 2  # a repeated clause this long ends the answer


@dataclass(frozen=True)
class GuardedChunk:
    text: str  # what to speak of the chunk ("" for nothing)
    done: bool  # the answer is over: stop generating


class AnswerGuard:
    """One per answer. :meth:`take` each chunk as the chunker emits it; :meth:`take_last` the
    chunker's final flush."""

    def __init__(self, params: AnswerGuardParams = AnswerGuardParams()) -> None:
        self.params = params
        self._said: set[tuple[str, ...]] = set()
        self._sentences = 0
        self.spoken = ""  # everything let through so far
        self.stopped_by: str | None = None  # "repeat" or "sentences" when the guard ended it

    def take(self, text: str) -> GuardedChunk:
        kept = self._without_repeats(text)
        if kept != text:
            self.stopped_by = "repeat"
            return self._speak(kept, done=True)
        limit = self.params.max_sentences
        if limit:
            ends = [m.end() for m in _SENTENCE_END.finditer(text)]
            if self._sentences + len(ends) >= limit:
                cut = ends[limit - self._sentences - 1]
                self.stopped_by = "sentences"
                return self._speak(text[:cut], done=True)
            self._sentences += len(ends)
        return self._speak(text, done=False)

    def take_last(self, text: str, cut_by_length: bool) -> GuardedChunk:
        """The end of the answer; ``cut_by_length``: the LLM hit its token cap, so a trailing part
        without a sentence end is an unfinished sentence and is not spoken (unless it would leave
        the answer empty). An answer the LLM ended without a full stop gets one: the voice then
        ends it as a sentence, and so does the history."""
        text = text.strip()
        if cut_by_length and self.spoken and not _ENDS_SENTENCE.search(text):
            ends = [m.end() for m in _SENTENCE_END.finditer(text)]
            text = text[: ends[-1]] if ends else ""
        if text and not _ENDS_SENTENCE.search(text):
            text = text.rstrip(",;:- \u2013\u2014") + "."  # also en and em dashes
        return self.take(text) if text else GuardedChunk("", done=True)

    def _without_repeats(self, text: str) -> str:
        """``text`` up to the first clause already said in this answer."""
        start = 0
        for match in [*_CLAUSE_END.finditer(text), None]:
            end = match.end() if match else len(text)
            words = tuple(_WORD.findall(text[start:end].lower()))
            if len(words) >= self.params.repeat_min_words and words in self._said:
                return text[:start].rstrip()
            if words:
                self._said.add(words)
            start = end
        return text

    def _speak(self, text: str, done: bool) -> GuardedChunk:
        text = text.strip()
        if text:
            self.spoken = f"{self.spoken} {text}".strip()
        return GuardedChunk(text, done)
