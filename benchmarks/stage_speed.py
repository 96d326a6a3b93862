"""Each model stage in-process and inside tritonserver, in one run: what the server adds to each.

    python -m benchmarks.stage_speed                 # 8 utterances, 3 repeats (~6-8 min on 2 cores)
    python -m benchmarks.stage_speed --quick         # 4 utterances, 2 repeats
    python -m benchmarks.stage_speed --part server   # only the server half (investigations)
    python -m benchmarks.stage_speed --stages llm --server-env OMP_NUM_THREADS=1   # experiments

Same model kinds, weights and options as the CPU profile (serving/profiles.py): each model's options are
read from its config.pbtxt and the profile's ``CC_MODEL_*`` variables by serving/model_parameters.py,
exactly as its Triton model reads them, and the LLM runs with the stand-in backend's engine arguments
(model.json + the profile's overrides) and environment. The in-process half runs first: each engine is
loaded, measured and unloaded on its own. Then one tritonserver serves every model with the CPU profile;
once its processes are idle, each stage is measured through the orchestrator's own Triton clients with
the other models loaded and idle (the server is let go idle again between stages).

Stages, per caller utterance (Piper's voice through the phone path: 16 kHz -> 8 kHz -> mu-law -> 16 kHz):

- STT: the utterance -> its transcript (faster-whisper in-process; ``SttClient`` through Triton).
- LLM: a ChatML prompt (restaurant persona + the utterance; greedy, ``MAX_TOKENS``, ChatML stops) -> the
  first phrase the orchestrator's PhraseChunker sends to the TTS (default ChunkerParams: first clause
  of >= 3 words), and decode tokens/s ((tokens after the first) / (last token - first token)).
- TTS: that first phrase -> the first audio chunk; real-time factor = synthesis time / audio length.
- VAD: one 32 ms window. Through Triton a gRPC round trip dominates it: context, not a target.

The in-process serial floor of a turn is ``SERIAL_ENDPOINTING_MS`` of end-of-turn silence + STT + LLM first
phrase + first TTS audio of each utterance (medians over repeats), p50/p95 over the utterances.
First/later: the first request a freshly loaded model serves vs the median of the later requests of the
same input. Both sides warm up as the Triton models do when they load (serving/: the engines'
``warm_up``, the stand-in LLM backend's short generation); for the LLM the later requests also find the
prompt in vLLM's prefix cache, as a call's later turns find the persona.
Where the time goes: the CPU each server process (and this client) used per request of each stage,
each server process's CPU while idle and its thread count, and busy processes outside this run.
Writes ``benchmarks/results/stage_speed-*.json`` (machine, commit, every sample).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from benchmarks.results_file import write_result
from orchestrator.conversation.phrase_chunker import ChunkerParams, PhraseChunker
from orchestrator.params import sampling_options
from orchestrator.settings import Settings
from serving.profiles import ORCHESTRATOR_ENV_FILES

# What the floor models: a serial pipeline that waits a fixed end-of-turn silence before its STT starts
# (the anchors' endpointing). Not the product's pause (vad_pause_ms), after which ours starts at once.
SERIAL_ENDPOINTING_MS = 400.0
MAX_TOKENS = 48
PERSONA = "restaurant_host.txt"


def cpu_stop_token_ids() -> tuple[int, ...]:
    """The CPU profile's end-of-turn token ids, as its calls send them (serving/cpu_orchestrator.env)."""
    return sampling_options(Settings(_env_file=ORCHESTRATOR_ENV_FILES["cpu"])).stop_token_ids


# Beyond callsim's CALLER_SENTENCES: more turns for the percentiles, same register.
EXTRA_SENTENCES = (
    "Hi, I would like to know if you are open on Monday.",
    "Do you have any vegetarian dishes on the menu?",
    "Can I bring my dog to the restaurant?",
    "We are six people, is there a table free at eight tonight?",
)
SERVER = "server"
IN_PROCESS = "in_process"
STAGES = ("stt", "llm", "tts", "vad")  # table order
STAGE_ORDER = ("vad", "stt", "llm", "tts")  # measuring order (the models' first requests)
DEFAULT_CHUNKER = ChunkerParams()  # the orchestrator's defaults
TARGET_RATIO = 1.3  # the server's p50 over the in-process p50 that a stage must stay within
IDLE_CPU_CORES = 0.05  # a process group using less than this (cores, summed) counts as idle

FloatArray = npt.NDArray[np.float32]


