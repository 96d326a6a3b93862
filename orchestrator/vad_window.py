"""The window the ``silero_vad`` model judges speech in (its contract, docs/ARCHITECTURE.md): 512
samples of 16 kHz audio, 32 ms. Plain constants, written once for the VAD client that cuts the audio
(orchestrator/triton/vad_stream.py) and the speech segmenter that counts in them
(orchestrator/conversation/speech_segmenter.py), which may not import each other."""

from __future__ import annotations

SAMPLE_RATE = 16_000
WINDOW_SAMPLES = 512
WINDOW_MS = WINDOW_SAMPLES * 1000 // SAMPLE_RATE  # 32
