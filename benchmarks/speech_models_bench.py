"""``python -m benchmarks.speech_models_bench``: the speech models' CPU profile over gRPC.

Starts a tritonserver serving ``stt`` and ``tts`` with the CPU profile's settings and measures STT
latency against utterance length (Piper speech, alone and two at once), and TTS time to the first chunk
and real-time factor. Writes JSON (machine, git commit, figures) to ``benchmarks/results/``.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from benchmarks.triton_stream import stream_request, tensor, text_tensor
from callsim.voices import CALLER_SENTENCES, piper_utterance
from serving.launcher import TritonServer, TritonServerOptions
from serving.paths import DEFAULT_CACHE_DIR, MODEL_REPOSITORY, PROJECT_ROOT
from serving.speech_cpu_profile import speech_cpu_env

REPEATS = 3
TTS_TEXTS = (
    "Sure.",
    "Your table for two is booked for seven tonight.",
    "Thank you for calling the clinic. Your appointment is on Monday at ten in the morning. "
    "Please bring your insurance card with you.",
)


def stt_seconds(url: str, audio: np.ndarray) -> float:
    inputs = [tensor("audio", audio), tensor("sample_rate", np.array([16_000], np.int32))]
    result = stream_request(url, "stt", inputs)
    assert result.error is None and result.final_at is not None, result.error
    return result.final_at


def main() -> None:
    options = TritonServerOptions(
        model_repository=MODEL_REPOSITORY,
        models=["stt", "tts"],
        env=speech_cpu_env(DEFAULT_CACHE_DIR),
    )
    figures: dict[str, object] = {}
    with TritonServer(options) as server:
        url = server.grpc_url
        stt_seconds(url, piper_utterance(CALLER_SENTENCES[0]))  # warm-up
        stt_rows = []
        for sentence in CALLER_SENTENCES:
            audio = piper_utterance(sentence)
            alone = [stt_seconds(url, audio) for _ in range(REPEATS)]
            with ThreadPoolExecutor(2) as pool:
                pair = list(pool.map(lambda a: stt_seconds(url, a), [audio, audio]))
            stt_rows.append(
                {
                    "audio_s": round(audio.size / 16_000, 2),
                    "latency_s_median": round(statistics.median(alone), 3),
                    "latency_s_two_concurrent_max": round(max(pair), 3),
                }
            )
        figures["stt"] = stt_rows
        tts_rows = []
        for text in TTS_TEXTS:
            runs = []
            for _ in range(REPEATS):
                result = stream_request(url, "tts", [text_tensor("text", text)])
                assert result.error is None and result.final_at is not None, result.error
                rate = int(result.responses[0].as_numpy("sample_rate")[0])
                audio_s = sum(r.as_numpy("audio").size for r in result.responses) / rate
                runs.append((result.arrivals[0], result.final_at, audio_s, len(result.responses)))
            tts_rows.append(
                {
                    "chars": len(text),
                    "audio_s": round(runs[0][2], 2),
                    "chunks": runs[0][3],
                    "first_chunk_s_median": round(statistics.median(r[0] for r in runs), 3),
                    "total_s_median": round(statistics.median(r[1] for r in runs), 3),
                    "real_time_factor": round(statistics.median(r[1] / r[2] for r in runs), 3),
                }
            )
        figures["tts_piper"] = tts_rows
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=PROJECT_ROOT
    ).stdout.strip()
    report = {
        "benchmark": "speech_models",
        "profile": "cpu",
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpus": os.cpu_count(),
        },
        "git_commit": commit,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "figures": figures,
    }
    out = Path(__file__).parent / "results" / "speech_models_cpu.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
