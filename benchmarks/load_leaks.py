"""Load and leaks: many short simulated phone calls through the orchestrator and a real tritonserver.

``python -m benchmarks.load_leaks`` (``--quick``: 10 sequential + 3 concurrent) starts tritonserver
with every model in the CPU profile, serves the conversation app on uvicorn in this process, and runs
``--sequential`` calls one after the other, then ``--rounds`` rounds of ``--concurrent`` calls at once
(tritonserver must survive every round: its log is searched for aborts). Each call hears the
greeting; every ``--turn-every``-th call also says a sentence and waits for the answer (VAD, STT,
LLM and TTS streams). Measured against a baseline taken after a warm-up call:

- asyncio tasks left (``asyncio.all_tasks()``), and tasks still named after a call's SID;
- open file descriptors (``/proc/self/fd``: sockets, gRPC, recording files);
- Triton requests still pending (``nv_inference_pending_request_count``: streams never closed);
- RSS after each call (growth from the warm-up, and over the last half of the sequential calls); the
  growth per call after the warm-up must stay under ``RSS_KB_PER_CALL_BOUND`` (exit status 1 if not);
- every recording: WAV readable with its length in the header, JSONL parsing line by line, ending
  with ``end``, owner-only.

Figures go to ``benchmarks/results/load_leaks-latest.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import stat
import statistics
import tempfile
import time
import urllib.request
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.results_file import percentiles_ms, write_result
from callsim.call_record import CallRecord
from callsim.harness import cpu_call_settings
from callsim.steps import Say, Step, WaitUntil, run_steps
from callsim.twilio_dialer import dial
from callsim.twilio_phone import RATE, serve_app
from orchestrator.app import conversation_app
from orchestrator.settings import Settings

SENTENCE = "What time do you open tomorrow?"
# RSS growth per call after the warm-up, at most (measured: see docs/RELIABILITY.md). A leak of a
# call's audio (~1 MB a minute at 16 kHz float32) or of its sessions would cross it within a run.
RSS_KB_PER_CALL_BOUND = 150.0
# What tritonserver or its Python stubs print when they die.
SERVER_ABORT_MARKS = ("lock_exception", "Segmentation fault", "Aborted", "core dumped", "SIGSEGV")


def server_aborts(log_text: str) -> list[str]:
    """Lines of a tritonserver log that say it (or a stub) aborted."""
    return [line for line in log_text.splitlines() if any(m in line for m in SERVER_ABORT_MARKS)]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def pending_triton_requests(metrics_url: str | None) -> float | None:
    """Requests Triton still holds, all models (None when its metrics are not reachable)."""
    if not metrics_url:
        return None
    try:
        with urllib.request.urlopen(metrics_url, timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return None
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("nv_inference_pending_request_count{")
    )


def recording_problem(recordings: Path, call_sid: str) -> str | None:
    """None when the call's WAV and JSONL are complete and valid, else what is wrong."""
    logs = [p for p in recordings.glob(f"{call_sid}-*.jsonl")]
    if len(logs) != 1:
        return f"{len(logs)} event logs"
    try:
        events = [json.loads(line) for line in logs[0].read_text().splitlines()]
    except json.JSONDecodeError as error:
        return f"JSONL line does not parse: {error}"
    if not events or events[-1].get("event") != "end":
        return "JSONL does not end with 'end'"
    wav_path = logs[0].with_suffix(".wav")
    try:
        with wave.open(str(wav_path)) as wav:
            if (wav.getnchannels(), wav.getframerate()) != (2, RATE):
                return "WAV is not stereo 8 kHz"
            frames = wav.getnframes()
            if len(wav.readframes(frames)) != frames * 4 or frames == 0:
                return "WAV data shorter than its header says, or empty"
    except (OSError, wave.Error, EOFError) as error:
        return f"WAV unreadable: {error}"
    for path in (wav_path, logs[0]):
        if stat.S_IMODE(path.stat().st_mode) != 0o600:
            return f"{path.name} is not owner-only"
    return None


