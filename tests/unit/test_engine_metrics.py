"""orchestrator/engine/metrics.py: the LLM's requests in flight, awaiting their first token or
generating, however they end; exported at 0 before the first request."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from orchestrator.engine.metrics import ConversationMetrics, LlmRequestGauges

AWAITING = "cc_llm_requests_awaiting_first_token"
GENERATING = "cc_llm_requests_generating"


def in_flight(registry: CollectorRegistry) -> tuple[float | None, float | None]:
    return registry.get_sample_value(AWAITING), registry.get_sample_value(GENERATING)


def test_a_request_awaits_its_first_token_then_generates_until_it_ends() -> None:
    registry = CollectorRegistry()
    gauges = LlmRequestGauges.create(registry)
    assert in_flight(registry) == (0, 0)
    with gauges.request() as first, gauges.request() as second:
        assert in_flight(registry) == (2, 0)
        first.responded()
        first.responded()  # later responses change nothing
        assert in_flight(registry) == (1, 1)
        second.responded()
        assert in_flight(registry) == (0, 2)
    assert in_flight(registry) == (0, 0)


@pytest.mark.parametrize("responded", [False, True])
def test_a_failed_or_cancelled_request_leaves_the_count(responded: bool) -> None:
    registry = CollectorRegistry()
    gauges = LlmRequestGauges.create(registry)
    with pytest.raises(TimeoutError), gauges.request() as request:
        if responded:
            request.responded()
        raise TimeoutError("no first token in time")
    assert in_flight(registry) == (0, 0)


def test_the_conversation_metrics_export_both_gauges_at_zero_from_the_start() -> None:
    registry = CollectorRegistry()
    ConversationMetrics.create().register_into(registry)
    text = generate_latest(registry).decode()
    assert f"{AWAITING} 0.0" in text and f"{GENERATING} 0.0" in text
