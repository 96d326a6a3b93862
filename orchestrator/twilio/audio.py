"""The audio conversions of one call, done once each way.

In: Twilio's 8 kHz mu-law -> int16 PCM at 16 kHz (what the speech models take).
Out: the agent's int16/float PCM at any rate -> 8 kHz int16 (kept for the recording) and mu-law.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from orchestrator.edge_options import DEFAULT_QUALITY, ResamplerQuality
from orchestrator.twilio import mulaw
from orchestrator.twilio.resampler import StreamingResampler

TWILIO_RATE = 8000
MODEL_RATE = 16000


class InboundAudio:
    """Caller audio: mu-law 8 kHz -> int16 16 kHz, one stateful resampler per call."""

    def __init__(self, quality: ResamplerQuality = DEFAULT_QUALITY) -> None:
        self._resampler = StreamingResampler(TWILIO_RATE, MODEL_RATE, quality)

    def convert(self, payload: bytes) -> tuple[npt.NDArray[np.int16], npt.NDArray[np.int16]]:
        """Returns (the 8 kHz samples, the 16 kHz samples)."""
        pcm8k = mulaw.decode(payload)
        return pcm8k, self._resampler.process(pcm8k)


def to_int16(pcm: npt.NDArray[np.int16] | npt.NDArray[np.float32]) -> npt.NDArray[np.int16]:
    """Float audio is taken as [-1, 1] and clipped; int16 passes through."""
    if pcm.dtype == np.int16:
        return pcm.astype(np.int16, copy=False)
    scaled = np.clip(np.asarray(pcm, dtype=np.float32) * 32767.0, -32768.0, 32767.0)
    return scaled.astype(np.int16)


class OutboundAudio:
    """Agent audio -> 8 kHz int16. A new input rate starts a new resampler (flushing the old)."""

    def __init__(self, quality: ResamplerQuality = DEFAULT_QUALITY) -> None:
        self._quality = quality
        self._resampler: StreamingResampler | None = None

    def convert(
        self,
        pcm: npt.NDArray[np.int16] | npt.NDArray[np.float32],
        sample_rate: int,
        end_of_segment: bool,
    ) -> npt.NDArray[np.int16]:
        pieces: list[npt.NDArray[np.int16]] = []
        if self._resampler is None or self._resampler.in_rate != sample_rate:
            if self._resampler is not None:
                pieces.append(self._resampler.flush())
            self._resampler = StreamingResampler(sample_rate, TWILIO_RATE, self._quality)
        pieces.append(self._resampler.process(to_int16(pcm)))
        if end_of_segment:
            pieces.append(self._resampler.flush())
        return np.concatenate(pieces) if len(pieces) > 1 else pieces[0]

    def reset(self) -> None:
        """Forget held-back audio (after a ``clear``)."""
        if self._resampler is not None:
            self._resampler.reset()
