"""orchestrator/engine/triton_models.py against the CPU tritonserver: each LLM request counts as awaiting
its first token until its first delta arrives, then as generating, and as neither once its stream is
closed early (a barge-in) or has ended."""

from __future__ import annotations

import asyncio
from pathlib import Path

from prometheus_client import CollectorRegistry

from callsim.harness import cpu_call_settings
from orchestrator.conversation.prompts import Role, Turn, build_prompt
from orchestrator.engine.metrics import LlmRequestGauges
from orchestrator.engine.triton_models import TritonModels
from orchestrator.settings import system_prompt
from serving.launcher import TritonServer


async def test_llm_requests_count_as_awaiting_then_generating_then_neither(
    triton: TritonServer, tmp_path: Path
) -> None:
    registry = CollectorRegistry()
    settings = cpu_call_settings(triton.grpc_url, tmp_path, llm_first_token_timeout_ms=30_000)
    models = TritonModels(settings, llm_requests=LlmRequestGauges.create(registry))

    def in_flight() -> tuple[float | None, float | None]:
        return (
            registry.get_sample_value("cc_llm_requests_awaiting_first_token"),
            registry.get_sample_value("cc_llm_requests_generating"),
        )

    prompt = build_prompt(
        settings.llm_prompt_format,
        system_prompt(settings),
        [Turn(Role.USER, "Hi! What time do you open tomorrow?")],
    )
    try:
        deltas = models.generate(prompt, request_id="in-flight-cancelled")
        first = asyncio.ensure_future(anext(deltas))
        # One turn of the loop, not a wait: the task's first step sends the request and counts it; its
        # first token needs the server and many more turns.
        await asyncio.sleep(0)
        assert in_flight() == (1, 0) and not first.done()
        await first
        assert in_flight() == (0, 1)
        await deltas.aclose()  # what a barge-in does to the reply's stream
        assert in_flight() == (0, 0)

        async for _ in models.generate(prompt, request_id="in-flight-whole"):
            assert in_flight() == (0, 1)
        assert in_flight() == (0, 0)
    finally:
        await models.aclose()
