"""Lines the agent says without the LLM (greeting, apology, closing, fallback), synthesised once.

They are synthesised with the ``tts`` model the first time a call needs them and kept for the process,
so the apology and the fallback still play when Triton is down later. When the TTS could never be
reached, a short tone stands in (the call still hears that something happened, then hangs up).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from orchestrator.conversation.turn_taking import CannedLine
from orchestrator.engine.models import FloatArray, Models
from orchestrator.settings import Settings

log = logging.getLogger(__name__)

TONE_RATE = 16_000


@dataclass(frozen=True)
class LineAudio:
    text: str
    audio: FloatArray
    sample_rate: int


def line_texts(settings: Settings, filler: str = "") -> dict[CannedLine, str]:
    """The lines to synthesise; the filler and the transfer line only with tools (``filler``: the
    persona's tools file's)."""
    texts = {
        CannedLine.GREETING: settings.greeting_text,
        CannedLine.APOLOGY: settings.apology_text,
        CannedLine.CLOSING: settings.closing_text,
        CannedLine.FALLBACK: settings.fallback_text,
    }
    if filler:
        texts[CannedLine.FILLER] = filler
        texts[CannedLine.TRANSFER] = settings.transfer_text
    return texts


def stand_in_tone() -> FloatArray:
    """Two short beeps (no model needed)."""
    t = np.arange(TONE_RATE // 5) / TONE_RATE
    beep = 0.3 * np.sin(2 * np.pi * 480 * t)
    gap = np.zeros(TONE_RATE // 10)
    return np.asarray(np.concatenate([beep, gap, beep]), dtype=np.float32)


class CannedLines:
    def __init__(self, texts: Mapping[CannedLine, str], timeout_s: float = 10.0) -> None:
        self._texts = dict(texts)
        self._audio: dict[CannedLine, LineAudio] = {}
        self._lock = asyncio.Lock()
        self._timeout_s = timeout_s

    async def prepare(self, models: Models) -> bool:
        """Synthesise every line not yet cached (one at a time; cheap once done). False when the
        TTS failed (the lines missing are tried again next time)."""
        async with self._lock:
            for line, text in self._texts.items():
                if line in self._audio or not text.strip():
                    continue
                try:
                    async with asyncio.timeout(self._timeout_s):
                        speech = models.speak(text, (), request_id=f"line-{line.value}")
                        chunks = [chunk async for chunk in speech]
                except Exception as exc:  # the TTS is down: try again on the next call
                    log.warning("could not synthesise the %s line: %s", line.value, exc)
                    return False
                if chunks:
                    audio = np.concatenate([c.audio for c in chunks]).astype(np.float32)
                    self._audio[line] = LineAudio(text, audio, chunks[0].sample_rate)
        return True

    def ready(self, line: CannedLine) -> LineAudio | None:
        """The line's audio once synthesised; None before (a filler is then left out)."""
        return self._audio.get(line)

    def get(self, line: CannedLine) -> LineAudio:
        cached = self._audio.get(line)
        if cached is not None:
            return cached
        return LineAudio("", stand_in_tone(), TONE_RATE)  # nothing was said
