"""VAD benchmark: tritonserver cold start and per-window latency of ``silero_vad`` over gRPC streams.

    python -m benchmarks.vad_bench [--windows 300] [--calls 1 10]

Per-window latency is one 512-sample (32 ms) request -> its response on the call's stream, as the
orchestrator sends them; with N calls, N streams run concurrently on one channel.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import numpy as np

from benchmarks.results_file import percentiles_ms, write_result
from callsim.voices import espeak_utterance
from orchestrator.triton.connection import connect
from orchestrator.triton.vad_stream import VadStream
from orchestrator.vad_window import WINDOW_SAMPLES as WINDOW
from serving.launcher import TritonServer, TritonServerOptions
from serving.paths import MODEL_REPOSITORY

MODEL_REPOSITORY = MODEL_REPOSITORY


def cold_starts(runs: int) -> list[float]:
    durations = []
    for _ in range(runs):
        server = TritonServer(
            TritonServerOptions(model_repository=MODEL_REPOSITORY, models=["silero_vad"])
        )
        started = time.perf_counter()
        server.start()
        durations.append(time.perf_counter() - started)
        server.stop()
    return durations


async def window_latencies(grpc_url: str, calls: int, windows: int) -> list[float]:
    speech = espeak_utterance("Thank you for calling, how can I help you today?")
    audio = np.resize(speech, windows * WINDOW).astype(np.float32)
    client = connect(grpc_url)

    async def one_call(call: int) -> list[float]:
        latencies = []
        async with VadStream(client, call_id=f"bench-{call}") as vad:
            for i in range(windows):
                started = time.perf_counter()
                await vad.push(audio[i * WINDOW : (i + 1) * WINDOW])
                latencies.append(time.perf_counter() - started)
        return latencies

    try:
        results = await asyncio.gather(*(one_call(c) for c in range(calls)))
    finally:
        await client.close()
    return [latency for call in results for latency in call[5:]]  # skip stream warm-up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=300)
    parser.add_argument("--calls", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--cold-starts", type=int, default=3)
    args = parser.parse_args()

    figures: dict[str, object] = {"cold_start": percentiles_ms(cold_starts(args.cold_starts))}
    options = TritonServerOptions(model_repository=MODEL_REPOSITORY, models=["silero_vad"])
    with TritonServer(options) as server:
        for calls in args.calls:
            latencies = asyncio.run(window_latencies(server.grpc_url, calls, args.windows))
            figures[f"window_latency_{calls}_calls"] = percentiles_ms(latencies)
    path = write_result("vad", "cpu", figures)
    print(f"{'measure':<28}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}")
    for name, row in figures.items():
        assert isinstance(row, dict)
        print(f"{name:<28}{row['n']:>6}{row['p50_ms']:>10}{row['p95_ms']:>10}{row['max_ms']:>10}")
    print(f"results: {path}")


if __name__ == "__main__":
    main()
