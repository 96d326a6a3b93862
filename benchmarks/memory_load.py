"""Caller memory at call start: a caller's recent calls and their prompt brief, with many callers.

``python -m benchmarks.memory_load`` fills a store with ``--callers`` callers (10,000) x
``--calls-per-caller`` calls (3), each with a ~400-character summary, a few facts and a 20-turn
transcript, in batches (one transaction each), then times what the engine does when a call starts,
for ``--lookups`` (2,000) random callers one after the other: ``asyncio.to_thread`` of
``store.recent(key, limit=3)`` plus ``memory_brief`` (the thread hop included, as the engine calls
it). Once on SQLite (a file in a temporary folder, WAL), and with ``--postgres`` (the default) on a
PostgreSQL server started for the run (callsim.postgres_server, default durability settings,
TCP on 127.0.0.1, ``ANALYZE`` after the fill as autovacuum would do). The database was just written,
so its pages are in the OS cache, as a busy deployment's would be.

Figures go to ``benchmarks/results/memory_load-latest.json``; the exit status is 1 when a p95 is
over ``P95_BOUND_MS``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import create_engine

from benchmarks.results_file import percentiles_ms, write_result
from callsim.postgres_server import PostgresServer
from orchestrator.memory.call_memory import CallMemory, TranscriptTurn
from orchestrator.memory.caller_key import caller_key
from orchestrator.memory.prompt_budget import MemoryBrief, memory_brief
from orchestrator.memory.store import CallerMemoryStore

P95_BOUND_MS = 20.0  # the bound for loading a caller's memory
SECRET = b"memory-load-benchmark-secret-0123"
BATCH_CALLS = 1_000
WARM_UP_LOOKUPS = 50
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
VOCABULARY = (
    "caller asked about the delivery of order moved to Friday morning refund agreed manager "
    "callback tomorrow allergy peanuts cake birthday invoice address changed new card payment "
    "failed twice apologised offered discount booked table for four at seven pm confirmed"
)
WORDS = VOCABULARY.split()
NAMES = ("Ana", "Ben", "Chloé", "Dmitri", "Esi", "Farid", "Grace", "Hiro", "Ines", "Jamal")


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


class SyntheticCalls:
    """Calls as the engine would record them: summary ~400 characters, 20 turns, a few facts.
    Sentences come from a pool made once, so that making the calls costs little next to storing
    them (the fill's time is the database's)."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._sentences = [sentence(self._rng, self._rng.randint(6, 16)) for _ in range(2_000)]

    def call(self, key: str, sid: str, ended_at: datetime) -> CallMemory:
        pick = self._rng.choice
        return CallMemory(
            caller_key=key,
            call_sid=sid,
            ended_at=ended_at,
            summary=" ".join(pick(self._sentences) for _ in range(6))[:400],
            facts={
                "name": pick(NAMES),
                "preference": pick(self._sentences),
                "open requests": [pick(self._sentences) for _ in range(self._rng.randint(0, 2))],
            },
            transcript=tuple(
                TranscriptTurn("user" if turn % 2 else "assistant", pick(self._sentences))
                for turn in range(20)
            ),
            sentiment={"start": 0.1, "end": round(self._rng.uniform(-1, 1), 2), "lowest": -0.4},
        )


def caller_keys(callers: int) -> list[str]:
    return [caller_key(f"+1415{index:07d}", SECRET) for index in range(callers)]


def synthetic_calls(
    keys: Sequence[str], calls_per_caller: int, seed: int
) -> Iterator[list[CallMemory]]:
    """Batches of calls; each caller's calls spread over the last 90 days."""
    calls = SyntheticCalls(seed)
    rng = random.Random(seed)
    batch: list[CallMemory] = []
    for index, key in enumerate(keys):
        for call in range(calls_per_caller):
            ended_at = NOW - timedelta(minutes=rng.randint(0, 90 * 24 * 60))
            batch.append(calls.call(key, f"CA{index:08d}{call:04d}", ended_at))
            if len(batch) == BATCH_CALLS:
                yield batch
                batch = []
    if batch:
        yield batch


