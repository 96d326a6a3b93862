"""One agent reply's ledger: its text chunks, their synthesised audio, the send cursor, and what the
caller heard. Pure.

The TTS appends audio per text chunk as it decodes; the sender takes pieces from the cursor. A barge-in
holds the reply (the sender stops taking) while generation goes on; a false interruption rewinds the
cursor to the first word the caller did not hear (``HeardText.chunk_index`` / ``resume_ms``), so the
reply resumes where it was cut instead of repeating or skipping. What was heard is read off the same
chunks (:mod:`orchestrator.conversation.heard_text`), so text and audio can never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from orchestrator.conversation.heard_text import HeardText, SpokenChunk, heard_at

FloatArray = npt.NDArray[np.float32]


@dataclass
class _Chunk:
    text: str
    pieces: list[FloatArray] = field(default_factory=list)
    samples: int = 0
    complete: bool = False  # the TTS produced all of its audio


@dataclass(frozen=True)
class AudioPiece:
    chunk_index: int
    audio: FloatArray
    reply_offset_ms: float  # where the piece starts in the reply's audio


class ReplyLedger:
    def __init__(self) -> None:
        self.sample_rate: int | None = None  # one rate per reply, set by its first audio
        self.generation_done = False  # no more chunks will be added
        self._chunks: list[_Chunk] = []
        self._cursor_chunk = 0
        self._cursor_sample = 0

    # ---- generation -----------------------------------------------------------------------------

    def add_chunk(self, text: str) -> int:
        """A text chunk sent to the TTS; returns its index."""
        self._chunks.append(_Chunk(text.strip()))
        return len(self._chunks) - 1

    def add_audio(self, index: int, audio: FloatArray, sample_rate: int) -> None:
        if self.sample_rate is None:
            self.sample_rate = sample_rate
        if sample_rate != self.sample_rate:
            raise ValueError(f"reply audio at {sample_rate} Hz, expected {self.sample_rate} Hz")
        chunk = self._chunks[index]
        chunk.pieces.append(audio.astype(np.float32, copy=False))
        chunk.samples += audio.size

    def finish_chunk(self, index: int) -> None:
        self._chunks[index].complete = True

    def finish_generation(self) -> None:
        self.generation_done = True

    @property
    def chunk_count(self) -> int:
        return len(self._chunks)

    def chunk_text(self, index: int) -> str:
        return self._chunks[index].text

    def chunk_audio(self, index: int) -> FloatArray:
        pieces = self._chunks[index].pieces
        return np.concatenate(pieces) if pieces else np.zeros(0, np.float32)

    def chunk_audio_ms(self, index: int) -> float:
        return self._ms(self._chunks[index].samples)

    @property
    def audio_ms(self) -> float:
        """All the audio synthesised so far."""
        return self._ms(sum(c.samples for c in self._chunks))

    # ---- what was heard -------------------------------------------------------------------------

    def heard(self, heard_ms: float) -> HeardText:
        """What the caller heard ``heard_ms`` into the reply's audio (``inf``: all of it)."""
        return heard_at(self._spoken(), heard_ms)

    def heard_parts(self, heard_ms: float, ends: Sequence[int]) -> list[HeardText]:
        """What the caller heard of each part of the reply, the parts ending before chunk indices
        ``ends`` (ascending), the last part running to the end: a reply that called tools is its words
        before each call, then its answer, and each is stored as heard on its own."""
        spoken = self._spoken()
        parts: list[HeardText] = []
        start, offset_ms = 0, 0.0
        for end in (*ends, len(spoken)):
            part = spoken[start:end]
            parts.append(heard_at(part, heard_ms - offset_ms))
            offset_ms += sum(chunk.audio_ms for chunk in part)
            start = end
        return parts

    def _spoken(self) -> list[SpokenChunk]:
        return [SpokenChunk(c.text, self._ms(c.samples), c.complete) for c in self._chunks]

    # ---- sending --------------------------------------------------------------------------------

    def has_unsent(self) -> bool:
        """Whether :meth:`take` has audio to give now."""
        self._skip_sent_chunks()
        if self._cursor_chunk >= len(self._chunks):
            return False
        return self._cursor_sample < self._chunks[self._cursor_chunk].samples

    def take(self) -> AudioPiece | None:
        """The next unsent audio from the cursor (up to the end of what the chunk has so far)."""
        if not self.has_unsent():
            return None
        chunk = self._chunks[self._cursor_chunk]
        audio = np.concatenate(chunk.pieces)[self._cursor_sample :]
        piece = AudioPiece(
            self._cursor_chunk, audio, self._offset_ms(self._cursor_chunk, self._cursor_sample)
        )
        self._cursor_sample = chunk.samples
        return piece

    def _skip_sent_chunks(self) -> None:
        """Move the cursor past chunks that are complete and sent in full."""
        while self._cursor_chunk < len(self._chunks):
            chunk = self._chunks[self._cursor_chunk]
            if self._cursor_sample < chunk.samples or not chunk.complete:
                return
            self._cursor_chunk += 1
            self._cursor_sample = 0

    @property
    def finished(self) -> bool:
        """Everything generated has been taken and no more will come."""
        self._skip_sent_chunks()
        return self.generation_done and self._cursor_chunk >= len(self._chunks)

    def rewind(self, chunk_index: int, ms_into_chunk: float) -> float:
        """Move the cursor back to ``ms_into_chunk`` of chunk ``chunk_index``; returns the reply
        offset (ms) the cursor now points at."""
        self._cursor_chunk = min(max(chunk_index, 0), len(self._chunks))
        rate = self.sample_rate or 1
        self._cursor_sample = 0
        if self._cursor_chunk < len(self._chunks):
            samples = self._chunks[self._cursor_chunk].samples
            self._cursor_sample = min(int(ms_into_chunk * rate / 1000), samples)
        return self._offset_ms(self._cursor_chunk, self._cursor_sample)

    def _offset_ms(self, chunk_index: int, sample: int) -> float:
        return self._ms(sum(c.samples for c in self._chunks[:chunk_index]) + sample)

    def _ms(self, samples: int) -> float:
        return 1000.0 * samples / self.sample_rate if self.sample_rate else 0.0
