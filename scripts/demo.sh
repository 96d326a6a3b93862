#!/usr/bin/env bash
# The main command: set up what is missing, then run the CPU demo (Triton + our models on this machine).
# Extra arguments go to the demo (e.g. `bash scripts/demo.sh --wav caller.wav`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
exec .venv/bin/python -m callsim.demo "$@"
