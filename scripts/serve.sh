#!/usr/bin/env bash
# Real phone calls to this machine's CPU: tritonserver with the CPU profile and the orchestrator with the CPU
# profile's settings (serving/cpu_orchestrator.env), for Twilio. Your Twilio settings go in .env (they override
# the profile): CC_TWILIO_AUTH_TOKEN, CC_PUBLIC_BASE_URL (your tunnel's https URL); see README "A real call from
# your laptop". Ports: CC_SERVE_PORT (orchestrator, 8080), CC_SERVE_GRPC_PORT / _HTTP_PORT / _METRICS_PORT
# (tritonserver, 8001 / 8000 / 8002). Ctrl-C stops both.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"

PORT="${CC_SERVE_PORT:-8080}"
GRPC_PORT="${CC_SERVE_GRPC_PORT:-8001}"
HTTP_PORT="${CC_SERVE_HTTP_PORT:-8000}"
METRICS_PORT="${CC_SERVE_METRICS_PORT:-8002}"
READY_TIMEOUT_S="${CC_SERVE_READY_TIMEOUT_S:-900}"

log() { echo "serve: $*"; }

TRITON_PID=""
ORCHESTRATOR_PID=""
stop() {
  trap - EXIT INT TERM
  [ -n "$ORCHESTRATOR_PID" ] && kill -TERM "$ORCHESTRATOR_PID" 2>/dev/null || true
  [ -n "$TRITON_PID" ] && kill -TERM "$TRITON_PID" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap stop EXIT INT TERM

log "starting tritonserver with the CPU profile (first start: ~1 min to load and warm up the models)"
.venv/bin/python -m serving --profile cpu \
  --grpc-port "$GRPC_PORT" --http-port "$HTTP_PORT" --metrics-port "$METRICS_PORT" &
TRITON_PID=$!
started=$(date +%s)
until curl -fsS "http://127.0.0.1:$HTTP_PORT/v2/health/ready" >/dev/null 2>&1; do
  kill -0 "$TRITON_PID" 2>/dev/null || { log "tritonserver exited during start-up"; exit 1; }
  if [ $(( $(date +%s) - started )) -ge "$READY_TIMEOUT_S" ]; then
    log "tritonserver not ready after ${READY_TIMEOUT_S} s"
    exit 1
  fi
  sleep 1
done
log "tritonserver ready in $(( $(date +%s) - started )) s; starting the orchestrator on :$PORT"

CC_SETTINGS_FILE="$ROOT/serving/cpu_orchestrator.env" CC_TRITON_URL="127.0.0.1:$GRPC_PORT" \
  .venv/bin/python -m uvicorn orchestrator.app:app_from_env --factory \
  --host 0.0.0.0 --port "$PORT" --ws-max-size 131072 &
ORCHESTRATOR_PID=$!
log "up: http://127.0.0.1:$PORT/readyz turns 200 once the orchestrator has warmed up; Ctrl-C stops"
# Either process ending ends both.
wait -n "$TRITON_PID" "$ORCHESTRATOR_PID" || true
log "a process exited; stopping"
