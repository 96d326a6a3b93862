#!/usr/bin/env bash
# The prepared GPU check in one command, for a bare CUDA host (torch + transformers, this checkout):
#   bash benchmarks/gpu_check.sh [--tiny] [--tts-engine csm] [--commit SHA] ...   (benchmarks/gpu_check.py)
# Its own time guard ends it within its budget (450 s); `timeout` is the backstop at 8 minutes (SIGTERM:
# it still writes what it measured). With $OUT set (the device runner's return folder) the result files
# this run wrote are copied there. Python: $PYTHON, else the checkout's .venv, else python3.
set -uo pipefail
cd "$(dirname "$0")/.."
if [[ -n "${PYTHON:-}" ]]; then
  python="$PYTHON"
elif [[ -x .venv/bin/python ]]; then
  python=.venv/bin/python
else
  python=python3
fi
started=$(mktemp)
timeout -k 20 480 "$python" -m benchmarks.gpu_check "$@"
status=$?
if [[ -n "${OUT:-}" ]]; then
  find benchmarks/results -maxdepth 1 -name 'gpu_check*.json' -newer "$started" \
    -exec cp {} "$OUT"/ \;
fi
rm -f "$started"
exit "$status"
