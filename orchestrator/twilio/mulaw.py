"""G.711 mu-law <-> 16-bit linear PCM, vectorised with lookup tables.

Twilio Media Streams carry 8 kHz mu-law. Both directions are a single table lookup per sample: the
tables are built once at import from the G.711 segment rules (the same rounding as the classic Sun
reference code that ``audioop`` uses, so the tests can compare byte for byte).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

_BIAS = 0x84
_CLIP_14BIT = 8159


def _build_decode_table() -> npt.NDArray[np.int16]:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    magnitude = (((codes & 0x0F) << 3) + _BIAS) << ((codes & 0x70) >> 4)
    return np.where(codes & 0x80, _BIAS - magnitude, magnitude - _BIAS).astype(np.int16)


def _build_encode_table() -> npt.NDArray[np.uint8]:
    """Indexed by the int16 sample reinterpreted as uint16."""
    samples = np.arange(65536, dtype=np.int32)
    samples = np.where(samples >= 32768, samples - 65536, samples) >> 2  # 14-bit, floor like C >>
    negative = samples < 0
    magnitude = np.minimum(np.abs(samples), _CLIP_14BIT) + (_BIAS >> 2)
    # Segment = index of the first boundary 0x3F, 0x7F, ... 0x1FFF that is >= magnitude.
    segment = np.searchsorted(np.array([0x3F << s | ((1 << s) - 1) for s in range(8)]), magnitude)
    mantissa = (magnitude >> (segment + 1)) & 0x0F
    code = np.where(segment >= 8, 0x7F, (segment << 4) | mantissa)  # segment 8: clipped to max
    table: npt.NDArray[np.uint8] = (code ^ np.where(negative, 0x7F, 0xFF)).astype(np.uint8)
    return table


_DECODE = _build_decode_table()
_ENCODE = _build_encode_table()


def decode(mulaw: bytes) -> npt.NDArray[np.int16]:
    """mu-law bytes -> int16 samples (one sample per byte)."""
    return _DECODE[np.frombuffer(mulaw, dtype=np.uint8)]


def encode(pcm: npt.NDArray[np.int16]) -> bytes:
    """int16 samples -> mu-law bytes."""
    return _ENCODE[np.ascontiguousarray(pcm, dtype=np.int16).view(np.uint16)].tobytes()
