#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian machine with Python 3.11: system packages, .venv, project install.
# Sourced by scripts/demo.sh and scripts/test.sh; safe to run again (it skips what is already done).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# System packages: libpython3.11 (embedded by Triton's Python-backend stub), espeak-ng and sox (test
# speech), libb64-0d (perf_analyzer).
APT_PACKAGES=(libpython3.11 espeak-ng sox libb64-0d)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi

# Reinstall only when the dependency declarations change.
STAMP=.venv/.client-caller-installed
shopt -s nullglob
STEPS=(scripts/bootstrap.d/*.sh)
WANT="$(cat pyproject.toml scripts/bootstrap.sh scripts/requirements-*.txt "${STEPS[@]}" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  echo "bootstrap: installing Python packages into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  # torch first and pinned: 2.13.0 is the CPU wheel on this machine's disk; an unpinned torch, asked for
  # by any package, would pull a multi-GB CUDA build.
  .venv/bin/python -m pip install -q "torch==2.13.0"
  .venv/bin/python -m pip install -q -e ".[dev,speech,llm,bench]"
  # --no-deps: from nvidia-pytriton we use only the tritonserver 2.51 binary it ships (its numpy<2 pin
  # would constrain the models); silero-vad's ONNX file runs on onnxruntime without its torch dependency.
  .venv/bin/python -m pip install -q --no-deps "nvidia-pytriton==0.7.0" "silero-vad==6.2.3"
  # Per-area steps (e.g. torch's CPU wheel, model conversions), in name order.
  for step in "${STEPS[@]}"; do
    echo "bootstrap: $step"
    bash "$step"
  done
  echo "$WANT" >"$STAMP"
fi