# -- samples and their summary (pure) -----------------------------------------------------------------
@dataclass(frozen=True)
class Sample:
    """One request of one stage on one side."""

    stage: str  # "stt", "llm", "tts", "vad"
    side: str  # SERVER or IN_PROCESS
    key: int  # the input (utterance index)
    order: int  # 0: the first request this model served since it was loaded
    ms: float  # STT: transcript; LLM: first phrase; TTS: first audio; VAD: one window
    rate: float | None = None  # LLM: decode tokens/s; TTS: real-time factor
    text: str = ""  # STT: transcript; LLM: first phrase; TTS: the text spoken


@dataclass(frozen=True)
class TimedDelta:
    """A piece of LLM output: seconds after the request was sent, its text and token count."""

    at_s: float
    text: str
    tokens: int = 1


def first_phrase(
    deltas: Sequence[TimedDelta], params: ChunkerParams = DEFAULT_CHUNKER
) -> tuple[float, str]:
    """When the orchestrator's PhraseChunker would have its first chunk, and the chunk's text.

    An answer that never reaches a boundary gives its first chunk at the flush after the last delta.
    """
    chunker = PhraseChunker(params)
    for delta in deltas:
        chunks = chunker.push(delta.text)
        if chunks:
            return delta.at_s, chunks[0].text
    rest = chunker.flush()
    if not rest or not deltas:
        return float("nan"), ""
    return deltas[-1].at_s, rest[0].text


def decode_rate(deltas: Sequence[TimedDelta]) -> float | None:
    """Tokens per second after the first token: tokens after the first delta over their span."""
    counted = [d for d in deltas if d.tokens > 0]
    if len(counted) < 2:
        return None
    span = counted[-1].at_s - counted[0].at_s
    later = sum(d.tokens for d in counted[1:])
    return later / span if span > 0 else None


def _p(values: Sequence[float], q: float) -> float | None:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.percentile(finite, q)) if finite else None


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def _of(samples: Sequence[Sample], stage: str, side: str) -> list[Sample]:
    return [s for s in samples if s.stage == stage and s.side == side]


def first_later(samples: Sequence[Sample], stage: str, side: str) -> dict[str, float | None]:
    """The first request after loading vs the median of later requests with the same input."""
    mine = _of(samples, stage, side)
    first = next((s for s in mine if s.order == 0), None)
    if first is None:
        return {"first_ms": None, "later_p50_ms": None, "ratio": None}
    later = _p([s.ms for s in mine if s.key == first.key and s.order > 0], 50)
    ratio = first.ms / later if later else None
    return {
        "first_ms": _round(first.ms),
        "later_p50_ms": _round(later),
        "ratio": _round(ratio, 2),
    }


CpuFigures = Mapping[str, Mapping[str, float]]  # stage -> process -> CPU ms per request


def cpu_ratio(server: CpuFigures, in_process: CpuFigures, stage: str) -> float | None:
    """CPU the server's processes spent per request of ``stage`` (the client left out) over what the
    in-process engine spent: above 1, the server does more work for the same request."""
    spent = sum(v for k, v in server.get(stage, {}).items() if k != "client")
    local = sum(in_process.get(stage, {}).values())
    return _round(spent / local, 2) if spent and local else None


def stage_rows(
    samples: Sequence[Sample],
    server_cpu: CpuFigures | None = None,
    in_process_cpu: CpuFigures | None = None,
) -> dict[str, dict[str, Any]]:
    """Per stage: server and in-process p50/p95 (first requests left out), their ratio, the rate's
    p50 (LLM tokens/s, TTS real-time factor), first/later on each side, and the CPU ratio."""
    rows: dict[str, dict[str, Any]] = {}
    for stage in STAGES:
        row: dict[str, Any] = {}
        for side in (SERVER, IN_PROCESS):
            later = [s for s in _of(samples, stage, side) if s.order > 0]
            row[side] = {
                "n": len(later),
                "p50_ms": _round(_p([s.ms for s in later], 50)),
                "p95_ms": _round(_p([s.ms for s in later], 95)),
                "rate_p50": _round(_p([s.rate for s in later if s.rate is not None], 50), 3),
                "first_later": first_later(samples, stage, side),
            }
        server, local = row[SERVER]["p50_ms"], row[IN_PROCESS]["p50_ms"]
        row["ratio"] = _round(server / local, 2) if server and local else None
        row["cpu_ratio"] = cpu_ratio(server_cpu or {}, in_process_cpu or {}, stage)
        if row[SERVER]["n"] or row[IN_PROCESS]["n"]:
            rows[stage] = row
    return rows


