"""``python -m benchmarks.gpu_check``: our TTS engine on CSM-1B and a Whisper STT proxy, at their real
sizes with random weights, on one CUDA GPU, in at most 8 minutes (``bash benchmarks/gpu_check.sh``).

    python -m benchmarks.gpu_check                      # CUDA, real sizes (the GPU host)
    python -m benchmarks.gpu_check --tiny               # CPU, tiny configs, seconds (CI checks it runs)
    python -m benchmarks.gpu_check --tts-engine csm --phases tts --concurrency 1,4

Made for a bare GPU host: it needs torch, transformers (with their own dependencies: numpy, tokenizers,
jinja2) and this checkout's files, nothing else: no weights (random, built in memory on the device), no
download, no Triton server, no CTranslate2, no soxr (context audio is already at 24 kHz), no git (the
commit is read if there is one, else ``--commit``).

- **TTS** (``--tts-engine``, default ``csm``: serving/tts/csm.py ``CsmTtsEngine``): a ``CsmConfig()``,
  whose defaults are csm-1b's sizes (backbone 2048 x 16 layers, depth decoder 1024 x 4, 32 codebooks,
  Mimi), with the byte-level tokenizer and chat template of serving/tts/tiny_csm.py; built on the device,
  then cast (bfloat16, as production). After the contract's ``warm_up``, requests of one sentence each,
  every one on its own thread as the ``tts`` model's ``RequestThreads`` runs them: 1 at a time without
  context (a reply's first chunk), then 1, 4 and 8 at once, each carrying a context turn (the previous
  chunk's text and audio, as every reply's second chunk does). Random weights rarely emit end-of-audio,
  so each sentence runs to ``max_sentence_s``; frames are counted from the audio. Per level: first
  audio (request -> first chunk), frames/s per request and in all, real-time factor (request's compute
  time / its audio), and how many real-time streams the level's total rate would feed.
- **STT proxy**: a distil-large-v3-sized Whisper (transformers, d_model 1280, 32 encoder and 2 decoder
  layers, float16) on one 5 s utterance: host log-mel of the 30 s padded window (what faster-whisper
  feeds its encoder), the encoder pass, and a greedy decode of a fixed number of tokens with the KV
  cache (one host sync per token, as a real decoder checks for end-of-text). transformers' kernels, not
  CTranslate2's: an upper bound on production's cost.

Time guard: a budget (450 s full, ``--budget-s``) from the start; a level whose predicted time (from the
rate measured so far) exceeds what is left is skipped, and at the deadline running requests stop within
a frame (the engine's own cancellation). Progress lines carry the elapsed time; after each phase the
figures so far are written to ``results/gpu_check-partial.json``; SIGTERM/SIGINT end the run with what
was measured. Writes ``benchmarks/results/gpu_check-*.json`` (``gpu_check_tiny-*`` for ``--tiny``).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import math
import signal
import statistics
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmarks.results_file import RESULTS_DIR, percentiles_ms, result_document, write_result
from serving.paths import PROJECT_ROOT
from serving.tts.contract import (
    FRAME_S,
    ContextTurn,
    FloatArray,
    ShouldStop,
    TtsEngine,
    TtsEngineKind,
    TtsOptions,
    TtsRequest,
    warm_up,
)

if TYPE_CHECKING:
    import torch

# Checkout folders that are no Python package but would import as one (a namespace package) from the
# repository root: torch takes the image's triton/ for the Triton compiler when that is not installed,
# and transformers' model imports fail on ``triton.language``.
CHECKOUT_FOLDERS_NOT_PACKAGES = ("triton",)
PREVIOUS_TEXT = "Thank you for calling, how can I help you today?"  # the context turn's text
TTS_TEXTS = (
    "Your table for two is booked for seven tonight.",
    "Could you spell your last name for me, please?",
    "The clinic opens at eight in the morning on weekdays.",
    "I have moved your appointment to Thursday at three.",
)
STT_RATE = 16_000
# faster-whisper's prompt for distil-large-v3: <|startoftranscript|> <|en|> <|transcribe|> <|notimestamps|>
STT_PROMPT = (50258, 50259, 50360, 50364)
WHISPER_VOCAB = 51866  # large-v3's (and distil-large-v3's) vocabulary
WHISPER_MELS = 128
BARRIER_TIMEOUT_S = 120.0


# -- what a run measures ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Level:
    """``requests`` TTS requests on ``concurrency`` threads (all started at once, each thread's in turn)."""

    concurrency: int
    requests: int
    context: bool

    @property
    def label(self) -> str:
        return level_label(self.concurrency, self.context)


def level_label(concurrency: int, context: bool) -> str:
    return f"{concurrency}{'' if context else ' no ctx'}"


@dataclass(frozen=True)
class CheckPlan:
    """One run's sizes, device, dtypes and limits."""

    name: str  # "gpu": real sizes on CUDA; "tiny": CI's, on the CPU
    device: str
    tts_dtype: str
    stt_dtype: str
    real_sizes: bool
    max_sentence_s: float  # each sentence's cap (random weights rarely end one)
    concurrency: tuple[int, ...] = (1, 4, 8)
    # Requests at concurrency 1, one after another; at a higher level one a thread.
    solo_requests: int = 3
    stt_audio_s: float = 5.0
    stt_tokens: int = 64
    stt_repeats: int = 5
    budget_s: float = 450.0

    @property
    def result_name(self) -> str:
        return "gpu_check" if self.name == "gpu" else f"gpu_check_{self.name}"

    def levels(self) -> list[Level]:
        """1 without context (a reply's first chunk), then each concurrency with a context turn."""
        solo = Level(1, self.solo_requests, context=False)
        return [solo] + [
            Level(c, self.solo_requests if c == 1 else c, context=True) for c in self.concurrency
        ]

    def sentence_frames(self) -> int:
        return max(1, round(self.max_sentence_s / FRAME_S))


FULL = CheckPlan(
    name="gpu",
    device="cuda",
    tts_dtype="bfloat16",
    stt_dtype="float16",
    real_sizes=True,
    max_sentence_s=3.0,
)
TINY = CheckPlan(
    name="tiny",
    device="cpu",
    tts_dtype="bfloat16",  # production's dtype: its casts are what the tiny run checks
    stt_dtype="float32",
    real_sizes=False,
    max_sentence_s=0.4,
    solo_requests=2,
    stt_tokens=8,
    stt_repeats=2,
    budget_s=120.0,
)


@dataclass(frozen=True)
class TtsEngineChoice:
    """An engine the check can measure: the options' kind and how it is built on a loaded CSM."""

    kind: TtsEngineKind
    build: Callable[[TtsOptions, Any], TtsEngine]  # (options, serving.tts.csm.LoadedCsm) -> engine


def _csm_engine(options: TtsOptions, loaded: Any) -> TtsEngine:
    from serving.tts.csm import CsmTtsEngine

    return CsmTtsEngine(options, loaded)


def _csm_generate_engine(options: TtsOptions, loaded: Any) -> TtsEngine:
    from serving.tts.csm_generate import CsmGenerateTtsEngine

    return CsmGenerateTtsEngine(options, loaded)


# Another engine on the same random CSM is one more entry here.
TTS_ENGINES: dict[str, TtsEngineChoice] = {
    TtsEngineKind.CSM.value: TtsEngineChoice(TtsEngineKind.CSM, _csm_engine),
    TtsEngineKind.CSM_GENERATE.value: TtsEngineChoice(
        TtsEngineKind.CSM_GENERATE, _csm_generate_engine
    ),
}


@dataclass(frozen=True)
class TtsTiming:
    """One request: seconds from its start to its first and its last chunk, and its audio."""

    first_audio_s: float  # NaN if stopped before any audio
    total_s: float
    audio_s: float
    frames: int
    chunks: int


# -- summaries (pure) -------------------------------------------------------------------------------
def summarize_level(level: Level, timings: Sequence[TtsTiming], wall_s: float) -> dict[str, Any]:
    """A level's figures; requests stopped before any audio count only in ``stopped``."""
    done = [t for t in timings if t.frames > 0]
    row: dict[str, Any] = {
        "concurrency": level.concurrency,
        "context": level.context,
        "requests": len(done),
        "stopped": len(timings) - len(done),
        "wall_s": round(wall_s, 3),
    }
    if not done:
        return row
    frames = sum(t.frames for t in done)
    total_rate = frames / wall_s if wall_s > 0 else math.nan
    return row | {
        "first_audio": percentiles_ms([t.first_audio_s for t in done]),
        "frames_per_request_p50": statistics.median(t.frames for t in done),
        "audio_s_per_request_p50": round(statistics.median(t.audio_s for t in done), 3),
        "frames_per_s_per_request_p50": round(
            statistics.median(t.frames / t.total_s for t in done), 2
        ),
        "frames_per_s_total": round(total_rate, 2),
        "real_time_streams": round(total_rate * FRAME_S, 2),  # streams its total rate would feed
        "real_time_factor_p50": round(statistics.median(t.total_s / t.audio_s for t in done), 3),
        "real_time_factor_max": round(max(t.total_s / t.audio_s for t in done), 3),
    }


def predicted_s(level: Level, sentence_frames: int, frames_per_s: float | None) -> float:
    """How long ``level`` should take at ``frames_per_s`` in all (the best rate measured so far at a
    concurrency no higher); 0 when nothing has been measured yet."""
    if not frames_per_s:
        return 0.0
    return level.requests * sentence_frames / frames_per_s


def format_table(figures: dict[str, Any]) -> str:
    """The run in a few lines: environment, TTS per level, STT proxy."""
    env = figures.get("environment", {})
    head = (
        f"gpu_check {figures['plan']['name']}: {env.get('gpu', env.get('device', '?'))}, "
        f"torch {env.get('torch', '?')}, transformers {env.get('transformers', '?')}; "
        f"{figures.get('elapsed_s', '?')} s, {'complete' if figures.get('complete') else 'INCOMPLETE'}"
        f"{', interrupted' if figures.get('interrupted') else ''}"
        f"{f', {len(skipped)} skipped' if (skipped := figures.get('skipped')) else ''}"
    )
    lines = [head]
    tts = figures.get("tts")
    if tts:
        lines.append(
            f"TTS {tts.get('engine')} ({tts.get('dtype')} on {tts.get('device')}): "
            f"{tts.get('parameters_m')} M parameters (codec {tts.get('codec_parameters_m')} M), "
            f"built {tts.get('build_s')} s, warm-up {tts.get('warm_up_s')} s, "
            f"{_peak(tts)}sentence cap {tts.get('max_sentence_s')} s, "
            f"context {tts.get('context_audio_s', '-')} s"
        )
        lines.append(
            f"  {'conc':<9}{'reqs':>5}{'first audio ms p50':>20}{'p95':>8}{'max':>8}"
            f"{'frames/s/req':>14}{'frames/s all':>14}{'RT streams':>12}{'RTF p50':>9}{'RTF max':>9}"
        )
        for row in tts.get("levels", []):
            label = level_label(row["concurrency"], row["context"])
            first = row.get("first_audio", {})
            lines.append(
                f"  {label:<9}{row['requests']:>5}"
                + _cell(first.get("p50_ms"), 20)
                + _cell(first.get("p95_ms"), 8)
                + _cell(first.get("max_ms"), 8)
                + _cell(row.get("frames_per_s_per_request_p50"), 14)
                + _cell(row.get("frames_per_s_total"), 14)
                + _cell(row.get("real_time_streams"), 12, 2)
                + _cell(row.get("real_time_factor_p50"), 9, 2)
                + _cell(row.get("real_time_factor_max"), 9, 2)
                + (f"  ({row['stopped']} stopped)" if row.get("stopped") else "")
            )
        if tts.get("error"):
            lines.append(f"  TTS failed: {tts['error']}")
    stt = figures.get("stt")
    if stt:
        if "encoder" in stt:
            lines.append(
                f"STT proxy ({stt['sizes']}, {stt['dtype']} on {stt['device']}): "
                f"features {stt['features']['p50_ms']} ms (host), "
                f"encoder p50 {stt['encoder']['p50_ms']} ms (first {stt['first_encoder_ms']} ms), "
                f"decoder {stt['decoder_ms_per_token_p50']} ms/token, "
                f"{stt['tokens']} tokens in all p50 {stt['total']['p50_ms']} ms"
                f"{'; ' + _peak(stt).rstrip('; ') if 'peak_memory_gib' in stt else ''}"
            )
        if stt.get("error"):
            lines.append(f"STT proxy failed: {stt['error']}")
    lines.extend(f"skipped: {reason}" for reason in figures.get("skipped", []))
    return "\n".join(lines)


def _peak(phase: dict[str, Any]) -> str:
    """The phase's peak GPU memory, "" on the CPU."""
    peak = phase.get("peak_memory_gib")
    return "" if peak is None else f"peak {peak} GiB allocated; "


def _cell(value: Any, width: int, digits: int = 1) -> str:
    """``value`` right-aligned in ``width`` (at least one space before it), floats to ``digits``."""
    text = (
        "-" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)
    )
    return " " + text.rjust(width - 1)


