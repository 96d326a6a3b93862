"""CSM's frame engine (``csm``) against transformers' ``generate`` (``csm_generate``), in one process and
one run, on the tiny random CSM on the CPU:

    flock -x /tmp/cc-cpu.lock .venv/bin/python -m benchmarks.tts_frames_bench [--concurrency 1,4,8]

Two tiny models: the saved one (4 codebooks, serving/tts/tiny_csm.py) and the same sizes with csm-1b's 32
codebooks (31 depth-decoder positions per frame, as production), built in memory. Per model both
engines share one loaded copy. At each concurrency level, that many threads (as the ``tts`` model's
``RequestThreads`` run requests) each synthesise ``--rounds`` one-sentence requests back to back, the
engines taking turns level by level. Random weights rarely emit end-of-audio, so every sentence runs to
``--frames``; frames are counted from the audio. Per engine and level: aggregate frames/s (all audio
frames / the level's wall time), first audio (request -> first chunk, p50/p95), and the frame engine's
ratio to ``generate``. Writes ``benchmarks/results/tts_frames_bench-*.json``.
"""

from __future__ import annotations

import argparse
import math
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from benchmarks.results_file import percentiles_ms, write_result
from serving.paths import PROJECT_ROOT
from serving.tts.contract import (
    FRAME_S,
    TtsEngine,
    TtsEngineKind,
    TtsOptions,
    TtsRequest,
    warm_up,
)
from serving.tts.csm import LoadedCsm, load_csm
from serving.tts.tiny_csm import CODEBOOKS, byte_level_processor, tiny_csm_config, tiny_csm_dir

TEXTS = (
    "Thank you for calling the clinic.",
    "Your appointment is on Monday at ten.",
    "Please bring your insurance card.",
    "Is there anything else I can help with?",
)
ENGINES = (TtsEngineKind.CSM_GENERATE, TtsEngineKind.CSM)


def tiny_model(codebooks: int, options: TtsOptions) -> LoadedCsm:
    """The saved tiny CSM, or its sizes with ``codebooks`` codebooks (random, in memory)."""
    if codebooks == CODEBOOKS:
        return load_csm(options)
    import torch
    import transformers

    library: Any = transformers
    processor = byte_level_processor()
    config = tiny_csm_config(processor.tokenizer)
    config.num_codebooks = codebooks
    config.depth_decoder_config.num_codebooks = codebooks
    config.depth_decoder_config.max_position_embeddings = codebooks + 1
    config.codec_config.num_quantizers = codebooks
    torch.manual_seed(0)
    model = library.CsmForConditionalGeneration(config).to(getattr(torch, options.dtype)).eval()
    return LoadedCsm(processor, model)


def build(kind: TtsEngineKind, options: TtsOptions, loaded: Any) -> TtsEngine:
    if kind is TtsEngineKind.CSM_GENERATE:
        from serving.tts.csm_generate import CsmGenerateTtsEngine

        return CsmGenerateTtsEngine(options, loaded)
    from serving.tts.csm import CsmTtsEngine

    return CsmTtsEngine(options, loaded)


def timed(engine: TtsEngine, request: TtsRequest) -> tuple[float, int]:
    """Seconds to the first chunk, and frames of audio."""
    began = time.perf_counter()
    first = math.nan
    samples = 0
    for chunk in engine.synthesize(request, lambda: False):
        if not samples:
            first = time.perf_counter() - began
        samples += chunk.samples.size
    return first, samples // round(engine.sample_rate * FRAME_S)


def run_level(engine: TtsEngine, concurrency: int, rounds: int) -> dict[str, Any]:
    start = threading.Barrier(concurrency)

    def serve(thread: int) -> list[tuple[float, int]]:
        start.wait(60)
        texts = [TEXTS[(thread + r) % len(TEXTS)] for r in range(rounds)]
        return [timed(engine, TtsRequest(text)) for text in texts]

    began = time.perf_counter()
    with ThreadPoolExecutor(concurrency, thread_name_prefix="tts-bench") as pool:
        results = [item for share in pool.map(serve, range(concurrency)) for item in share]
    wall = time.perf_counter() - began
    frames = sum(n for _, n in results)
    return {
        "concurrency": concurrency,
        "requests": len(results),
        "frames": frames,
        "wall_s": round(wall, 3),
        "frames_per_s_total": round(frames / wall, 1),
        "first_audio": percentiles_ms([first for first, _ in results]),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", default="1,4,8", help="levels, e.g. 1,4,8")
    parser.add_argument("--rounds", type=int, default=3, help="requests per thread per level")
    parser.add_argument("--frames", type=int, default=25, help="each sentence's frames (cap)")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--codebooks", default="4,32", help="tiny models by codebook count")
    return parser.parse_args(argv)


def measure(codebooks: int, levels: list[int], args: argparse.Namespace) -> dict[str, Any]:
    """Both engines on one tiny model, level by level."""
    options = {
        kind: TtsOptions(
            model=str(tiny_csm_dir(PROJECT_ROOT / ".cache")),
            engine=kind,
            device="cpu",
            dtype=args.dtype,
            max_sentence_s=args.frames * FRAME_S,
            max_concurrent=max(levels),
        )
        for kind in ENGINES
    }
    loaded = tiny_model(codebooks, options[TtsEngineKind.CSM])
    engines = {kind: build(kind, options[kind], loaded) for kind in ENGINES}
    for engine in engines.values():
        warm_up(engine)
    rows: list[dict[str, Any]] = []
    for concurrency in levels:
        row: dict[str, Any] = {"concurrency": concurrency}
        for kind, engine in engines.items():
            row[kind.value] = run_level(engine, concurrency, args.rounds)
            print(f"{codebooks} codebooks {kind.value:>12} x{concurrency}: {row[kind.value]}")
        new, old = row[TtsEngineKind.CSM.value], row[TtsEngineKind.CSM_GENERATE.value]
        row["frames_per_s_ratio"] = round(new["frames_per_s_total"] / old["frames_per_s_total"], 2)
        row["first_audio_p50_ratio"] = round(
            new["first_audio"]["p50_ms"] / old["first_audio"]["p50_ms"], 2
        )
        rows.append(row)
    for engine in engines.values():
        close = getattr(engine, "close", None)
        if close is not None:
            close()
    return {"codebooks": codebooks, "levels": rows}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    levels = [int(c) for c in args.concurrency.split(",")]
    figures: dict[str, Any] = {
        "model": "tiny random CSM (serving/tts/tiny_csm.py), 4 and 32 codebooks",
        "device": "cpu",
        "dtype": args.dtype,
        "frames_per_sentence": args.frames,
        "rounds": args.rounds,
        "models": [measure(int(c), levels, args) for c in args.codebooks.split(",")],
    }
    path = write_result("tts_frames_bench", "cpu", figures)
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
