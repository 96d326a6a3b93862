"""The GPU memory plan: the LLM's share of the card present (vLLM's ``gpu_memory_utilization``), or a refusal.

All models share one GPU in one tritonserver. vLLM takes ``gpu_memory_utilization`` x the card's memory
up front (weights, activations, then KV cache from what is left of its share); Whisper (CTranslate2) and
CSM (PyTorch) allocate as they run. So the share must leave room for them, and the room vLLM keeps must
still hold a useful KV cache. :func:`plan` computes it from the card (its ``nvidia-smi`` total) and the
models this tritonserver loads, as configured (instances, ``num_workers``, ``max_concurrent``, precision,
``CC_MODEL_*`` overrides), with the per-model figures below (their arithmetic: docs/GPU_MEMORY.md, "The
arithmetic"); none of them is measured yet. The result is a share with the KV cache it leaves, or a
refusal naming the card it takes ("needs >= N GiB; this GPU has M GiB").

NGC's vLLM backend reads the share only from ``llm/1/model.json``, so the image's entrypoint
(triton/entrypoint.sh) runs ``python3 -m serving.gpu_memory_plan plan --gpu-mib N --output DIR``: on a
plan it writes a copy of the model repository with the planned share into DIR, which tritonserver then
loads; on a refusal it exits 1 before anything is downloaded or loaded. ``table`` prints the plan per
known card for docs/GPU_MEMORY.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serving.llm_engine_args import ENGINE_ARGS_FILE, load_model_json
from serving.model_parameters import env_override_name, read_options
from serving.stt_engine import SttOptions
from serving.tts.contract import TtsEngineKind, TtsOptions
from serving.weights import FASTER_WHISPER_SIZES, config_parameters

GIB = 1024**3
LLM_MODEL = "llm"
# The operator's share, over the plan: CC_MODEL_LLM_GPU_MEMORY_UTILIZATION.
SHARE_OVERRIDE_ENV = env_override_name(LLM_MODEL, "gpu_memory_utilization")
# The share is rounded down to this: a readable number that never exceeds the plan.
SHARE_STEP = 0.01

# --- the card ---------------------------------------------------------------------------------------
# nvidia-smi's total minus what CUDA reports as the device's capacity (torch's "total capacity", the
# total vLLM multiplies by the share): A100 80GB 80.00 -> 79.15 GiB, A100 40GB 40.00 -> 39.39-39.56,
# H200 140.40 -> 139.80 (public OOM messages). The largest gap seen, so the plan never counts on more.
DRIVER_RESERVED_GIB = 0.85

# --- the planned load (docs/GPU_MEMORY.md) ----------------------------------------------------------
PLANNED_CALLS = 10  # concurrent calls the deployment is sized for
# Tokens a call's prompt holds: the system prompt (~500) and a 5-minute call's history (~30 turns x 60).
CALL_PROMPT_TOKENS = 2_500
# CUDA contexts of the Python-backend stubs no budget below counts (the vLLM backend's own stub, VAD)
# and small allocations (cuBLAS workspaces, NCCL): the plan's "CUDA contexts, misc." row.
OTHER_PROCESSES_GIB = 2.0
# Left free beyond every budget: fragmentation and peaks of the unmeasured estimates.
HEADROOM_MIN_GIB = 2.0


@dataclass(frozen=True)
class LlmFigures:
    """What one LLM checkpoint costs in vLLM, besides its KV cache."""

    weights_gib: float
    activations_gib: float  # activations, CUDA graphs, sampler: what vLLM's start-up profile takes
    full_attention_layers: int
    sliding_window_layers: int
    sliding_window: int  # tokens a sliding-window layer keeps (vLLM's hybrid KV-cache manager)
    kv_bytes_per_token_layer: int  # K and V x KV heads x head size x bytes
    native_max_model_len: int  # vLLM's max_model_len when model.json sets none


# Gemma 3 27B IT, INT4 AWQ of Google's QAT weights: 25.6 B quantized parameters at 4.625 bits + bf16
# embedding and vision tower = 17.2 GiB; 62 layers, 10 global and 52 with a 1024-token window, 16 KV
# heads x 128 x 2 (K, V) x 2 bytes = 8 KiB per token and layer (docs/GPU_MEMORY.md).
GEMMA3_27B_INT4 = LlmFigures(
    weights_gib=17.2,
    activations_gib=3.5,
    full_attention_layers=10,
    sliding_window_layers=52,
    sliding_window=1024,
    kv_bytes_per_token_layer=8 * 1024,
    native_max_model_len=131_072,
)
LLM_FIGURES: dict[str, LlmFigures] = {"gaunernst/gemma-3-27b-it-int4-awq": GEMMA3_27B_INT4}
VLLM_DEFAULT_MAX_NUM_SEQS = 256  # vLLM's engine default when model.json sets none

# Whisper (CTranslate2): parameters per faster-whisper size; a model not listed counts as large.
WHISPER_PARAMETERS: dict[str, float] = {
    "tiny": 39e6,
    "base": 74e6,
    "small": 244e6,
    "medium": 769e6,
    "large": 1_550e6,
    "distil-small": 166e6,
    "distil-medium": 394e6,
    "distil-large": 756e6,  # v2, v3, v3.5: 32 encoder layers, 2 decoder layers, width 1280
    "turbo": 809e6,  # large-v3-turbo: 4 decoder layers
}
# Bytes per parameter by CTranslate2 compute type; int8 types keep fp16/fp32 scales and some layers
# (distil-large-v3 int8_float16: 0.8 GB for 756 M parameters).
WHISPER_BYTES_PER_PARAMETER = {"float32": 4.0, "float16": 2.0, "bfloat16": 2.0, "int8": 1.06}
WHISPER_WORKER_ACTIVATIONS_GIB = 0.19  # one 30 s window in flight (~0.2 GB), per num_workers
WHISPER_CUDA_CONTEXT_GIB = 0.5  # per instance (a Python-backend process)
# CTranslate2's caching allocator keeps freed blocks: brings distil-large-v3 float16 with 4 workers to
# the plan's 3 GiB.
WHISPER_ALLOCATOR_GIB = 0.35

# CSM-1B (PyTorch): 1.55 B parameters (Llama-3.2-1B-sized backbone, 100 M audio decoder, codebook
# embeddings and heads) + the Mimi codec (0.16 GB).
CSM_PARAMETERS = 1.55e9
MIMI_GIB = 0.16e9 / GIB
CSM_BYTES_PER_PARAMETER = {"bfloat16": 2.0, "float16": 2.0, "float32": 4.0}
CSM_CUDA_CONTEXT_GIB = 0.6  # per instance, with PyTorch's kernels loaded
# csm_generate (transformers' generate), per request synthesised at once: backbone KV for ~2 000 tokens
# of context (64 MiB), the depth decoder's, activations and the caching allocator's slack: ~4.5 GiB per
# instance at max_concurrent 2.
CSM_STREAM_GIB = 0.45
# csm (our frame loop, serving/tts/csm_frame_step.py), per slot (max_concurrent): its static backbone
# KV cache, 16 layers x 2 x 8 KV heads x 64 x 2 bytes = 32 KiB per position x max_positions (1 024:
# 32 MiB), and Mimi's stream (ring KV and convolution state, ~4 MiB).
CSM_SLOT_KV_GIB_PER_POSITION = 32 / 1024**2
MIMI_STREAM_GIB = 4 / 1024
# ... per instance: the step's temporaries at 16 slots (attention over 1 024 positions, ~0.15 GiB),
# the CUDA graphs' shared pool, a long prompt's prefill and the caching allocator's slack.
CSM_FRAME_LOOP_GIB = 0.5


# --- what the repository asks for -------------------------------------------------------------------


@dataclass(frozen=True)
class ModelBudget:
    """A model's GPU memory outside vLLM's share (0 for one on the CPU)."""

    model: str
    gib: float
    detail: str  # how it was counted, for the log


@dataclass(frozen=True)
class LlmDemand:
    """The ``llm`` model as ``model.json`` configures it."""

    model_id: str
    figures: LlmFigures | None  # None: a checkpoint this module has no figures for
    max_model_len: int
    max_num_seqs: int
    configured_share: float | None  # model.json's gpu_memory_utilization


@dataclass(frozen=True)
class Demand:
    """Everything one tritonserver loads: the Python-backend models' budgets and the LLM, if loaded."""

    budgets: tuple[ModelBudget, ...]
    llm: LlmDemand | None