def turn_floor(
    samples: Sequence[Sample], side: str = IN_PROCESS, eot_ms: float = SERIAL_ENDPOINTING_MS
) -> dict[str, Any]:
    """Serial floor per utterance (end-of-turn silence + STT + LLM first phrase + first TTS audio,
    each the median over its repeats), p50/p95 over the utterances that have all three."""

    def medians(stage: str) -> dict[int, float]:
        by_key: dict[int, list[float]] = {}
        for s in _of(samples, stage, side):
            by_key.setdefault(s.key, []).append(s.ms)
        return {k: statistics.median(v) for k, v in by_key.items()}

    stt, llm, tts = medians("stt"), medians("llm"), medians("tts")
    per_turn = {
        k: eot_ms + stt[k] + llm[k] + tts[k] for k in sorted(stt.keys() & llm.keys() & tts.keys())
    }
    values = list(per_turn.values())
    return {
        "eot_silence_ms": eot_ms,
        "n": len(values),
        "p50_ms": _round(_p(values, 50)),
        "p95_ms": _round(_p(values, 95)),
        "per_utterance_ms": {str(k): round(v, 1) for k, v in per_turn.items()},
    }


def _cell(value: Any, width: int) -> str:
    text = "-" if value is None else str(value)
    return text.rjust(width)


def format_table(rows: Mapping[str, Mapping[str, Any]]) -> str:
    """The per-stage table: server p50, in-process p50, ratio, rates, first/later per side."""
    header = (
        f"{'stage':<6}{'server p50':>12}{'in-proc p50':>13}{'ratio':>7}{'cpu ratio':>11}"
        f"{'server rate':>13}{'in-proc rate':>14}{'first/later srv':>17}{'first/later in':>16}"
    )
    lines = [header]
    for stage, row in rows.items():
        lines.append(
            f"{stage:<6}"
            + _cell(row[SERVER]["p50_ms"], 12)
            + _cell(row[IN_PROCESS]["p50_ms"], 13)
            + _cell(row["ratio"], 7)
            + _cell(row.get("cpu_ratio"), 11)
            + _cell(row[SERVER]["rate_p50"], 13)
            + _cell(row[IN_PROCESS]["rate_p50"], 14)
            + _cell(row[SERVER]["first_later"]["ratio"], 17)
            + _cell(row[IN_PROCESS]["first_later"]["ratio"], 16)
        )
    lines.append(
        "(ms; rate: LLM decode tokens/s, TTS real-time factor; VAD is one gRPC round trip)"
    )
    return "\n".join(lines)


# -- inputs -----------------------------------------------------------------------------------------
def phone_path(audio16k: FloatArray) -> FloatArray:
    """What the orchestrator hands the STT: 16 kHz -> 8 kHz int16 -> mu-law -> int16 -> 16 kHz (the
    caller side of callsim and the inbound side of the Twilio edge)."""
    from callsim.steps import to_phone
    from orchestrator.twilio import mulaw
    from orchestrator.twilio.audio import MODEL_RATE, TWILIO_RATE
    from orchestrator.twilio.resampler import StreamingResampler

    pcm8k = mulaw.decode(mulaw.encode(to_phone(audio16k)))
    resampler = StreamingResampler(TWILIO_RATE, MODEL_RATE)
    pcm16k = np.concatenate([resampler.process(pcm8k), resampler.flush()])
    return (pcm16k.astype(np.float32) / 32768.0).astype(np.float32)


def utterances(count: int) -> list[str]:
    from callsim.voices import CALLER_SENTENCES

    return list((*CALLER_SENTENCES, *EXTRA_SENTENCES))[:count]


def llm_prompt(sentence: str) -> str:
    from orchestrator.conversation.prompts import Role, Turn, chatml_prompt
    from serving.paths import PROJECT_ROOT

    persona = (PROJECT_ROOT / "personas" / PERSONA).read_text(encoding="utf-8").strip()
    return chatml_prompt(persona, [Turn(Role.USER, sentence)])


Options = TypeVar("Options")


def profile_options(model: str, options_class: type[Options], env: Mapping[str, str]) -> Options:
    """``options_class`` as the Triton model ``model`` reads it (config.pbtxt + ``env``)."""
    from serving.model_parameters import read_options
    from serving.paths import MODEL_REPOSITORY
    from serving.weights import config_parameters

    parameters = config_parameters((MODEL_REPOSITORY / model / "config.pbtxt").read_text())
    config = {"name": model, "parameters": {k: {"string_value": v} for k, v in parameters.items()}}
    return read_options(config, options_class, environ=env)  # type: ignore[type-var]


def rounds(keys: int, repeats: int) -> Iterator[tuple[int, int]]:
    """(order, key) of each request: ``repeats`` rounds over every input, in the same order."""
    order = 0
    for _ in range(repeats):
        for key in range(keys):
            yield order, key
            order += 1


