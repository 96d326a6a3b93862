"""The Twilio edge's options: plain frozen dataclasses, no I/O.

Apart from the edge (orchestrator/twilio/) so that settings.py and params.py can read their defaults
and build them without importing the edge: the engine, which reads settings, then reaches the call only
through orchestrator/call_handler.py (the import contract in pyproject.toml has no exception for it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

# soxr's quality presets (orchestrator/twilio/resampler.py measures what each costs in lag).
ResamplerQuality = Literal["QQ", "LQ", "MQ", "HQ", "VHQ"]
DEFAULT_QUALITY: ResamplerQuality = "LQ"


@dataclass(frozen=True)
class OutboundOptions:
    """The agent's audio toward Twilio (orchestrator/twilio/outbound_stream.py)."""

    chunk_ms: int = 200
    max_lead_ms: int = 1000
    queue_chunks: int = 50
    resampler_quality: ResamplerQuality = DEFAULT_QUALITY


@dataclass(frozen=True)
class MediaBudgetParams:
    """How much caller audio a stream may send (orchestrator/twilio/media_budget.py)."""

    max_rate: float = 2.0  # times real time, sustained (network jitter bunches frames, never 2x)
    burst_ms: float = 2000.0  # audio that may arrive at once after a stall
    close_after_dropped_ms: float = 5000.0  # audio dropped over the call before it is closed


@dataclass(frozen=True)
class SessionOptions:
    """One media stream (orchestrator/twilio/session.py)."""

    recordings_dir: Path
    outbound: OutboundOptions
    max_message_bytes: int = 65_536
    max_media_bytes: int = 8000  # 1 s of 8 kHz mu-law; Twilio sends 160 (20 ms)
    recording_flush_ms: int = 250
    media_budget: MediaBudgetParams = field(default_factory=MediaBudgetParams)
