"""A trivial built-in ``CallHandler`` for demos and tests (not a conversation engine).

Beeps when the stream starts, answers each DTMF digit with its dual tone, ``*`` clears what is
still playing and ``#`` hangs up.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from orchestrator.call_handler import CallInfo, CallOutput, ChunkPlayout, StopReason

TONE_RATE = 16000
DTMF_HZ = {
    "1": (697, 1209), "2": (697, 1336), "3": (697, 1477),
    "4": (770, 1209), "5": (770, 1336), "6": (770, 1477),
    "7": (852, 1209), "8": (852, 1336), "9": (852, 1477),
    "0": (941, 1336),
}  # fmt: skip


def tone(frequencies: tuple[float, ...], duration_ms: int) -> npt.NDArray[np.float32]:
    t = np.arange(TONE_RATE * duration_ms // 1000) / TONE_RATE
    wave = sum(np.sin(2 * np.pi * f * t) for f in frequencies) / (2 * len(frequencies))
    return np.asarray(wave, dtype=np.float32)


class ToneResponder:
    def __init__(self) -> None:
        self._output: CallOutput | None = None

    async def on_start(self, call: CallInfo, output: CallOutput) -> None:
        self._output = output
        await output.send_audio(tone((440.0,), 300), TONE_RATE, "greeting")

    async def on_audio(self, pcm16k: npt.NDArray[np.int16]) -> None:
        return None

    async def on_dtmf(self, digit: str) -> None:
        assert self._output is not None
        if digit == "*":
            await self._output.clear()
        elif digit == "#":
            await self._output.hang_up()
        elif digit in DTMF_HZ:
            await self._output.send_audio(tone(DTMF_HZ[digit], 300), TONE_RATE, f"dtmf-{digit}")

    async def on_mark_played(self, chunk: ChunkPlayout) -> None:
        return None

    async def on_stop(self, reason: StopReason) -> None:
        self._output = None