# -- machine state --------------------------------------------------------------------------------
def _proc_stat(pid: int) -> tuple[int, int] | None:
    """(process group, CPU ticks used) of ``pid``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = stat[stat.rfind(")") + 2 :].split()
    return int(rest[2]), int(rest[11]) + int(rest[12])


def _label(pid: int) -> str:
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    words = [a.decode(errors="replace") for a in args if a]
    line = " ".join(words)
    for model in ("silero_vad", "stt", "tts", "llm"):
        if f"/{model}/1/model.py" in line or f"/{model}/1 " in line:
            return f"stub {model}"
    if "triton_python_backend_stub" in line:
        return "stub " + (words[1] if len(words) > 1 else "?")
    if words and words[0].startswith("VLLM"):
        return words[0]
    return Path(words[0]).name if words else "?"


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def cpu_by_process(seconds: float, group: int | None = None) -> list[dict[str, Any]]:
    """CPU use (% of one core) of each process over ``seconds``: of process group ``group``, or of
    every process when None; busiest first."""
    before = {pid: s for pid in _pids() if (s := _proc_stat(pid))}
    time.sleep(seconds)
    hz = os.sysconf("SC_CLK_TCK")
    rows = []
    for pid in _pids():
        now = _proc_stat(pid)
        if now is None or (group is not None and now[0] != group):
            continue
        used = now[1] - before.get(pid, (now[0], 0))[1]
        rows.append(
            {"pid": pid, "process": _label(pid), "cpu_pct": round(100 * used / hz / seconds, 1)}
        )
    return sorted(rows, key=lambda r: -r["cpu_pct"])


def cpu_ticks(group: int | None = None) -> dict[str, int]:
    """CPU ticks used so far per process (by label): of process group ``group``, or of this process
    and its descendants when None."""
    stats = {pid: s for pid in _pids() if (s := _proc_stat(pid))}
    if group is None:
        parents = {}
        for pid in stats:
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = Path(f"/proc/{pid}/stat").read_text()
                parents[pid] = int(stat[stat.rfind(")") + 2 :].split()[1])
        mine = {os.getpid()}
        while grown := {p for p, parent in parents.items() if parent in mine} - mine:
            mine |= grown
        members = [pid for pid in stats if pid in mine]
    else:
        members = [pid for pid, (pgrp, _) in stats.items() if pgrp == group]
    ticks: dict[str, int] = {}
    for pid in members:
        label = _label(pid)
        ticks[label] = ticks.get(label, 0) + stats[pid][1]
    return ticks


def _own_ticks() -> int:
    stat = _proc_stat(os.getpid())
    return stat[1] if stat else 0


def cpu_ms_per_request(
    before: Mapping[str, int], after: Mapping[str, int], requests: int
) -> dict[str, float]:
    """CPU milliseconds per request, per process label, between two :func:`cpu_ticks`."""
    hz = os.sysconf("SC_CLK_TCK")
    used = {k: after[k] - before.get(k, 0) for k in after}
    return {k: round(1000.0 * v / hz / max(1, requests), 1) for k, v in used.items() if v > 0}


def threads_by_process(group: int) -> dict[str, int]:
    """Threads of each process of process group ``group`` (by label)."""
    counts: dict[str, int] = {}
    for pid in _pids():
        stat = _proc_stat(pid)
        if stat is None or stat[0] != group:
            continue
        with contextlib.suppress(OSError, StopIteration, ValueError):
            status = Path(f"/proc/{pid}/status").read_text().splitlines()
            line = next(x for x in status if x.startswith("Threads:"))
            counts[_label(pid)] = int(line.split()[1])
    return counts


def cpu_times() -> list[int]:
    """The machine's CPU times (/proc/stat: user nice system idle iowait irq softirq steal)."""
    return [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]


def machine_share(before: Sequence[int], after: Sequence[int]) -> dict[str, float]:
    """Between two :func:`cpu_times`: the share of CPU time busy, idle and stolen by the host (%)."""
    delta = [b - a for a, b in zip(before, after, strict=True)]
    total = max(1, sum(delta))
    return {
        "busy_pct": round(100.0 * (sum(delta[:3]) + sum(delta[5:7])) / total, 1),
        "idle_pct": round(100.0 * (delta[3] + delta[4]) / total, 1),
        "steal_pct": round(100.0 * delta[7] / total, 1),
    }


def speed_probe_ms(iterations: int = 2_000_000) -> float:
    """A fixed single-threaded Python loop's time: the machine's own speed right now (a host that
    lends this VM's cores elsewhere shows as a slower probe)."""
    started = time.perf_counter()
    total = 0
    for i in range(iterations):
        total += i
    return round((time.perf_counter() - started) * 1000.0, 1)