def whisper_gib(options: SttOptions, instances: int) -> ModelBudget:
    """The ``stt`` model's budget: weights at its compute type, per instance, plus per worker."""
    if options.device.startswith("cpu"):
        return ModelBudget("stt", 0.0, f"{options.model} on the CPU")
    parameters = WHISPER_PARAMETERS[whisper_size(options.model)]
    compute = options.compute_type.lower()
    bytes_per = WHISPER_BYTES_PER_PARAMETER.get(
        "int8" if compute.startswith("int8") else compute, 2.0
    )
    workers = max(1, options.num_workers)
    one = (
        parameters * bytes_per / GIB
        + workers * WHISPER_WORKER_ACTIVATIONS_GIB
        + WHISPER_CUDA_CONTEXT_GIB
        + WHISPER_ALLOCATOR_GIB
    )
    detail = f"{options.model} {options.compute_type}, {instances} x num_workers {workers}"
    return ModelBudget("stt", instances * one, detail)


_SIZES_BY_SPECIFICITY = (
    "distil-small",
    "distil-medium",
    "distil-large",
    "tiny",
    "base",
    "small",
    "medium",
)


def whisper_size(model: str) -> str:
    """``distil-large-v3``, ``Systran/faster-whisper-small.en``, a folder -> a key of WHISPER_PARAMETERS."""
    names = {repo: size for size, repo in FASTER_WHISPER_SIZES.items()}
    name = names.get(model, model).lower().rsplit("/", 1)[-1].removesuffix(".en")
    if "turbo" in name:
        return "turbo"
    for size in _SIZES_BY_SPECIFICITY:
        if size in name:
            return size
    return "large"  # large-v1..v3, or unknown: the largest