# -- the bare host's imports ------------------------------------------------------------------------
def hide_checkout_folders(names: Iterable[str], root: Path) -> list[str]:
    """Of ``names``, those that would import only as a bare folder of ``root`` (a namespace package)
    are made unimportable (``import`` raises ImportError, as when the package is absent); returns them."""
    hidden = []
    for name in names:
        if name in sys.modules:
            continue
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is not None:  # absent, or a real module or package
            continue
        locations = [Path(p).resolve() for p in spec.submodule_search_locations or ()]
        if locations and all(location.parent == root.resolve() for location in locations):
            sys.modules[name] = None  # type: ignore[assignment]
            hidden.append(name)
    return hidden


# -- the run (I/O) ----------------------------------------------------------------------------------
@dataclass
class Check:
    """One run: its plan, what it has measured so far, the deadline and the progress log."""

    plan: CheckPlan
    engine_name: str
    results_dir: Path
    commit: str | None
    started: float = field(default_factory=time.perf_counter)
    stop: threading.Event = field(default_factory=threading.Event)
    figures: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.figures = {
            "plan": asdict(self.plan),
            "tts_engine": self.engine_name,
            "complete": False,
            "skipped": [],
        }

    # clock and deadline
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def left_s(self) -> float:
        return self.plan.budget_s - self.elapsed()

    def should_stop(self) -> bool:
        return self.stop.is_set() or self.left_s() <= 0

    def log(self, message: str) -> None:
        print(f"[{self.elapsed():7.1f} s] {message}", flush=True)

    def skip(self, reason: str) -> None:
        self.figures["skipped"].append(reason)
        self.log(f"skipped: {reason}")

    # results
    @property
    def partial_path(self) -> Path:
        return self.results_dir / f"{self.plan.result_name}-partial.json"

    def save_partial(self) -> None:
        self.figures["elapsed_s"] = round(self.elapsed(), 1)
        document = result_document(self.plan.result_name, self.plan.name, self.figures, self.commit)
        self.results_dir.mkdir(parents=True, exist_ok=True)
        self.partial_path.write_text(json.dumps(document, indent=2) + "\n")

    def finish(self) -> Path:
        self.figures["elapsed_s"] = round(self.elapsed(), 1)
        path = write_result(
            self.plan.result_name,
            self.plan.name,
            self.figures,
            commit=self.commit,
            results_dir=self.results_dir,
        )
        self.partial_path.unlink(missing_ok=True)
        return path

    # phases
    def run(self, phases: Sequence[str]) -> None:
        self.figures["environment"] = environment(self.plan.device)
        self.log(f"environment: {self.figures['environment']}")
        if "stt" in phases:
            self._phase("stt", self._stt)
        if "tts" in phases:
            self._phase("tts", self._tts)
        self.figures["complete"] = not self.stop.is_set() and not any(
            isinstance(self.figures.get(p), dict) and "error" in self.figures[p] for p in phases
        )

    def _phase(self, name: str, measure: Callable[[dict[str, Any]], None]) -> None:
        """Runs one phase into ``figures[name]``; a failure is recorded and the next phase still runs."""
        import torch

        figures: dict[str, Any] = {}
        self.figures[name] = figures
        device = torch.device(self.plan.device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        try:
            measure(figures)
        except Exception as exc:  # one GPU run is precious: keep the other phase's figures
            figures["error"] = repr(exc)
            self.log(f"{name} failed: {exc!r}\n{traceback.format_exc()}")
        finally:
            if device.type == "cuda":
                figures["peak_memory_gib"] = round(
                    torch.cuda.max_memory_allocated(device) / 2**30, 2
                )
            gc.collect()
            if device.type == "cuda":
                torch.cuda.empty_cache()
            self.save_partial()

    def _stt(self, figures: dict[str, Any]) -> None:
        measure_stt(self.plan, figures, self.log, self.should_stop)

    def _tts(self, figures: dict[str, Any]) -> None:
        choice = TTS_ENGINES[self.engine_name]
        plan = self.plan
        options = TtsOptions(
            model="random weights, built in memory (benchmarks/gpu_check.py)",
            engine=choice.kind,
            device=plan.device,
            dtype=plan.tts_dtype,
            max_sentence_s=plan.max_sentence_s,
            max_concurrent=max(plan.concurrency),
        )
        figures |= {
            "engine": self.engine_name,
            "device": plan.device,
            "dtype": plan.tts_dtype,
            "max_sentence_s": plan.max_sentence_s,
            "options": asdict(options),
            "levels": [],
        }
        began = time.perf_counter()
        loaded = random_csm(plan)
        figures["parameters_m"] = _parameters_m(loaded.model)
        figures["codec_parameters_m"] = _parameters_m(loaded.model.codec_model)
        engine = choice.build(options, loaded)
        figures["build_s"] = round(time.perf_counter() - began, 2)
        self.log(f"tts: {figures['parameters_m']} M parameters built in {figures['build_s']} s")
        began = time.perf_counter()
        warm_up(engine)
        figures["warm_up_s"] = round(time.perf_counter() - began, 2)
        self.log(f"tts: warmed up in {figures['warm_up_s']} s")
        context: ContextTurn | None = None
        best_rate: dict[int, float] = {}  # concurrency -> frames/s in all
        for level in plan.levels():
            rate = max((r for c, r in best_rate.items() if c <= level.concurrency), default=None)
            expected = predicted_s(level, plan.sentence_frames(), rate)
            if self.should_stop() or expected > self.left_s():
                self.skip(
                    f"tts level {level.label}: predicted {expected:.1f} s, "
                    f"{max(0.0, self.left_s()):.1f} s left"
                )
                continue
            if level.context and context is None:
                self.skip(f"tts level {level.label}: no context audio (its first level made none)")
                continue
            turns = (context,) if level.context and context is not None else ()
            timings, audio, wall_s = run_level(engine, level, turns, self.should_stop)
            row = summarize_level(level, timings, wall_s)
            if self.should_stop():
                row["truncated"] = True  # the deadline (or a signal) stopped its requests
            figures["levels"].append(row)
            if row.get("frames_per_s_total"):
                best_rate[level.concurrency] = row["frames_per_s_total"]
            if context is None and audio.size:
                context = ContextTurn(PREVIOUS_TEXT, 0, audio)
                figures["context_audio_s"] = round(audio.size / engine.sample_rate, 2)
            self.log(
                f"tts: {level.label}: {row['requests']} requests in {wall_s:.1f} s, first audio "
                f"p50 {row.get('first_audio', {}).get('p50_ms')} ms, "
                f"RTF p50 {row.get('real_time_factor_p50')}, {row.get('frames_per_s_total')} frames/s"
            )
            self.save_partial()


def environment(device_name: str) -> dict[str, Any]:
    import torch
    import transformers

    device = torch.device(device_name)
    info: dict[str, Any] = {
        "device": device_name,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "numpy": np.__version__,
        "cuda_available": torch.cuda.is_available(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info |= {
            "gpu": props.name,
            "gpu_memory_gib": round(props.total_memory / 2**30, 1),
            "gpus": torch.cuda.device_count(),
            "capability": f"{props.major}.{props.minor}",
            "cuda": torch.version.cuda,
        }
    return info


def _parameters_m(module: Any) -> float:
    return round(float(sum(p.numel() for p in module.parameters())) / 1e6, 1)


def _dtype(name: str) -> torch.dtype:
    import torch

    dtype = getattr(torch, name)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"not a torch dtype: {name!r}")
    return dtype


def _synchronize(device: torch.device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


# -- TTS ----------------------------------------------------------------------------------------------
def random_csm(plan: CheckPlan) -> Any:
    """A ``LoadedCsm`` with random weights built on ``plan.device`` in ``plan.tts_dtype``: csm-1b's sizes
    (``CsmConfig()``'s defaults) or the tiny model's, token ids those of the byte-level tokenizer."""
    import torch
    import transformers

    from serving.tts.csm import LoadedCsm
    from serving.tts.tiny_csm import byte_level_processor, special_token_ids, tiny_csm_config

    library: Any = transformers
    processor = byte_level_processor()
    if plan.real_sizes:
        config = library.CsmConfig(**special_token_ids(processor.tokenizer))
    else:
        config = tiny_csm_config(processor.tokenizer)
    torch.manual_seed(0)
    with torch.device(plan.device):
        model = library.CsmForConditionalGeneration(config)
    model = model.to(_dtype(plan.tts_dtype)).eval()
    return LoadedCsm(processor, model)


def run_level(
    engine: TtsEngine,
    level: Level,
    context: tuple[ContextTurn, ...],
    should_stop: ShouldStop,
) -> tuple[list[TtsTiming], FloatArray, float]:
    """The level's timings, the first request's audio, and the level's wall time. The threads start
    together; each runs its share of the requests one after another."""
    requests = [
        TtsRequest(TTS_TEXTS[i % len(TTS_TEXTS)], 0, context if level.context else ())
        for i in range(level.requests)
    ]
    if not level.context:
        requests[0] = TtsRequest(PREVIOUS_TEXT)  # its audio becomes the later levels' context turn
    shares = [requests[i :: level.concurrency] for i in range(level.concurrency)]
    start = threading.Barrier(level.concurrency)

    def serve(share: list[TtsRequest]) -> list[tuple[TtsTiming, FloatArray]]:
        start.wait(BARRIER_TIMEOUT_S)
        return [timed_request(engine, request, should_stop) for request in share]

    began = time.perf_counter()
    with ThreadPoolExecutor(level.concurrency, thread_name_prefix="tts-check") as pool:
        results = [item for share in pool.map(serve, shares) for item in share]
    wall_s = time.perf_counter() - began
    return [timing for timing, _ in results], results[0][1], wall_s


def timed_request(
    engine: TtsEngine, request: TtsRequest, should_stop: ShouldStop
) -> tuple[TtsTiming, FloatArray]:
    """One request through the engine. Its timers are read once a chunk is in host memory (the
    engine's device-to-host copy waits for that request's kernels); a device-wide synchronize here
    would also wait for the other threads' requests."""
    frame_samples = round(engine.sample_rate * FRAME_S)
    began = time.perf_counter()
    first = math.nan
    parts: list[FloatArray] = []
    for chunk in engine.synthesize(request, should_stop):
        if not parts:
            first = time.perf_counter() - began
        parts.append(chunk.samples)
    total = time.perf_counter() - began
    audio = np.concatenate([np.zeros(0, np.float32), *parts])
    timing = TtsTiming(
        first_audio_s=first,
        total_s=total,
        audio_s=audio.size / engine.sample_rate,
        frames=audio.size // frame_samples,
        chunks=len(parts),
    )
    return timing, audio


# -- STT proxy ----------------------------------------------------------------------------------------
def whisper_config(real_sizes: bool) -> Any:
    """distil-large-v3's sizes (32 encoder layers, 2 decoder layers) or a tiny Whisper with the same
    mel bins and vocabulary."""
    import transformers

    library: Any = transformers
    ids = {
        "bos_token_id": 50257,
        "eos_token_id": 50257,
        "pad_token_id": 50256,
        "decoder_start_token_id": STT_PROMPT[0],
    }
    if real_sizes:
        sizes = {
            "d_model": 1280,
            "encoder_layers": 32,
            "decoder_layers": 2,
            "heads": 20,
            "ffn": 5120,
        }
    else:
        sizes = {"d_model": 64, "encoder_layers": 2, "decoder_layers": 2, "heads": 2, "ffn": 128}
    return library.WhisperConfig(
        vocab_size=WHISPER_VOCAB,
        num_mel_bins=WHISPER_MELS,
        d_model=sizes["d_model"],
        encoder_layers=sizes["encoder_layers"],
        decoder_layers=sizes["decoder_layers"],
        encoder_attention_heads=sizes["heads"],
        decoder_attention_heads=sizes["heads"],
        encoder_ffn_dim=sizes["ffn"],
        decoder_ffn_dim=sizes["ffn"],
        max_source_positions=1500,
        max_target_positions=448,
        **ids,
    )


def utterance(seconds: float, seed: int = 0) -> FloatArray:
    """A 16 kHz stand-in for speech (noise under a syllable-rate envelope): random weights do not
    care what is said, and the padded 30 s window costs the same whatever the length."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * STT_RATE)) / STT_RATE
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4.0 * t)
    samples: FloatArray = (0.1 * envelope * rng.standard_normal(t.size)).astype(np.float32)
    return samples


def measure_stt(
    plan: CheckPlan,
    figures: dict[str, Any],
    log: Callable[[str], None],
    should_stop: ShouldStop,
) -> None:
    import torch
    import transformers

    library: Any = transformers
    device = torch.device(plan.device)
    dtype = _dtype(plan.stt_dtype)
    figures |= {
        "sizes": "distil-large-v3" if plan.real_sizes else "tiny",
        "device": plan.device,
        "dtype": plan.stt_dtype,
        "audio_s": plan.stt_audio_s,
        "tokens": plan.stt_tokens,
    }
    config = whisper_config(plan.real_sizes)
    torch.manual_seed(0)
    began = time.perf_counter()
    with torch.device(device):
        model = library.WhisperForConditionalGeneration(config)
    model = model.to(dtype).eval()
    figures["parameters_m"] = _parameters_m(model)
    figures["build_s"] = round(time.perf_counter() - began, 2)
    log(f"stt: {figures['parameters_m']} M parameters built in {figures['build_s']} s")
    extractor = library.WhisperFeatureExtractor(feature_size=WHISPER_MELS)
    audio = utterance(plan.stt_audio_s)

    def features() -> torch.Tensor:
        mel = extractor(audio, sampling_rate=STT_RATE, return_tensors="np").input_features
        return torch.from_numpy(mel).to(device, dtype)

    features_s: list[float] = []
    encoder_s: list[float] = []
    decoder_s: list[float] = []
    with torch.inference_mode():
        _synchronize(device)
        began = time.perf_counter()
        first = model.model.encoder(input_features=features())
        _synchronize(device)
        figures["first_encoder_ms"] = round((time.perf_counter() - began) * 1000, 2)
        greedy_decode(model, first, plan.stt_tokens, device)  # the decoder's first-run costs
        for _ in range(plan.stt_repeats):
            if should_stop():
                break
            began = time.perf_counter()
            mel = features()
            _synchronize(device)
            encoded_at = time.perf_counter()
            encoded = model.model.encoder(input_features=mel)
            _synchronize(device)
            decoded_at = time.perf_counter()
            greedy_decode(model, encoded, plan.stt_tokens, device)
            _synchronize(device)
            features_s.append(encoded_at - began)
            encoder_s.append(decoded_at - encoded_at)
            decoder_s.append(time.perf_counter() - decoded_at)
    totals = [a + b + c for a, b, c in zip(features_s, encoder_s, decoder_s, strict=True)]
    if not totals:
        figures["error"] = "stopped by the time guard before the first timed pass"
        return
    figures |= {
        "features": percentiles_ms(features_s),
        "encoder": percentiles_ms(encoder_s),
        "decoder": percentiles_ms(decoder_s),
        "decoder_ms_per_token_p50": round(statistics.median(decoder_s) * 1000 / plan.stt_tokens, 3),
        "total": percentiles_ms(totals),
    }
    log(
        f"stt: encoder p50 {figures['encoder']['p50_ms']} ms, decoder "
        f"{figures['decoder_ms_per_token_p50']} ms/token, total p50 {figures['total']['p50_ms']} ms"
    )


def greedy_decode(model: Any, encoded: Any, tokens: int, device: torch.device) -> list[int]:
    """``tokens`` greedy tokens after the prompt, with the KV cache. End-of-text is not obeyed (random
    weights would end anywhere), but each token is read on the host as a decoder checking for it does."""
    import torch

    ids = torch.tensor([STT_PROMPT], dtype=torch.long, device=device)
    out = model(encoder_outputs=encoded, decoder_input_ids=ids, use_cache=True)
    generated: list[int] = []
    while True:
        next_id = out.logits[:, -1:].argmax(-1)
        generated.append(int(next_id))
        if len(generated) == tokens:
            return generated
        out = model(
            encoder_outputs=encoded,
            decoder_input_ids=next_id,
            past_key_values=out.past_key_values,
            use_cache=True,
        )


# -- command line -------------------------------------------------------------------------------------
def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _ints(text: str) -> tuple[int, ...]:
    values = tuple(int(v) for v in text.split(",") if v.strip())
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers like 1,4,8, got {text!r}")
    return values


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny configs on the CPU (seconds)")
    parser.add_argument(
        "--tts-engine", choices=sorted(TTS_ENGINES), default=TtsEngineKind.CSM.value
    )
    parser.add_argument("--phases", default="stt,tts", help="comma-separated: stt, tts")
    parser.add_argument("--device", help="e.g. cuda:1, or cpu for a real-size smoke run")
    parser.add_argument("--tts-dtype", help="default bfloat16 (production's)")
    parser.add_argument("--stt-dtype", help="default float16 (production's compute type)")
    parser.add_argument("--concurrency", type=_ints, help="TTS levels, e.g. 1,4,8")
    parser.add_argument("--solo-requests", type=_positive, help="TTS requests at concurrency 1")
    parser.add_argument("--max-sentence-s", type=float, help="each sentence's cap")
    parser.add_argument("--stt-tokens", type=_positive, help="tokens decoded per STT pass")
    parser.add_argument("--budget-s", type=float, help="the whole run's time budget")
    parser.add_argument("--commit", help="the commit measured, where the tree has no .git")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    return parser.parse_args(argv)


def plan_from(args: argparse.Namespace) -> CheckPlan:
    plan = TINY if args.tiny else FULL
    if args.device and plan.real_sizes and not args.device.startswith("cuda"):
        plan = replace(plan, name=args.device)  # a smoke run: results apart from the GPU's
    overrides = {
        "device": args.device,
        "tts_dtype": args.tts_dtype,
        "stt_dtype": args.stt_dtype,
        "concurrency": args.concurrency,
        "solo_requests": args.solo_requests,
        "max_sentence_s": args.max_sentence_s,
        "stt_tokens": args.stt_tokens,
        "budget_s": args.budget_s,
    }
    return replace(plan, **{k: v for k, v in overrides.items() if v is not None})


def main(argv: Sequence[str] | None = None) -> int:
    started = time.perf_counter()  # the budget counts torch's import too
    args = parse_args(argv)
    plan = plan_from(args)
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = set(phases) - {"stt", "tts"}
    if unknown:
        print(f"unknown phases: {sorted(unknown)}", file=sys.stderr)
        return 2
    hidden = hide_checkout_folders(CHECKOUT_FOLDERS_NOT_PACKAGES, PROJECT_ROOT)
    import torch
    import transformers

    library: Any = transformers  # untyped
    if plan.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device here: run on the GPU host, or with --tiny", file=sys.stderr)
        return 2
    check = Check(plan, args.tts_engine, args.results_dir, args.commit, started)
    if hidden:
        check.log(f"not importable as packages (checkout folders): {hidden}")

    def interrupted(signum: int, frame: FrameType | None) -> None:
        check.stop.set()  # running requests stop at their next frame
        raise KeyboardInterrupt

    previous_handlers = {
        signum: signal.signal(signum, interrupted) for signum in (signal.SIGTERM, signal.SIGINT)
    }
    verbosity = library.logging.get_verbosity()
    library.logging.set_verbosity_error()  # keep the output's tail to our lines
    try:
        check.run(phases)
    except KeyboardInterrupt:
        check.stop.set()
        check.figures["interrupted"] = True
        check.log("interrupted: writing what was measured")
    finally:
        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler)
        library.logging.set_verbosity(verbosity)
    path = check.finish()
    print(format_table(check.figures))
    print(f"results: {path}")
    return 0 if check.figures["complete"] else 1


if __name__ == "__main__":
    sys.exit(main())