def busy_elsewhere(seconds: float = 2.0, threshold_pct: float = 10.0) -> list[dict[str, Any]]:
    """Processes outside this one and its children that used more than ``threshold_pct`` of a core."""
    mine = {os.getpid()}
    for pid in _pids():
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            if int(stat[stat.rfind(")") + 2 :].split()[1]) in mine:
                mine.add(pid)
    return [
        r for r in cpu_by_process(seconds) if r["cpu_pct"] > threshold_pct and r["pid"] not in mine
    ]


def wait_idle(group: int, timeout_s: float = 180.0, settle_s: int = 3) -> float:
    """Wait until process group ``group`` used < IDLE_CPU_CORES for ``settle_s`` seconds in a row;
    returns the seconds waited (the timeout's, if it never settled)."""
    started = time.monotonic()
    quiet = 0
    while time.monotonic() - started < timeout_s:
        used = sum(r["cpu_pct"] for r in cpu_by_process(1.0, group)) / 100.0
        quiet = quiet + 1 if used < IDLE_CPU_CORES else 0
        if quiet >= settle_s:
            break
    return round(time.monotonic() - started, 1)


# -- in-process ---------------------------------------------------------------------------------
def _timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = call()
    return (time.perf_counter() - started) * 1000.0, value


def in_process_vad(env: Mapping[str, str], repeats: int, cpu: dict[str, float]) -> list[Sample]:
    from serving.vad_engine import WINDOW, SileroVadEngine, VadOptions

    options = profile_options("silero_vad", VadOptions, env)
    engine = SileroVadEngine(options.model_path, options.threads, options.max_windows)
    engine.warm_up()  # as the Triton model does when it loads
    window = np.random.default_rng(0).normal(0, 0.01, WINDOW).astype(np.float32)
    samples = []
    before = cpu_ticks()
    for order in range(max(3, repeats * 4)):
        ms, _ = _timed(lambda: engine.process(window))
        samples.append(Sample("vad", IN_PROCESS, 0, order, ms))
    cpu.update(cpu_ms_per_request(before, cpu_ticks(), len(samples)))
    return samples


def in_process_stt(
    env: Mapping[str, str], audios: Sequence[FloatArray], repeats: int, cpu: dict[str, float]
) -> list[Sample]:
    from serving.stt_engine import SttEngine, SttOptions, SttRequest

    engine = SttEngine(profile_options("stt", SttOptions, env))
    engine.warm_up()
    samples = []
    before = cpu_ticks()
    for order, key in rounds(len(audios), repeats):
        started = time.perf_counter()
        segments = list(engine.transcribe(SttRequest(audios[key], language="en")))
        ms = (time.perf_counter() - started) * 1000.0
        text = " ".join(s.text for s in segments)
        samples.append(Sample("stt", IN_PROCESS, key, order, ms, text=text))
    cpu.update(cpu_ms_per_request(before, cpu_ticks(), len(samples)))
    del engine
    gc.collect()
    return samples


def in_process_tts(
    env: Mapping[str, str], texts: Sequence[str], repeats: int, cpu: dict[str, float]
) -> list[Sample]:
    from serving.tts.contract import TtsOptions, TtsRequest, warm_up
    from serving.tts.engines import build_engine

    engine = build_engine(profile_options("tts", TtsOptions, env))
    warm_up(engine)
    samples = []
    before = cpu_ticks()
    for order, key in rounds(len(texts), repeats):
        started = time.perf_counter()
        first = None
        audio = 0
        for chunk in engine.synthesize(TtsRequest(texts[key]), lambda: False):
            first = first or time.perf_counter()
            audio += chunk.samples.size
        total = time.perf_counter() - started
        rtf = total / (audio / engine.sample_rate) if audio else None
        first_ms = ((first or time.perf_counter()) - started) * 1000.0
        samples.append(Sample("tts", IN_PROCESS, key, order, first_ms, rtf, texts[key]))
    cpu.update(cpu_ms_per_request(before, cpu_ticks(), len(samples)))
    del engine
    gc.collect()
    return samples