@dataclass
class LoadReport:
    calls: int = 0
    calls_with_turn: int = 0
    failed_calls: list[str] = field(default_factory=list)
    bad_recordings: dict[str, str] = field(default_factory=dict)
    call_seconds: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    baseline: dict[str, float] = field(default_factory=dict)
    after_sequential: dict[str, float] = field(default_factory=dict)
    after_concurrent: dict[str, float] = field(default_factory=dict)
    call_tasks_left: int = 0
    rounds: list[dict[str, Any]] = field(default_factory=list)  # one per concurrent round
    sequential: int = 0

    def leaks(self) -> dict[str, float]:
        """Growth over the baseline at the end (tasks, fds, pending Triton requests)."""
        end = self.after_concurrent or self.after_sequential
        leaks = {k: end[k] - self.baseline[k] for k in ("asyncio_tasks", "open_fds")}
        leaks["triton_pending_requests"] = end.get("triton_pending_requests", 0.0)
        leaks["call_tasks_left"] = float(self.call_tasks_left)
        return leaks

    def rss_kb_per_call(self) -> float:
        """Steady RSS growth per call: the least-squares slope over the second half of the
        sequential calls (the first half still fills allocator pools and caches; concurrent rounds
        raise the high-water mark, reported apart)."""
        tail = self.rss_mb[self.sequential // 2 : self.sequential]
        if len(tail) < 4:
            return 0.0
        slope = statistics.linear_regression(range(len(tail)), tail).slope
        return slope * 1024.0

    def figures(self) -> dict[str, Any]:
        half = self.rss_mb[len(self.rss_mb) // 2 :]
        return {
            "calls": self.calls,
            "calls_with_a_turn": self.calls_with_turn,
            "failed_calls": self.failed_calls,
            "recordings_verified": self.calls - len(self.bad_recordings),
            "bad_recordings": self.bad_recordings,
            "call_duration": percentiles_ms(self.call_seconds),
            "baseline": self.baseline,
            "after_sequential": self.after_sequential,
            "after_concurrent": self.after_concurrent,
            "leaks": self.leaks(),
            "rss_mb_first_last": [self.rss_mb[0], self.rss_mb[-1]] if self.rss_mb else [],
            "rss_mb_after_each_call": self.rss_mb,
            "rss_kb_per_call": round(self.rss_kb_per_call(), 1),
            "rss_kb_per_call_bound": RSS_KB_PER_CALL_BOUND,
            "concurrent_rounds": self.rounds,
            "rss_growth_mb_second_half": (max(half) - half[0]) if half else 0.0,
        }


class LoadRun:
    def __init__(
        self,
        base_url: str,
        recordings: Path,
        metrics_url: str | None,
        after_round: Callable[[int], dict[str, Any]] | None = None,
    ) -> None:
        self.base_url = base_url
        self.after_round = after_round  # figures of the server after each concurrent round
        self.recordings = recordings
        self.metrics_url = metrics_url
        self.report = LoadReport()
        self._serial = 0

    def _next_sids(self) -> tuple[str, str]:
        self._serial += 1
        return f"CA{self._serial:032x}", f"MZ{self._serial:032x}"

    def _agent_turns(self, sid: str, n: int) -> Step:
        return WaitUntil(
            lambda: CallRecord.count(self.recordings, sid, "agent_turn") >= n, timeout_ms=90_000
        )

    async def call(self, with_turn: bool) -> None:
        call_sid, stream_sid = self._next_sids()
        started = time.monotonic()
        steps: list[Step] = [self._agent_turns(call_sid, 1)]
        if with_turn:
            steps += [Say(SENTENCE), self._agent_turns(call_sid, 2)]
        try:
            phone = await dial(self.base_url, call_sid, stream_sid)
            await phone.connect()
            await run_steps(phone, steps)
            if CallRecord.count(self.recordings, call_sid, "agent_turn") < (2 if with_turn else 1):
                self.report.failed_calls.append(call_sid)
            await phone.stop()
        except Exception as error:  # counted, the run goes on
            self.report.failed_calls.append(f"{call_sid}: {error!r}")
        self.report.calls += 1
        self.report.calls_with_turn += with_turn
        self.report.call_seconds.append(time.monotonic() - started)
        await self._settle(lambda: self._ended(call_sid))
        problem = recording_problem(self.recordings, call_sid)
        if problem:
            self.report.bad_recordings[call_sid] = problem

    def _ended(self, call_sid: str) -> bool:
        return CallRecord.count(self.recordings, call_sid, "end") >= 1

    @staticmethod
    async def _settle(done: Any, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not done() and time.monotonic() < deadline:  # noqa: ASYNC110 - files on disk
            await asyncio.sleep(0.05)

    async def snapshot(self) -> dict[str, float]:
        await asyncio.sleep(0.5)  # closing handshakes, cancelled streams
        gc.collect()
        pending = pending_triton_requests(self.metrics_url)
        snap = {
            "asyncio_tasks": float(len(asyncio.all_tasks())),
            "open_fds": float(open_fds()),
            "rss_mb": round(rss_mb(), 1),
        }
        if pending is not None:
            snap["triton_pending_requests"] = pending
        return snap

    async def run(
        self, sequential: int, concurrent: int, turn_every: int, rounds: int = 1
    ) -> LoadReport:
        await self.call(with_turn=True)  # warm-up: canned lines, gRPC channel, models' first run
        self.report = LoadReport(sequential=sequential)
        self.report.baseline = await self.snapshot()
        for index in range(sequential):
            await self.call(with_turn=turn_every > 0 and index % turn_every == 0)
            self.report.rss_mb.append(round(rss_mb(), 1))
            print(
                f"call {index + 1}/{sequential}: {self.report.call_seconds[-1]:.1f} s", flush=True
            )
        self.report.after_sequential = await self.snapshot()
        for index in range(rounds if concurrent else 0):
            failed_before, first = len(self.report.failed_calls), len(self.report.call_seconds)
            await asyncio.gather(*(self.call(with_turn=True) for _ in range(concurrent)))
            self.report.rss_mb.append(round(rss_mb(), 1))
            self.report.after_concurrent = await self.snapshot()
            round_figures = {
                "calls": concurrent,
                "failed_calls": len(self.report.failed_calls) - failed_before,
                "call_duration": percentiles_ms(self.report.call_seconds[first:]),
                **(self.after_round(index) if self.after_round else {}),
            }
            self.report.rounds.append(round_figures)
            print(f"round {index + 1}/{rounds} of {concurrent} calls: {round_figures}", flush=True)
        self.report.call_tasks_left = sum(
            1
            for task in asyncio.all_tasks()
            if any(
                prefix in task.get_name() for prefix in ("CA0", "MZ0", "outbound-", "recording-")
            )
        )
        return self.report


async def run_load(
    settings: Settings,
    sequential: int,
    concurrent: int,
    turn_every: int,
    metrics_url: str | None = None,
    rounds: int = 1,
    after_round: Callable[[int], dict[str, Any]] | None = None,
) -> LoadReport:
    """Serve the conversation app with ``settings`` and run the calls against it."""
    app = conversation_app(settings)
    async with serve_app(app) as base:
        run = LoadRun(base, Path(settings.recordings_dir), metrics_url, after_round)
        report = await run.run(sequential, concurrent, turn_every, rounds)
    await app.state.conversation.aclose()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequential", type=int, default=100)
    parser.add_argument("--concurrent", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of --concurrent calls")
    parser.add_argument("--turn-every", type=int, default=10, help="a spoken turn every N calls")
    parser.add_argument("--quick", action="store_true", help="10 sequential + 1 round of 3")
    args = parser.parse_args()
    if args.quick:
        args.sequential, args.concurrent, args.rounds, args.turn_every = 10, 3, 1, 5

    from serving.launcher import TritonServer
    from serving.paths import MODEL_REPOSITORY, PROJECT_ROOT
    from serving.profiles import build_profile, server_options

    cache = PROJECT_ROOT / ".cache"
    options = server_options(build_profile("cpu", cache), MODEL_REPOSITORY)
    started = time.monotonic()
    with TritonServer(options) as server, tempfile.TemporaryDirectory() as tmp:
        print(f"Triton ready in {time.monotonic() - started:.1f} s", flush=True)
        settings = cpu_call_settings(
            server.grpc_url,
            Path(tmp) / "recordings",
            max_concurrent_calls=max(10, args.concurrent),
            llm_max_tokens=24,
        )

        def server_state(_: int) -> dict[str, Any]:
            aborts = server_aborts(server.log_path.read_text(errors="replace"))
            return {"server_running": server.is_running(), "server_aborts": len(aborts)}

        report = asyncio.run(
            run_load(
                settings,
                args.sequential,
                args.concurrent,
                args.turn_every,
                server.metrics_url,
                args.rounds,
                server_state,
            )
        )
        aborts = server_aborts(server.log_path.read_text(errors="replace"))
    figures = {
        "sequential": args.sequential,
        "concurrent": args.concurrent,
        "rounds": args.rounds,
        "turn_every": args.turn_every,
        **report.figures(),
        "server_aborts": aborts[:20],
    }
    path = write_result("load_leaks", "cpu", figures)
    print(json.dumps(figures, indent=2))
    print(f"wrote {path}")
    within = report.rss_kb_per_call() <= RSS_KB_PER_CALL_BOUND
    print(f"RSS per call {report.rss_kb_per_call():.1f} KB (bound {RSS_KB_PER_CALL_BOUND:.0f})")
    if aborts or not within:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
