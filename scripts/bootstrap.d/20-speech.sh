#!/usr/bin/env bash
# Speech models' CPU profile: Piper's voice for the tts model (engine=piper). piper-tts is GPL-3.0, so
# it is an optional extra of its own, installed here rather than with the Apache-2.0 project's extras.
# torch is pinned so that nothing here can replace the CPU wheel with a CUDA build. Idempotent.
set -euo pipefail
# pip_install: bootstrap.sh's quiet pip install (plain pip when this step runs on its own).
type pip_install >/dev/null 2>&1 || pip_install() { .venv/bin/python -m pip install "$@"; }
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
pip_install "torch==2.13.0" "numpy<2" -e ".[piper-voice]"
# PyPI's torchvision/torchaudio builds break transformers' model imports beside the CPU torch.
.venv/bin/python -m pip uninstall -y torchvision torchaudio 2>/dev/null || true