@contextlib.contextmanager
def restored_environ() -> Iterator[None]:
    """vLLM's CPU platform edits os.environ (LD_PRELOAD of tcmalloc and libgomp, thread settings):
    undo that, so the tritonserver started later gets the profile's environment only."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


async def in_process_llm(
    prompts: Sequence[str], repeats: int, cpu: dict[str, float]
) -> tuple[list[Sample], dict[int, str]]:
    """The stand-in backend's engine (AsyncLLM, same engine arguments) driven directly."""
    from vllm import SamplingParams
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.sampling_params import RequestOutputKind
    from vllm.v1.engine.async_llm import AsyncLLM

    from serving.llm_engine_args import apply_overrides, engine_args_env_name, load_model_json
    from serving.llm_request import WARM_UP_PROMPT, WARM_UP_TOKENS
    from serving.paths import MODEL_REPOSITORY

    args = apply_overrides(
        load_model_json(MODEL_REPOSITORY / "llm" / "1"),
        os.environ.get(engine_args_env_name("llm")),
    )
    engine = AsyncLLM.from_engine_args(AsyncEngineArgs(**args))
    params = SamplingParams(
        temperature=0.0,
        max_tokens=MAX_TOKENS,
        stop_token_ids=list(cpu_stop_token_ids()),
        output_kind=RequestOutputKind.DELTA,
    )
    samples: list[Sample] = []
    answers: dict[int, str] = {}
    try:
        # The stand-in backend's warm-up, as the Triton model does when it loads.
        warm = SamplingParams(temperature=0.0, max_tokens=WARM_UP_TOKENS)
        async for _ in engine.generate(WARM_UP_PROMPT, warm, "warm-up"):
            pass
        before = cpu_ticks()  # this process and the engine core it spawned
        for order, key in rounds(len(prompts), repeats):
            deltas: list[TimedDelta] = []
            started = time.perf_counter()
            async for output in engine.generate(prompts[key], params, f"bench-{order}"):
                completion = output.outputs[0]
                deltas.append(
                    TimedDelta(
                        time.perf_counter() - started, completion.text, len(completion.token_ids)
                    )
                )
            at_s, phrase = first_phrase(deltas)
            answers[key] = "".join(d.text for d in deltas)
            samples.append(
                Sample("llm", IN_PROCESS, key, order, at_s * 1000.0, decode_rate(deltas), phrase)
            )
        cpu.update(cpu_ms_per_request(before, cpu_ticks(), len(samples)))
    finally:
        engine.shutdown()
        del engine  # not left to AsyncLLM.__del__ at interpreter exit (it fails there)
        gc.collect()
    return samples, answers


# -- through tritonserver ---------------------------------------------------------------------------
async def server_vad(client: Any, repeats: int) -> list[Sample]:
    from orchestrator.triton.request import stream_responses, tensor
    from serving.vad_engine import WINDOW

    window = np.random.default_rng(0).normal(0, 0.01, WINDOW).astype(np.float32)
    samples = []
    for order in range(max(3, repeats * 4)):
        started = time.perf_counter()
        async for _ in stream_responses(client, "silero_vad", [tensor("audio", window)]):
            pass
        samples.append(Sample("vad", SERVER, 0, order, (time.perf_counter() - started) * 1000))
    return samples


async def server_stt(client: Any, audios: Sequence[FloatArray], repeats: int) -> list[Sample]:
    from orchestrator.triton.stt_client import SttClient

    stt = SttClient(client, timeout_s=60.0)
    samples = []
    for order, key in rounds(len(audios), repeats):
        started = time.perf_counter()
        transcript = await stt.transcribe(audios[key])
        ms = (time.perf_counter() - started) * 1000.0
        samples.append(Sample("stt", SERVER, key, order, ms, text=transcript.text))
    return samples


async def server_llm(
    client: Any, prompts: Sequence[str], repeats: int
) -> tuple[list[Sample], dict[int, str]]:
    from orchestrator.triton.llm_client import LlmClient, SamplingOptions

    llm = LlmClient(client, first_token_timeout_s=120.0, token_timeout_s=60.0)
    sampling = SamplingOptions(max_tokens=MAX_TOKENS, stop_token_ids=cpu_stop_token_ids()).greedy()
    samples = []
    answers = {}
    for order, key in rounds(len(prompts), repeats):
        deltas = []
        started = time.perf_counter()
        # One response per engine step: one token each (greedy decoding, no speculation).
        async for delta in llm.stream(prompts[key], sampling):
            deltas.append(TimedDelta(time.perf_counter() - started, delta.text))
        at_s, phrase = first_phrase(deltas)
        answers[key] = "".join(d.text for d in deltas)
        samples.append(
            Sample("llm", SERVER, key, order, at_s * 1000.0, decode_rate(deltas), phrase)
        )
    return samples, answers


async def server_tts(client: Any, texts: Sequence[str], repeats: int) -> list[Sample]:
    from orchestrator.triton.tts_client import TtsClient

    tts = TtsClient(client, chunk_timeout_s=60.0)
    samples = []
    for order, key in rounds(len(texts), repeats):
        started = time.perf_counter()
        first = None
        audio_s = 0.0
        async for chunk in tts.speak(texts[key]):
            first = first or time.perf_counter()
            audio_s += chunk.audio.size / chunk.sample_rate
        total = time.perf_counter() - started
        first_ms = ((first or time.perf_counter()) - started) * 1000.0
        rtf = total / audio_s if audio_s else None
        samples.append(Sample("tts", SERVER, key, order, first_ms, rtf, texts[key]))
    return samples


