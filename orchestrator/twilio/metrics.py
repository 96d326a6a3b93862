"""Prometheus metrics of the Twilio edge, on a registry per app (tests build many apps)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass(frozen=True)
class EdgeMetrics:
    registry: CollectorRegistry
    calls_active: Gauge
    calls_total: Counter
    media_frames_in: Counter
    media_messages_out: Counter
    codec_seconds: Histogram
    outbound_queue_depth: Gauge
    outbound_lead_ms: Gauge
    bad_messages: Counter
    webhooks_rejected: Counter
    call_status_events: Counter
    calls_refused: Counter
    streams_rejected: Counter

    @classmethod
    def create(cls) -> EdgeMetrics:
        registry = CollectorRegistry()
        return cls(
            registry=registry,
            calls_active=Gauge("cc_calls_active", "Media streams open now", registry=registry),
            calls_total=Counter("cc_calls", "Media streams started", registry=registry),
            media_frames_in=Counter(
                "cc_media_frames_in", "Inbound media messages accepted", registry=registry
            ),
            media_messages_out=Counter(
                "cc_media_messages_out", "Outbound media messages sent", registry=registry
            ),
            codec_seconds=Histogram(
                "cc_codec_seconds",
                "mu-law codec + resampling time per conversion",
                ["direction"],
                buckets=(1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3),
                registry=registry,
            ),
            outbound_queue_depth=Gauge(
                "cc_outbound_queue_depth", "Outbound chunks queued, all calls", registry=registry
            ),
            outbound_lead_ms=Gauge(
                "cc_outbound_lead_ms",
                "Agent audio sent but not yet heard, all calls",
                registry=registry,
            ),
            bad_messages=Counter(
                "cc_bad_messages", "Inbound messages dropped", ["reason"], registry=registry
            ),
            webhooks_rejected=Counter(
                "cc_webhooks_rejected", "Webhooks with a bad signature", registry=registry
            ),
            call_status_events=Counter(
                "cc_call_status_events", "Status callbacks", ["status"], registry=registry
            ),
            calls_refused=Counter(
                "cc_calls_refused",
                "Calls refused (at capacity or draining), by where: webhook or stream",
                ["where"],
                registry=registry,
            ),
            streams_rejected=Counter(
                "cc_streams_rejected",
                "Media streams refused before reaching a call (unsigned, replayed, wrong call, ...)",
                ["reason"],
                registry=registry,
            ),
        )
