"""What hostile sockets cost a real call: the edge alone (tone responder, no Triton), one real call
answering DTMF digits while others misbehave.

``python -m benchmarks.edge_abuse``. Conditions, measured in one run: quiet; 20 idle sockets (half
never finish their HTTP headers, half unsigned WebSocket handshakes); a signed stream flooding media
at 10x real time with the budget off (every frame taken: the cost without it), with the budget on
but never closing (frames dropped), and as configured by default (dropped, then closed). The figure:
the real call's response time (DTMF sent -> first tone byte back), p50/p95, and its ratio to quiet.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from benchmarks.results_file import write_result
from callsim.harness import new_call_sid
from callsim.hostile_sockets import flood_media, open_idle_sockets
from callsim.tone_responder import ToneResponder
from callsim.twilio_dialer import SIMULATED_AUTH_TOKEN, dial
from callsim.twilio_phone import SimulatedTwilioCall, serve_app
from orchestrator.app import create_app
from orchestrator.settings import Settings

PROBES = 40
PROBE_EVERY_S = 0.4  # the responder's tone is 300 ms
FLOOD_FACTOR = 10


async def probe(phone: SimulatedTwilioCall) -> list[float]:
    """DTMF -> first byte of its tone, in ms, ``PROBES`` times."""
    latencies: list[float] = []
    for _ in range(PROBES):
        arrivals = len(phone.log.media_arrivals)
        sent = time.perf_counter()
        await phone.send_dtmf("5")
        while len(phone.log.media_arrivals) == arrivals:  # noqa: ASYNC110 - polling the phone's log
            await asyncio.sleep(0.0005)
        latencies.append((time.perf_counter() - sent) * 1000.0)
        await asyncio.sleep(PROBE_EVERY_S)
    return latencies


@contextlib.asynccontextmanager
async def edge(recordings: Path, **overrides: Any) -> AsyncIterator[str]:
    settings = Settings(
        twilio_auth_token=SIMULATED_AUTH_TOKEN,
        recordings_dir=str(recordings),
        log_json=False,
        log_level="ERROR",
        **overrides,
    )
    async with serve_app(create_app(settings, ToneResponder)) as base:
        yield base


Disturbance = Callable[[str, dict[str, Any]], Awaitable[Callable[[], Awaitable[None]]]]


async def with_flood(base: str, stats: dict[str, Any]) -> Callable[[], Awaitable[None]]:
    flooder = await dial(base, new_call_sid())
    await flooder.connect()
    task = asyncio.create_task(flood_media(flooder, FLOOD_FACTOR))

    async def stop() -> None:
        closed_by_edge = flooder.closed.is_set()
        if not closed_by_edge:
            await flooder.close()
        flood = await task
        stats.update(frames_sent=flood.frames_sent, close_code=flooder.ws.close_code)
        if closed_by_edge:
            stats["closed_after_s"] = flood.closed_after_s

    return stop


async def with_idle_sockets(base: str, stats: dict[str, Any]) -> Callable[[], Awaitable[None]]:
    writers = await open_idle_sockets(base, 20)
    stats["sockets"] = len(writers)

    async def stop() -> None:
        for writer in writers:
            writer.close()

    return stop


async def measure(
    recordings: Path, disturbance: Disturbance | None, **overrides: Any
) -> dict[str, Any]:
    stats: dict[str, Any] = {}
    async with edge(recordings, **overrides) as base:
        phone = await dial(base, new_call_sid())
        await phone.connect()
        while phone.log.played_ms() < 300:  # noqa: ASYNC110 - the greeting beep
            await asyncio.sleep(0.01)
        stop = await disturbance(base, stats) if disturbance is not None else None
        latencies = await probe(phone)
        if stop is not None:
            await stop()
        await phone.stop()
    ordered = sorted(latencies)
    return {
        "response_ms_p50": round(statistics.median(ordered), 2),
        "response_ms_p95": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
        **stats,
    }


async def run() -> dict[str, Any]:
    conditions: dict[str, tuple[Disturbance | None, dict[str, Any]]] = {
        "quiet": (None, {}),
        "idle_sockets_20": (with_idle_sockets, {}),
        "flood_10x_budget_off": (with_flood, {"media_max_rate": 1000.0}),
        "flood_10x_dropped_not_closed": (with_flood, {"media_flood_close_ms": 1e9}),
        "flood_10x_default": (with_flood, {}),
    }
    figures: dict[str, Any] = {"probes": PROBES, "flood_factor": FLOOD_FACTOR}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (disturbance, overrides) in conditions.items():
            print(f"{name} ...", flush=True)
            figures[name] = await measure(Path(tmp) / name, disturbance, **overrides)
            print(f"  {figures[name]}", flush=True)
    quiet = figures["quiet"]["response_ms_p50"]
    figures["p50_over_quiet"] = {
        name: round(figures[name]["response_ms_p50"] / quiet, 2) for name in conditions
    }
    return figures


def main() -> None:
    figures = asyncio.run(run())
    path = write_result("edge_abuse", "edge", figures)
    print(json.dumps(figures, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