async def server_samples(
    url: str,
    group: int,
    inputs: Inputs,
    repeats: int,
    stages: Sequence[str],
    notes: dict[str, Any],
) -> tuple[list[Sample], dict[int, str]]:
    """The stages through the orchestrator's Triton clients, one stage at a time, the server let go
    idle before each. Returns the samples and the LLM answers; ``notes`` gets the idle waits (s) and
    the CPU each server process and this client used per request of each stage."""
    from orchestrator.triton.connection import connect

    client = connect(url)
    samples: list[Sample] = []
    answers: dict[int, str] = {}
    waits: dict[str, float] = {}
    cpu: dict[str, dict[str, float]] = {}
    try:
        await client.is_server_ready()  # the channel connects here, not in the first VAD request
        for stage in STAGE_ORDER:
            if stage not in stages:
                continue
            waits[stage] = await asyncio.to_thread(wait_idle, group)
            before = {**cpu_ticks(group), "client": _own_ticks()}
            if stage == "vad":
                new = await server_vad(client, repeats)
            elif stage == "stt":
                new = await server_stt(client, inputs.audios, repeats)
            elif stage == "llm":
                new, answers = await server_llm(client, inputs.prompts, repeats)
            else:
                new = await server_tts(client, inputs.texts, repeats)
            after = {**cpu_ticks(group), "client": _own_ticks()}
            cpu[stage] = cpu_ms_per_request(before, after, len(new))
            samples += new
    finally:
        await client.close()
    notes["stage_idle_waits_s"] = waits
    notes["server_cpu_ms_per_request"] = cpu
    return samples, answers


# -- the run --------------------------------------------------------------------------------------
@dataclass
class Inputs:
    sentences: list[str]
    audios: list[FloatArray]  # after the phone path
    prompts: list[str]
    texts: list[str]  # for the TTS: the LLM's first phrases once the in-process half ran


@dataclass
class Run:
    samples: list[Sample] = field(default_factory=list)
    answers: dict[str, dict[int, str]] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)


def run_in_process(run: Run, inputs: Inputs, repeats: int, stages: Sequence[str]) -> None:
    """The in-process half, each engine loaded, measured and unloaded in turn; the LLM's first
    phrases become the TTS texts."""
    env = dict(os.environ)
    started = time.perf_counter()
    cpu: dict[str, dict[str, float]] = {stage: {} for stage in stages}
    if "vad" in stages:
        run.samples += in_process_vad(env, repeats, cpu["vad"])
    if "stt" in stages:
        run.samples += in_process_stt(env, inputs.audios, repeats, cpu["stt"])
    if "llm" in stages:
        with restored_environ():
            llm, answers = asyncio.run(in_process_llm(inputs.prompts, repeats, cpu["llm"]))
        run.samples += llm
        run.answers[IN_PROCESS] = answers
        phrases = {s.key: s.text for s in llm if s.text}
        inputs.texts = [phrases.get(k, t) for k, t in enumerate(inputs.texts)]
    if "tts" in stages:
        run.samples += in_process_tts(env, inputs.texts, repeats, cpu["tts"])
    run.notes["in_process_cpu_ms_per_request"] = cpu
    run.notes["in_process_s"] = round(time.perf_counter() - started, 1)


def in_process_floor(sentences: Sequence[str], repeats: int = 2) -> dict[str, Any]:
    """The in-process serial floor of a turn for these caller utterances, measured now (for
    benchmarks.call_latency, before its tritonserver starts): the floor's p50/p95 and each stage's
    in-process p50."""
    from callsim.voices import caller_speech
    from serving.profiles import build_profile

    run = Run()
    with restored_environ():
        os.environ.update(build_profile("cpu").env)  # what tritonserver's models see
        inputs = Inputs(
            list(sentences),
            [phone_path(caller_speech(s)) for s in sentences],
            [llm_prompt(s) for s in sentences],
            [s.split(",")[0] for s in sentences],
        )
        run_in_process(run, inputs, repeats, ("stt", "llm", "tts"))
    rows = stage_rows(run.samples)
    return {
        **turn_floor(run.samples),
        "stages_p50_ms": {stage: row[IN_PROCESS]["p50_ms"] for stage, row in rows.items()},
    }


