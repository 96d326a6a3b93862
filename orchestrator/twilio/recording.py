"""Per-call stereo WAV (caller left, agent right), written incrementally on the call clock.

Audio is placed by sample position (8 kHz, position 0 = the stream's start), so silences and gaps
are kept. Positions not yet committed stay in memory; ``commit(until)`` appends them to the file,
patches the WAV header and flushes, so the file on disk is always a valid, readable WAV. Audio that
arrives for a position already committed is dropped and counted (``late_samples``).
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

from orchestrator.twilio.call_files import open_private_binary

RECORDING_RATE = 8000


class StereoRecorder:
    def __init__(self, path: Path, sample_rate: int = RECORDING_RATE) -> None:
        self.path = path
        self.sample_rate = sample_rate
        self._file = open_private_binary(path)  # 0600 in a 0700 folder: callers' voices
        self._wav = wave.open(self._file, "wb")  # noqa: SIM115 - closed in close()
        self._wav.setnchannels(2)
        self._wav.setsampwidth(2)
        self._wav.setframerate(sample_rate)
        self._committed = 0  # samples on disk
        self._buffer = np.zeros((0, 2), dtype=np.int16)  # positions from _committed on
        self._end = 0  # one past the last position anything was put at
        self.late_samples = 0
        self._closed = False

    @property
    def committed_samples(self) -> int:
        return self._committed

    def put_caller(self, position: int, pcm: npt.NDArray[np.int16]) -> None:
        self._put(0, position, pcm)

    def put_agent(self, position: int, pcm: npt.NDArray[np.int16]) -> None:
        self._put(1, position, pcm)

    def _put(self, channel: int, position: int, pcm: npt.NDArray[np.int16]) -> None:
        if self._closed or len(pcm) == 0:
            return
        if position < self._committed:
            skip = min(len(pcm), self._committed - position)
            self.late_samples += skip
            pcm, position = pcm[skip:], position + skip
            if len(pcm) == 0:
                return
        start = position - self._committed
        end = start + len(pcm)
        if end > len(self._buffer):
            grown = np.zeros((max(end, 2 * len(self._buffer)), 2), dtype=np.int16)
            grown[: len(self._buffer)] = self._buffer
            self._buffer = grown
        self._buffer[start:end, channel] = pcm
        self._end = max(self._end, position + len(pcm))

    def commit(self, until: int) -> None:
        """Write every position before ``until`` (silence where nothing was put) and flush."""
        if self._closed or until <= self._committed:
            return
        count = until - self._committed
        frames = np.zeros((count, 2), dtype=np.int16)
        available = min(count, len(self._buffer))
        frames[:available] = self._buffer[:available]
        self._buffer = self._buffer[available:].copy()
        self._wav.writeframes(frames.tobytes())  # patches the header's sizes each time
        self._file.flush()  # to the OS: a crash of this process loses nothing committed
        self._committed = until

    def close(self) -> None:
        """Commit everything put so far and close the file. Idempotent."""
        if self._closed:
            return
        self.commit(self._end)
        self._wav.close()
        self._file.close()
        self._closed = True
