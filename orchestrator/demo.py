"""The README's main command: start Triton with the CPU model repository and run a caller's audio through it.

    python -m orchestrator.demo [--wav caller.wav]

For now it streams the caller's speech, in 20 ms frames as Twilio sends them, through the ``silero_vad``
model and prints the speech segments it finds (later: a full simulated phone call).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

import numpy as np

from benchmarks.speech_samples import espeak_utterance, read_wav, resample
from orchestrator.settings import get_settings
from orchestrator.speech_segmenter import SegmenterParams, SpeechEnded, SpeechSegmenter
from orchestrator.triton_connection import connect
from orchestrator.vad_stream import FloatArray, VadStream
from serving.launcher import PROJECT_ROOT, TritonServer
from serving.profiles import build_profile, server_options

RATE = 16_000
FRAME = RATE // 50  # 20 ms, Twilio's frame size
DEMO_LINES = (
    "Hi, I'd like to book a table for two tonight.",
    "Around seven thirty, if you have anything.",
    "Great, the name is Jordan. Thanks!",
)


def demo_audio() -> FloatArray:
    """Three caller sentences separated by pauses, with silence around them."""
    pause = np.zeros(RATE, np.float32)
    parts = [pause]
    for line in DEMO_LINES:
        parts += [espeak_utterance(line, RATE), pause]
    return np.concatenate(parts)


async def find_segments(grpc_url: str, audio: FloatArray) -> list[SpeechEnded]:
    settings = get_settings()
    segmenter = SpeechSegmenter(
        SegmenterParams(
            settings.vad_threshold, settings.vad_min_speech_ms, settings.vad_min_silence_ms
        )
    )
    client = connect(grpc_url)
    segments: list[SpeechEnded] = []
    try:
        async with VadStream(client, settings.vad_model, call_id="CA-demo") as vad:
            for start in range(0, audio.size, FRAME):
                for probability in await vad.push(audio[start : start + FRAME]):
                    events = segmenter.push(float(probability))
                    segments += [e for e in events if isinstance(e, SpeechEnded)]
        segments += [e for e in segmenter.flush() if isinstance(e, SpeechEnded)]
    finally:
        await client.close()
    return segments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--wav", type=Path, help="caller audio (16-bit PCM WAV); default: espeak-ng"
    )
    args = parser.parse_args()
    if args.wav:
        samples, rate = read_wav(args.wav)
        audio = resample(samples, rate, RATE)
    else:
        audio = demo_audio()

    print("Starting tritonserver (CPU profile) ...", flush=True)
    started = time.perf_counter()
    options = server_options(
        build_profile("cpu"), PROJECT_ROOT / "model_repository", models=["silero_vad"]
    )
    with TritonServer(options) as server:
        print(f"Triton ready in {time.perf_counter() - started:.1f} s on {server.grpc_url}")
        print(f"Streaming {audio.size / RATE:.1f} s of caller audio through silero_vad ...")
        streamed = time.perf_counter()
        segments = asyncio.run(find_segments(server.grpc_url, audio))
        elapsed = time.perf_counter() - streamed
    print(f"\n{'segment':<9}{'start s':>9}{'end s':>9}{'length s':>10}")
    for number, segment in enumerate(segments, 1):
        start, end = segment.onset_ms / 1000, segment.end_ms / 1000
        print(f"{number:<9}{start:>9.2f}{end:>9.2f}{end - start:>10.2f}")
    print(f"\n{len(segments)} speech segments; {audio.size / RATE / elapsed:.0f}x real time")
    print(f"server log: {server.log_path}")


if __name__ == "__main__":
    main()