def run_server(
    run: Run,
    inputs: Inputs,
    repeats: int,
    stages: Sequence[str],
    models: Sequence[str] | None,
    extra_env: Mapping[str, str],
) -> None:
    from serving.launcher import TritonServer
    from serving.paths import MODEL_REPOSITORY
    from serving.profiles import build_profile, server_options

    profile = build_profile("cpu")
    profile.env.update(extra_env)
    options = server_options(profile, MODEL_REPOSITORY, models=models, startup_timeout_s=400)
    started = time.perf_counter()
    with TritonServer(options) as server:
        run.notes["server_start_s"] = round(time.perf_counter() - started, 1)
        assert server.pid is not None
        run.notes["server_idle_wait_s"] = wait_idle(server.pid)
        run.notes["server_idle_cpu"] = cpu_by_process(5.0, server.pid)
        run.notes["server_threads"] = threads_by_process(server.pid)
        samples, answers = asyncio.run(
            server_samples(server.grpc_url, server.pid, inputs, repeats, stages, run.notes)
        )
        run.notes["server_log"] = str(server.log_path)
    run.samples += samples
    run.answers[SERVER] = answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--utterances", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="4 utterances, 2 repeats")
    parser.add_argument("--part", choices=("both", "in-process", "server"), default="both")
    parser.add_argument("--stages", nargs="+", choices=STAGE_ORDER, default=list(STAGE_ORDER))
    parser.add_argument(
        "--server-models", nargs="+", default=None, help="load only these (default: every model)"
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for tritonserver over the profile's (experiments)",
    )
    parser.add_argument("--name", default="stage_speed", help="results file name")
    args = parser.parse_args()
    repeats, count = (2, 4) if args.quick else (max(2, args.repeats), args.utterances)
    extra_env = dict(item.split("=", 1) for item in args.server_env)

    from callsim.voices import caller_speech
    from serving.profiles import build_profile

    os.environ.update(build_profile("cpu").env)  # what tritonserver's models see
    run = Run()
    run.notes["busy_elsewhere_at_start"] = busy_elsewhere()
    run.notes["loadavg_at_start"] = os.getloadavg()
    run.notes["speed_probe_ms"] = {"start": speed_probe_ms()}
    sentences = utterances(count)
    inputs = Inputs(
        sentences,
        [phone_path(caller_speech(s)) for s in sentences],
        [llm_prompt(s) for s in sentences],
        [s.split(",")[0] for s in sentences],  # replaced by the LLM's first phrases in-process
    )
    if args.part in ("both", "in-process"):
        before = cpu_times()
        run_in_process(run, inputs, repeats, args.stages)
        run.notes["machine_in_process"] = machine_share(before, cpu_times())
    if args.part in ("both", "server"):
        run.notes["busy_elsewhere_before_server"] = busy_elsewhere()
        run.notes["speed_probe_ms"]["before_server"] = speed_probe_ms()
        before = cpu_times()
        run_server(run, inputs, repeats, args.stages, args.server_models, extra_env)
        run.notes["machine_server"] = machine_share(before, cpu_times())
    run.notes["speed_probe_ms"]["end"] = speed_probe_ms()

    rows = stage_rows(
        run.samples,
        run.notes.get("server_cpu_ms_per_request", {}),
        run.notes.get("in_process_cpu_ms_per_request", {}),
    )
    floor = turn_floor(run.samples)
    same = {
        k: run.answers[SERVER][k] == v
        for k, v in run.answers.get(IN_PROCESS, {}).items()
        if k in run.answers.get(SERVER, {})
    }
    figures = {
        "stages": rows,
        "in_process_turn_floor": floor,
        "server_turn_floor": turn_floor(run.samples, SERVER),
        "llm_same_answer_both_sides": same,
        "settings": {
            "utterances": sentences,
            "tts_texts": inputs.texts,
            "repeats": repeats,
            "max_tokens": MAX_TOKENS,
            "target_ratio": TARGET_RATIO,
            "stages": args.stages,
            "server_models": args.server_models,
            "server_env_extra": extra_env,
        },
        "notes": run.notes,
        "samples": [asdict(s) for s in run.samples],
    }
    path = write_result(args.name, "cpu", figures)
    print(format_table(rows))
    print(f"in-process turn floor: p50 {floor['p50_ms']} ms, p95 {floor['p95_ms']} ms")
    print(f"server idle CPU: {run.notes.get('server_idle_cpu', [])[:6]}")
    print(
        f"machine: in-process {run.notes.get('machine_in_process')}, "
        f"server {run.notes.get('machine_server')}; speed probe {run.notes['speed_probe_ms']}"
    )
    print(f"server CPU ms per request: {run.notes.get('server_cpu_ms_per_request')}")
    print(f"in-process CPU ms per request: {run.notes.get('in_process_cpu_ms_per_request')}")
    print(f"results: {path}")


if __name__ == "__main__":
    main()
