#!/usr/bin/env bash
# Run inside a started pod or container (RunPod: Connect -> web terminal; Docker: docker exec -it <name>
# client-caller-smoke): checks readiness, one TTS chunk, one transcription, one LLM answer and one
# simulated Twilio call through the orchestrator, each with its latency, and names what is broken.
# Exit status 0 when all passed. Extra arguments go to callsim/smoke_test.py (e.g. --timeout-s 300).
#
# The call is dialled at the orchestrator's public address (CC_PUBLIC_BASE_URL, set on RunPod by the
# entrypoint), the way Twilio reaches it, and signed with CC_TWILIO_AUTH_TOKEN like Twilio's requests.
set -euo pipefail
PYTHON="${CC_ORCHESTRATOR_PYTHON:-/opt/orchestrator-venv/bin/python}"
if [ -z "${CC_PUBLIC_BASE_URL:-}" ] && [ -n "${RUNPOD_POD_ID:-}" ]; then
  CC_PUBLIC_BASE_URL="https://${RUNPOD_POD_ID}-${CC_ORCHESTRATOR_PORT:-8080}.proxy.runpod.net"
fi
export CC_TRITON_URL="${CC_TRITON_URL:-127.0.0.1:${CC_TRITON_GRPC_PORT:-8001}}"
exec "$PYTHON" -m callsim.smoke_test \
  --orchestrator "${CC_PUBLIC_BASE_URL:-http://127.0.0.1:${CC_ORCHESTRATOR_PORT:-8080}}" "$@"