def csm_gib(options: TtsOptions, instances: int) -> ModelBudget:
    """The ``tts`` model's budget; any CSM checkpoint counts as CSM-1B (the only size there is), Piper
    runs on the CPU."""
    csm = options.engine in (TtsEngineKind.CSM, TtsEngineKind.CSM_GENERATE)
    if not csm or options.device.startswith("cpu"):
        return ModelBudget("tts", 0.0, f"{options.engine.value} on the CPU")
    weights = CSM_PARAMETERS * CSM_BYTES_PER_PARAMETER.get(options.dtype, 4.0) / GIB + MIMI_GIB
    streams = max(1, options.max_concurrent)
    one = weights + CSM_CUDA_CONTEXT_GIB
    if options.engine is TtsEngineKind.CSM:
        slot = options.max_positions * CSM_SLOT_KV_GIB_PER_POSITION + MIMI_STREAM_GIB
        one += CSM_FRAME_LOOP_GIB + streams * slot
        detail = f"CSM {options.dtype}, {instances} x {streams} slots"
    else:
        one += streams * CSM_STREAM_GIB
        detail = f"CSM generate {options.dtype}, {instances} x max_concurrent {streams}"
    return ModelBudget("tts", instances * one, detail)


def llm_demand(engine_args: Mapping[str, Any]) -> LlmDemand:
    model_id = str(engine_args.get("model", ""))
    figures = LLM_FIGURES.get(model_id)
    native = figures.native_max_model_len if figures else 0
    share = engine_args.get("gpu_memory_utilization")
    return LlmDemand(
        model_id=model_id,
        figures=figures,
        max_model_len=int(engine_args.get("max_model_len") or native),
        max_num_seqs=int(engine_args.get("max_num_seqs") or VLLM_DEFAULT_MAX_NUM_SEQS),
        configured_share=None if share is None else float(share),
    )


# --- the plan (pure) --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gpu:
    total_mib: int  # nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits
    name: str = "this GPU"

    @property
    def total_gib(self) -> float:
        return self.total_mib / 1024

    @property
    def cuda_gib(self) -> float:
        """What CUDA (and so vLLM's share) counts as the card's memory."""
        return self.total_gib - DRIVER_RESERVED_GIB


@dataclass(frozen=True)
class MemoryPlan:
    gpu: Gpu
    budgets: tuple[ModelBudget, ...]
    share: float | None  # the llm's gpu_memory_utilization; None: no llm loaded
    kv_cache_gib: float | None  # what the share leaves vLLM for its KV cache; None: not known
    min_kv_cache_gib: float | None
    headroom_gib: float  # the card's memory no budget claims
    how: str  # "planned", "override", "kept" (no figures for this LLM), "no llm"
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Refusal:
    gpu: Gpu
    needed_gib: float  # nvidia-smi total the configuration needs
    message: str


