"""The caller's recent audio at 16 kHz, addressable by ms since the call's first sample. Pure.

The speech segmenter reports utterances in that timeline; the transcription slices them from here.
Older audio is dropped beyond ``keep_s`` so a long call stays bounded in memory.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

RATE = 16_000


class CallAudioBuffer:
    def __init__(self, keep_s: float = 60.0) -> None:
        self._keep = int(keep_s * RATE)
        self._audio = np.empty(0, dtype=np.float32)
        self._start = 0  # sample index of self._audio[0] in the call

    @property
    def end_ms(self) -> float:
        return 1000.0 * (self._start + self._audio.size) / RATE

    def append(self, audio: npt.NDArray[np.float32]) -> None:
        self._audio = np.concatenate([self._audio, audio.astype(np.float32, copy=False)])
        excess = self._audio.size - self._keep
        if excess > 0:
            self._audio = self._audio[excess:]
            self._start += excess

    def slice_ms(self, start_ms: float, end_ms: float) -> npt.NDArray[np.float32]:
        """Audio between the two call times (clipped to what is still kept)."""
        first = max(int(start_ms * RATE / 1000) - self._start, 0)
        last = max(int(end_ms * RATE / 1000) - self._start, first)
        return self._audio[first:last].copy()
