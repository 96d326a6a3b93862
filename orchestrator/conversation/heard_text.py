"""What the caller heard of one agent reply, in words. Pure: playout comes in as plain numbers.

A reply is the chunks sent to the TTS, in order, each with the audio it produced
(:class:`SpokenChunk`). Playout is where Twilio's marks and the elapsed time put the caller
(:class:`PlayoutPosition`). Chunks played in full were heard in full; of the chunk in progress, the
words whose text ends within the played fraction of its audio count as heard (speech runs at roughly
constant characters per second), and a word cut halfway counts as unheard. This text, never what the
LLM generated, is what history stores after a barge-in, so the next turn's prompt matches the
conversation the caller had.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_WORD = re.compile(r"\S+")
# Telephone speech is ~12-16 characters per second; only used while a chunk's audio is incomplete.
MS_PER_CHAR = 65.0


@dataclass(frozen=True)
class SpokenChunk:
    text: str
    audio_ms: float
    synthesised: bool = True  # all of its audio is known


@dataclass(frozen=True)
class PlayoutPosition:
    chunks_played: int  # chunks heard in full (their marks came back)
    ms_into_chunk: float  # played of the next chunk


@dataclass(frozen=True)
class HeardText:
    text: str  # what the caller heard, whole words only
    complete: bool  # the caller heard the whole reply
    chunk_index: int  # the chunk the caller was in (len(chunks) when complete)
    resume_ms: float  # audio offset in that chunk of its first unheard word (to resume from)


def position_at(chunks: Sequence[SpokenChunk], heard_ms: float) -> PlayoutPosition:
    """The position ``heard_ms`` into the reply's audio (the sum over its chunks); never past audio
    not yet synthesised."""
    left = max(heard_ms, 0.0)
    for index, chunk in enumerate(chunks):
        if left < chunk.audio_ms or not chunk.synthesised:
            return PlayoutPosition(index, min(left, chunk.audio_ms))
        left -= chunk.audio_ms
    return PlayoutPosition(len(chunks), 0.0)


def heard_at(chunks: Sequence[SpokenChunk], heard_ms: float) -> HeardText:
    """What the caller heard ``heard_ms`` into the reply's audio."""
    return heard_text(chunks, position_at(chunks, heard_ms))


def heard_text(chunks: Sequence[SpokenChunk], position: PlayoutPosition) -> HeardText:
    played = min(max(position.chunks_played, 0), len(chunks))
    texts = [chunk.text for chunk in chunks[:played] if chunk.text]
    if played == len(chunks):
        return HeardText(" ".join(texts), True, played, 0.0)
    current = chunks[played]
    duration = current.audio_ms
    if not current.synthesised:
        duration = max(duration, len(current.text) * MS_PER_CHAR)
    fraction = min(max(position.ms_into_chunk, 0.0) / duration, 1.0) if duration > 0 else 0.0
    heard_chars = fraction * len(current.text)
    words = list(_WORD.finditer(current.text))
    heard_words = [w for w in words if w.end() <= heard_chars]
    texts += [w.group() for w in heard_words]
    if len(heard_words) == len(words):  # all of it heard; its mark is not back yet
        return HeardText(" ".join(texts), played + 1 == len(chunks), played + 1, 0.0)
    resume_ms = words[len(heard_words)].start() / len(current.text) * duration
    return HeardText(" ".join(texts), False, played, resume_ms)
