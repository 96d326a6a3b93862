#!/usr/bin/env bash
# The test command: set up what is missing, lint and type-check, then run every test.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -m unit`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
PY=.venv/bin/python

echo "== ruff"
$PY -m ruff check .
$PY -m ruff format --check .
echo "== mypy"
$PY -m mypy
echo "== import fences"
.venv/bin/lint-imports --no-cache
echo "== pytest"
set +e
$PY -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests" >&2
fi
exit "$status"