def kv_gib(figures: LlmFigures, tokens: int) -> float:
    """KV cache of one sequence of ``tokens``: global layers keep all, sliding-window layers the window."""
    kept = figures.full_attention_layers * tokens + figures.sliding_window_layers * min(
        tokens, figures.sliding_window
    )
    return kept * figures.kv_bytes_per_token_layer / GIB


def min_kv_cache_gib(llm: LlmDemand, figures: LlmFigures) -> float:
    """The least KV cache worth starting with: every planned call's prompt at once, and at least one
    ``max_model_len`` sequence (vLLM refuses to start below that)."""
    return max(
        PLANNED_CALLS * kv_gib(figures, CALL_PROMPT_TOKENS), kv_gib(figures, llm.max_model_len)
    )


def target_kv_cache_gib(llm: LlmDemand, figures: LlmFigures) -> float:
    """The KV cache the plan gives when the card has room: every sequence vLLM runs at once
    (``max_num_seqs``) holding a call's prompt; more would sit idle for 10 calls."""
    return max(
        min_kv_cache_gib(llm, figures), llm.max_num_seqs * kv_gib(figures, CALL_PROMPT_TOKENS)
    )


def plan(gpu: Gpu, demand: Demand, share_override: float | None = None) -> MemoryPlan | Refusal:
    """vLLM's share of ``gpu`` for ``demand``, or a refusal naming the card it needs.

    With ``share_override`` (the operator's) that share is used as given, on any card; the plan only
    warns when it leaves too little KV cache or headroom.
    """
    if share_override is not None and not 0.0 < share_override <= 1.0:
        raise ValueError(f"{SHARE_OVERRIDE_ENV}={share_override}: must be in (0, 1]")
    others = sum(b.gib for b in demand.budgets)
    if others > 0 or demand.llm is not None:
        others += OTHER_PROCESSES_GIB
    llm = demand.llm
    if llm is None or llm.figures is None:
        return _plan_unsized_llm(gpu, demand, others, share_override)
    figures = llm.figures
    fixed = figures.weights_gib + figures.activations_gib
    min_kv = min_kv_cache_gib(llm, figures)
    if share_override is not None:
        share, how = share_override, "override"
    else:
        # Rounding the share down costs up to SHARE_STEP of the card: a card this big always fits.
        needed = (DRIVER_RESERVED_GIB + others + HEADROOM_MIN_GIB + fixed + min_kv) * (
            1 + SHARE_STEP
        )
        room = gpu.cuda_gib - others - HEADROOM_MIN_GIB - fixed
        kv_wanted = min(room, target_kv_cache_gib(llm, figures))
        share = math.floor((fixed + kv_wanted) / gpu.cuda_gib / SHARE_STEP) * SHARE_STEP
        share, how = round(share, 2), "planned"
        if share * gpu.cuda_gib - fixed < min_kv:
            return refusal(gpu, needed, demand)
    kv = share * gpu.cuda_gib - fixed
    headroom = gpu.cuda_gib - others - share * gpu.cuda_gib
    warnings = []
    if kv < min_kv:
        warnings.append(
            f"{SHARE_OVERRIDE_ENV}={share} leaves {kv:.1f} GiB of KV cache, under the "
            f"{min_kv:.1f} GiB for {PLANNED_CALLS} calls"
        )
    if headroom < HEADROOM_MIN_GIB:
        warnings.append(
            f"{SHARE_OVERRIDE_ENV}={share} leaves {headroom:.1f} GiB beyond the other models' "
            f"budgets (plan: >= {HEADROOM_MIN_GIB:.1f}): they may run out of memory"
        )
    return MemoryPlan(gpu, demand.budgets, share, kv, min_kv, headroom, how, tuple(warnings))


def _plan_unsized_llm(
    gpu: Gpu, demand: Demand, others: float, share_override: float | None
) -> MemoryPlan | Refusal:
    """No llm loaded, or one without figures: its share stays as configured (or overridden)."""
    llm = demand.llm
    if share_override is None and llm is None and others > 0:
        needed = DRIVER_RESERVED_GIB + others + HEADROOM_MIN_GIB
        if needed > gpu.total_gib:
            return refusal(gpu, needed, demand)
    if llm is None:
        return MemoryPlan(gpu, demand.budgets, None, None, None, gpu.cuda_gib - others, "no llm")
    share = share_override if share_override is not None else llm.configured_share
    how = "override" if share_override is not None else "kept"
    note = (
        f"no memory figures for the LLM {llm.model_id!r} (serving/gpu_memory_plan.py): "
        f"gpu_memory_utilization {share} as configured, not planned"
    )
    headroom = gpu.cuda_gib - others - (share or 0.0) * gpu.cuda_gib
    return MemoryPlan(gpu, demand.budgets, share, None, None, headroom, how, (note,))