def fill(store: CallerMemoryStore, keys: Sequence[str], calls_per_caller: int) -> dict[str, float]:
    started = time.perf_counter()
    rows = 0
    for batch in synthetic_calls(keys, calls_per_caller, seed=1):
        store.record_calls(batch)
        rows += len(batch)
    elapsed = time.perf_counter() - started
    return {"rows": rows, "fill_s": round(elapsed, 2), "rows_per_s": round(rows / elapsed)}


async def time_loads(
    store: CallerMemoryStore, keys: Sequence[str], args: argparse.Namespace
) -> tuple[list[float], int]:
    """Seconds per load (thread hop, query, brief) for ``args.lookups`` random callers; how many
    briefs came out empty (0 expected: every caller has calls)."""

    def load(key: str) -> MemoryBrief:
        return memory_brief(store.recent(key, args.limit), args.token_budget)

    rng = random.Random(2)
    for key in rng.sample(list(keys), WARM_UP_LOOKUPS):
        await asyncio.to_thread(load, key)
    samples: list[float] = []
    empty = 0
    for _ in range(args.lookups):
        key = rng.choice(keys)
        started = time.perf_counter()
        brief = await asyncio.to_thread(load, key)
        samples.append(time.perf_counter() - started)
        empty += not brief.text
    return samples, empty


def load_figures(samples: list[float]) -> dict[str, float]:
    figures = percentiles_ms(samples)
    figures["p99_ms"] = round(float(np.percentile(np.asarray(samples) * 1000.0, 99)), 3)
    return figures


def measure(url: str, keys: Sequence[str], args: argparse.Namespace) -> dict[str, Any]:
    with CallerMemoryStore.open(url) as store:
        figures: dict[str, Any] = fill(store, keys, args.calls_per_caller)
        if url.startswith("postgresql"):
            engine = create_engine(url)
            with engine.begin() as connection:
                connection.exec_driver_sql("ANALYZE caller_calls")
            engine.dispose()
        samples, empty = asyncio.run(time_loads(store, keys, args))
    figures["load"] = load_figures(samples)
    figures["empty_briefs"] = empty
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callers", type=int, default=10_000)
    parser.add_argument("--calls-per-caller", type=int, default=3)
    parser.add_argument("--lookups", type=int, default=2_000)
    parser.add_argument("--limit", type=int, default=3, help="calls loaded per caller")
    parser.add_argument("--token-budget", type=int, default=600)
    parser.add_argument("--postgres", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()

    keys = caller_keys(args.callers)
    figures: dict[str, Any] = {
        "callers": args.callers,
        "calls_per_caller": args.calls_per_caller,
        "lookups": args.lookups,
        "limit": args.limit,
        "token_budget": args.token_budget,
        "p95_bound_ms": P95_BOUND_MS,
        "load_average_before": [round(v, 2) for v in os.getloadavg()],
    }
    with tempfile.TemporaryDirectory(prefix="memory-load-") as folder:
        database = Path(folder) / "memory.db"
        figures["sqlite"] = measure(f"sqlite:///{database}", keys, args)
        figures["sqlite"]["database_mb"] = round(database.stat().st_size / 2**20, 1)
    print(f"sqlite: {figures['sqlite']}", flush=True)
    if args.postgres:
        with PostgresServer() as server:
            figures["postgresql"] = measure(server.url, keys, args)
        print(f"postgresql: {figures['postgresql']}", flush=True)
    figures["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    path = write_result("memory_load", "memory", figures)
    print(f"wrote {path}")
    over = [
        name
        for name in ("sqlite", "postgresql")
        if name in figures and figures[name]["load"]["p95_ms"] > P95_BOUND_MS
    ]
    if over:
        print(f"p95 over {P95_BOUND_MS} ms: {', '.join(over)}")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
