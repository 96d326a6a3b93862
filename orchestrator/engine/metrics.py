"""Prometheus metrics of the conversation: calls, per-stage turn latency, model requests by outcome,
the LLM's requests in flight."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from orchestrator.conversation.timings import TurnTimings

# Voice-agent latencies live between tens of ms and a few seconds.
STAGE_BUCKETS_S = (0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
# A caller turn's sentiment score, -1 (negative) to 1; +-0.05 are the labels' thresholds.
SENTIMENT_BUCKETS = (-0.75, -0.5, -0.25, -0.05, 0.05, 0.25, 0.5, 0.75, 1.0)
MEMORY_LOAD_BUCKETS_S = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0)


class LlmRequest:
    """One LLM request in flight: awaiting its first token until :meth:`responded`, then generating."""

    def __init__(self, gauges: LlmRequestGauges) -> None:
        self._gauges = gauges
        self._phase: Gauge | None = gauges.awaiting_first_token
        gauges.awaiting_first_token.inc()

    def responded(self) -> None:
        """A response arrived (each one may say so; the first moves the request on)."""
        if self._phase is self._gauges.awaiting_first_token:
            self._phase.dec()
            self._phase = self._gauges.generating
            self._phase.inc()

    def ended(self) -> None:
        if self._phase is not None:
            self._phase.dec()
            self._phase = None


@dataclass(frozen=True)
class LlmRequestGauges:
    """The LLM's backlog as this process sees it: requests sent and awaiting their first token (waiting
    in vLLM's scheduler, or in prefill), and requests generating. The client counts them because
    nothing on the server does: Triton's queue stays empty for the vLLM backend (it takes every request
    at once), and under vLLM V1 that backend exports no queue gauge (docs/SCALING.md)."""

    awaiting_first_token: Gauge
    generating: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None) -> LlmRequestGauges:
        return cls(
            awaiting_first_token=Gauge(
                "cc_llm_requests_awaiting_first_token",
                "LLM requests sent and not yet answered with a first token",
                registry=registry,
            ),
            generating=Gauge(
                "cc_llm_requests_generating",
                "LLM requests streaming their answer",
                registry=registry,
            ),
        )

    def register_into(self, registry: CollectorRegistry) -> None:
        registry.register(self.awaiting_first_token)
        registry.register(self.generating)

    @contextlib.contextmanager
    def request(self) -> Iterator[LlmRequest]:
        """One request, from being sent until its stream ends, however it ends."""
        request = LlmRequest(self)
        try:
            yield request
        finally:
            request.ended()


@dataclass(frozen=True)
class ConversationMetrics:
    calls: Counter
    turn_stage_seconds: Histogram
    model_requests: Counter
    speculative_replies: Counter
    wasted_llm_tokens: Counter
    wasted_tts_seconds: Counter
    caller_sentiment: Histogram
    sentiment_acknowledgements: Counter
    memory_load_seconds: Histogram
    memory_writes: Counter
    llm_requests: LlmRequestGauges

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None) -> ConversationMetrics:
        """Unregistered unless ``registry`` is given (see :meth:`register_into`)."""
        return cls(
            calls=Counter(
                "cc_conversations", "Calls the conversation engine conducted", registry=registry
            ),
            turn_stage_seconds=Histogram(
                "cc_turn_stage_seconds",
                "Per-turn stage latency (endpointing, stt, reply_start, llm_ttft, llm_first_phrase, "
                "tts_first_audio, first_byte, end_to_end)",
                ["stage"],
                buckets=STAGE_BUCKETS_S,
                registry=registry,
            ),
            model_requests=Counter(
                "cc_model_requests",
                "Model requests by how they ended (completed, failed, cancelled by a barge-in)",
                ["model", "outcome"],
                registry=registry,
            ),
            speculative_replies=Counter(
                "cc_speculative_replies",
                "Replies started before the end of the caller's turn, by outcome (adopted, cancelled)",
                ["outcome"],
                registry=registry,
            ),
            wasted_llm_tokens=Counter(
                "cc_speculation_wasted_llm_tokens",
                "LLM tokens of cancelled speculative replies",
                registry=registry,
            ),
            wasted_tts_seconds=Counter(
                "cc_speculation_wasted_tts_seconds",
                "TTS audio of cancelled speculative replies",
                registry=registry,
            ),
            caller_sentiment=Histogram(
                "cc_caller_sentiment",
                "Sentiment score of each caller turn (-1 negative .. 1 positive)",
                buckets=SENTIMENT_BUCKETS,
                registry=registry,
            ),
            sentiment_acknowledgements=Counter(
                "cc_sentiment_acknowledgements",
                "Replies told to acknowledge a caller negative for several turns in a row",
                registry=registry,
            ),
            memory_load_seconds=Histogram(
                "cc_memory_load_seconds",
                "Time to load a caller's memory at call start",
                buckets=MEMORY_LOAD_BUCKETS_S,
                registry=registry,
            ),
            memory_writes=Counter(
                "cc_memory_writes",
                "Calls written to caller memory after hang-up, by outcome (stored, failed)",
                ["outcome"],
                registry=registry,
            ),
            llm_requests=LlmRequestGauges.create(registry),
        )

    def register_into(self, registry: CollectorRegistry) -> None:
        registry.register(self.calls)
        registry.register(self.turn_stage_seconds)
        registry.register(self.model_requests)
        registry.register(self.speculative_replies)
        registry.register(self.wasted_llm_tokens)
        registry.register(self.wasted_tts_seconds)
        registry.register(self.caller_sentiment)
        registry.register(self.sentiment_acknowledgements)
        registry.register(self.memory_load_seconds)
        registry.register(self.memory_writes)
        self.llm_requests.register_into(registry)

    def observe_request(self, model: str, outcome: str) -> None:
        self.model_requests.labels(model, outcome).inc()

    def observe(self, timings: TurnTimings) -> None:
        """The critical-path stages and the end-of-turn figures, one histogram label each."""
        for name, value in timings.as_dict().items():
            if value is not None:
                stage = name.removesuffix("_ms")
                self.turn_stage_seconds.labels(stage).observe(value / 1000.0)