def refusal(gpu: Gpu, needed_gib: float, demand: Demand) -> Refusal:
    models = [b.model for b in demand.budgets if b.gib > 0] + (["llm"] if demand.llm else [])
    needed = math.ceil(needed_gib * 10) / 10
    message = (
        f"needs >= {needed:.1f} GiB of GPU memory (nvidia-smi >= {math.ceil(needed * 1024)} MiB) "
        f"for {', '.join(models)} as configured; {gpu.name} has {gpu.total_gib:.1f} GiB "
        f"({gpu.total_mib} MiB). Use a larger card, load fewer models on this one "
        f"(CC_TRITON_MODELS), or set {SHARE_OVERRIDE_ENV} to start anyway (docs/GPU_MEMORY.md)"
    )
    return Refusal(gpu, needed_gib, message)


def describe(result: MemoryPlan | Refusal) -> list[str]:
    """The plan as log lines."""
    if isinstance(result, Refusal):
        return [f"cannot start: {result.message}"]
    gpu = result.gpu
    lines = [
        f"{gpu.name}: {gpu.total_gib:.1f} GiB ({gpu.total_mib} MiB), {gpu.cuda_gib:.1f} GiB to CUDA"
    ]
    lines += [f"{b.model}: {b.gib:.1f} GiB ({b.detail})" for b in result.budgets]
    if result.share is not None:
        kv = "" if result.kv_cache_gib is None else f", KV cache {result.kv_cache_gib:.1f} GiB"
        minimum = "" if result.min_kv_cache_gib is None else f" (min {result.min_kv_cache_gib:.1f})"
        lines.append(f"llm: gpu_memory_utilization {result.share:.2f} ({result.how}){kv}{minimum}")
    lines.append(f"headroom: {result.headroom_gib:.1f} GiB")
    return lines + [f"WARNING: {w}" for w in result.warnings]


# --- known cards, for the table in docs/GPU_MEMORY.md ----------------------------------------------
# nvidia-smi's memory.total: modal-labs/modal-client PR #2797 lists A10 23028, L4 23034, A100 40GB 40960,
# L40S 46068, A100 80GB 81920, H100 81559 MiB (also NVML's 24146608128 bytes for an A10); RTX 4090 24564
# and H200 143771 MiB from public nvidia-smi outputs (e.g. RLinf/RLinf issue #255 for the 4090).
KNOWN_GPUS = (
    Gpu(23_028, "A10 24GB"),
    Gpu(23_034, "L4 24GB"),
    Gpu(24_564, "RTX 4090 24GB"),
    Gpu(40_960, "A100 40GB"),
    Gpu(46_068, "L40S 48GB"),
    Gpu(81_920, "A100 80GB"),
    Gpu(81_559, "H100 80GB"),
    Gpu(143_771, "H200 141GB"),
)


