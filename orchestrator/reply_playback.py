"""A reply's synthesised audio and the cursor of what to send next. Pure.

The TTS appends audio per text chunk as it decodes; the sender takes pieces from the cursor. A barge-in
holds the reply (the sender stops taking) while generation goes on; a false interruption rewinds the
cursor to the first word the caller did not hear (``HeardText.chunk_index`` / ``resume_ms``), so the
reply resumes where it was cut instead of repeating or skipping.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


@dataclass
class _ChunkAudio:
    pieces: list[FloatArray] = field(default_factory=list)
    samples: int = 0
    complete: bool = False


@dataclass(frozen=True)
class AudioPiece:
    chunk_index: int
    audio: FloatArray
    reply_offset_ms: float  # where the piece starts in the reply's audio


class ReplyPlayback:
    def __init__(self, sample_rate: int | None = None) -> None:
        self.sample_rate = sample_rate
        self._chunks: list[_ChunkAudio] = []
        self._cursor_chunk = 0
        self._cursor_sample = 0
        self.generation_done = False  # no more chunks will be added

    def add_chunk(self) -> int:
        self._chunks.append(_ChunkAudio())
        return len(self._chunks) - 1

    def add_audio(self, index: int, audio: FloatArray, sample_rate: int) -> None:
        if self.sample_rate is None:
            self.sample_rate = sample_rate
        if sample_rate != self.sample_rate:
            raise ValueError(f"reply audio at {sample_rate} Hz, expected {self.sample_rate} Hz")
        chunk = self._chunks[index]
        chunk.pieces.append(audio.astype(np.float32, copy=False))
        chunk.samples += audio.size

    def chunk_audio(self, index: int) -> FloatArray:
        pieces = self._chunks[index].pieces
        return np.concatenate(pieces) if pieces else np.zeros(0, np.float32)

    def finish_chunk(self, index: int) -> None:
        self._chunks[index].complete = True

    def take(self) -> AudioPiece | None:
        """The next unsent audio from the cursor (up to the end of what the chunk has so far)."""
        while self._cursor_chunk < len(self._chunks):
            chunk = self._chunks[self._cursor_chunk]
            if self._cursor_sample < chunk.samples:
                audio = np.concatenate(chunk.pieces)[self._cursor_sample :]
                piece = AudioPiece(
                    self._cursor_chunk,
                    audio,
                    self._offset_ms(self._cursor_chunk, self._cursor_sample),
                )
                self._cursor_sample = chunk.samples
                return piece
            if not chunk.complete:
                return None
            self._cursor_chunk += 1
            self._cursor_sample = 0
        return None

    @property
    def finished(self) -> bool:
        """Everything generated has been taken and no more will come."""
        if not self.generation_done:
            return False
        rest = self._chunks[self._cursor_chunk :]
        unsent = rest[0].samples - self._cursor_sample if rest else 0
        return (
            unsent <= 0 and all(c.complete for c in rest) and all(not c.samples for c in rest[1:])
        )

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
        rate = self.sample_rate or 1
        before = sum(c.samples for c in self._chunks[:chunk_index])
        return 1000.0 * (before + sample) / rate