def table(demand: Demand) -> str:
    """docs/GPU_MEMORY.md's table: the plan for ``demand`` on each of KNOWN_GPUS."""
    rows = [
        "| card | nvidia-smi MiB | start | `gpu_memory_utilization` | KV cache GiB "
        "| `max_model_len` sequences | headroom GiB |",
        "|---|---|---|---|---|---|---|",
    ]
    llm = demand.llm
    for gpu in KNOWN_GPUS:
        result = plan(gpu, demand)
        if isinstance(result, Refusal):
            needed = math.ceil(result.needed_gib * 10) / 10
            cells = [f"refused: needs >= {needed:.1f} GiB", "", "", "", ""]
        else:
            kv = result.kv_cache_gib
            figures = llm.figures if llm is not None else None
            sequences = (
                f"{kv / kv_gib(figures, llm.max_model_len):.1f}"
                if kv is not None and figures is not None and llm is not None
                else ""
            )
            cells = [
                result.how,
                "" if result.share is None else f"{result.share:.2f}",
                "" if kv is None else f"{kv:.1f}",
                sequences,
                f"{result.headroom_gib:.1f}",
            ]
        rows.append(f"| {gpu.name} | {gpu.total_mib} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


# --- reading the repository, writing the planned copy (the shell) ----------------------------------

_INSTANCE_COUNT = re.compile(r"\bcount\s*:\s*(\d+)")


def instance_count(config_text: str) -> int:
    """Instances of a model (sum over its ``instance_group`` entries; Triton's default is 1)."""
    text = "\n".join(line.split("#", 1)[0] for line in config_text.splitlines())
    match = re.search(r"instance_group\s*\[(.*?)\]", text, re.S)
    counts = [int(c) for c in _INSTANCE_COUNT.findall(match.group(1))] if match else []
    return sum(counts) or 1


def triton_config(name: str, config_text: str) -> dict[str, Any]:
    """The parts of Triton's parsed config that read_options reads."""
    parameters = config_parameters(config_text)
    return {"name": name, "parameters": {k: {"string_value": v} for k, v in parameters.items()}}


def read_demand(
    model_repository: Path, models: Iterable[str] | None, environ: Mapping[str, str]
) -> Demand:
    """What ``models`` (default: every model in the repository) cost, as configured there and by
    ``CC_MODEL_*`` in ``environ``."""
    names = sorted(models) if models else sorted(p.name for p in model_repository.iterdir())
    budgets: list[ModelBudget] = []
    llm: LlmDemand | None = None
    for name in names:
        model_dir = model_repository / name
        config_file = model_dir / "config.pbtxt"
        if not config_file.is_file():
            continue
        text = config_file.read_text()
        if name == LLM_MODEL:
            llm = llm_demand(load_model_json(model_dir / "1"))
        elif name == "stt":
            options = read_options(triton_config(name, text), SttOptions, environ)
            budgets.append(whisper_gib(options, instance_count(text)))
        elif name == "tts":
            tts = read_options(triton_config(name, text), TtsOptions, environ)
            budgets.append(csm_gib(tts, instance_count(text)))
    return Demand(tuple(budgets), llm)


def write_planned_repository(source: Path, output: Path, share: float | None) -> None:
    """``source`` copied to ``output`` (replaced), the llm's model.json with ``share``.

    A copy, not an edit: the image's repository (or a developer's checkout, or a read-only mount)
    stays as built, and every start plans again from it.
    """
    if output.exists():
        shutil.rmtree(output)
    shutil.copytree(source, output, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    engine_args_file = output / LLM_MODEL / "1" / ENGINE_ARGS_FILE
    if share is not None and engine_args_file.is_file():
        engine_args = load_model_json(engine_args_file.parent)
        engine_args["gpu_memory_utilization"] = share
        engine_args_file.write_text(json.dumps(engine_args, indent=2) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m serving.gpu_memory_plan", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    plan_parser = commands.add_parser("plan", help="the plan for one card (exit 1: refused)")
    plan_parser.add_argument("--gpu-mib", type=int, required=True, help="nvidia-smi memory.total")
    plan_parser.add_argument("--gpu-name", default="this GPU")
    plan_parser.add_argument(
        "--output", type=Path, help="write the planned copy of the model repository here"
    )
    table_parser = commands.add_parser("table", help="docs/GPU_MEMORY.md's table per known card")
    for sub in (plan_parser, table_parser):
        sub.add_argument("--model-repository", type=Path, default=Path("model_repository"))
    args = parser.parse_args(argv)
    if args.command == "table":
        # The repository as committed: no CC_MODEL_* of this shell, every model.
        print(table(read_demand(args.model_repository, None, {})), end="")
        return 0
    environ = os.environ
    models = environ.get("CC_TRITON_MODELS", "").split() or None
    override = environ.get(SHARE_OVERRIDE_ENV, "").strip()
    gpu = Gpu(args.gpu_mib, args.gpu_name.strip() or "this GPU")
    try:
        share_override = float(override) if override else None
    except ValueError:
        print(
            f"gpu memory plan: {SHARE_OVERRIDE_ENV}={override!r} is not a number", file=sys.stderr
        )
        return 1
    try:
        # A setting the models themselves would refuse (read_options), or an override out of range.
        result = plan(gpu, read_demand(args.model_repository, models, environ), share_override)
    except ValueError as exc:
        print(f"gpu memory plan: {exc}", file=sys.stderr)
        return 1
    for line in describe(result):
        print(
            f"gpu memory plan: {line}",
            file=sys.stderr if isinstance(result, Refusal) else sys.stdout,
        )
    if isinstance(result, Refusal):
        return 1
    if args.output is not None:
        write_planned_repository(args.model_repository, args.output, result.share)
        print(f"gpu memory plan: model repository with this share: {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
