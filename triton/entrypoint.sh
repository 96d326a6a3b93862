#!/usr/bin/env bash
# Entrypoint of the Client Caller image (triton/Dockerfile). One role per container:
#   all            fetch weights once, start tritonserver, then the orchestrator (RunPod, one GPU)
#   triton         fetch weights once, start tritonserver alone (Kubernetes Triton Deployment)
#   orchestrator   the orchestrator alone, talking to CC_TRITON_URL (Kubernetes orchestrator Deployment)
#   fetch-weights  only fetch the weights into $HF_HOME (a volume), then exit
#   drain          stop taking calls and wait until the live ones end (Kubernetes preStop hook)
#   health         exit 0 when this container's servers are ready (Docker HEALTHCHECK)
# Any other arguments run as a command (e.g. `bash`).
#
# Settings (environment): HF_TOKEN (read by huggingface_hub, never printed), HF_HOME (default
# /workspace/huggingface), CC_FETCH_WEIGHTS=0 to skip the fetch, CC_TRITON_MODELS (space-separated: load only
# these), CC_TRITON_GRPC_ADDRESS (default 127.0.0.1 for `all`, 0.0.0.0 for `triton`), CC_ORCHESTRATOR_PORT
# (8080), CC_ORCHESTRATOR_APP (uvicorn factory, orchestrator.app:app_from_env), CC_DRAIN_TIMEOUT_S (600),
# CC_TRITON_START_TIMEOUT_S (1800), CC_TRITON_GRPC_MAX_CONNECTION_AGE_MS (60000), TRITONSERVER_BIN and
# TRITONSERVER_BACKENDS (default: the image's tritonserver and /opt/tritonserver/backends), CC_RUN_DIR
# (/tmp/client-caller: the planned model repository), CC_MODEL_LLM_GPU_MEMORY_UTILIZATION (the LLM's share
# of the GPU instead of the plan's). Model settings: CC_MODEL_<MODEL>_<KEY> (serving/model_parameters.py);
# orchestrator settings: CC_* (orchestrator/settings.py).
set -euo pipefail

APP_DIR="${CC_APP_DIR:-/opt/client-caller}"
MODEL_REPOSITORY="${CC_MODEL_REPOSITORY:-$APP_DIR/model_repository}"
ORCHESTRATOR_PYTHON="${CC_ORCHESTRATOR_PYTHON:-/opt/orchestrator-venv/bin/python}"
export HF_HOME="${HF_HOME:-/workspace/huggingface}"
HTTP_PORT="${CC_TRITON_HTTP_PORT:-8000}"
GRPC_PORT="${CC_TRITON_GRPC_PORT:-8001}"
METRICS_PORT="${CC_TRITON_METRICS_PORT:-8002}"
ORCHESTRATOR_PORT="${CC_ORCHESTRATOR_PORT:-8080}"
ORCHESTRATOR_APP="${CC_ORCHESTRATOR_APP:-orchestrator.app:app_from_env}"
DRAIN_TIMEOUT_S="${CC_DRAIN_TIMEOUT_S:-600}"
RUN_DIR="${CC_RUN_DIR:-/tmp/client-caller}"
TRITON_START_TIMEOUT_S="${CC_TRITON_START_TIMEOUT_S:-1800}"

TRITON_PID=""
ORCHESTRATOR_PID=""

log() { echo "[client-caller] $*" >&2; }

fetch_weights() {
  if [ "${CC_FETCH_WEIGHTS:-1}" = "0" ]; then
    log "CC_FETCH_WEIGHTS=0: using the weights already in $HF_HOME"
    return
  fi
  mkdir -p "$HF_HOME"
  log "fetching weights into $HF_HOME (skipped when already complete)"
  python3 -m serving.weights fetch --model-repository "$MODEL_REPOSITORY"
}

# The LLM's share of the GPU (gpu_memory_utilization), planned from the card present and the models this
# tritonserver loads (serving/gpu_memory_plan.py, docs/GPU_MEMORY.md). NGC's vLLM backend reads it only
# from llm/1/model.json, so the plan writes a copy of the model repository under $RUN_DIR with it, and
# tritonserver loads that copy (the image's repository, or a mounted one, stays as built). A card too
# small for the models stops the start here, before any download. No nvidia-smi (CPU): nothing to plan.
plan_gpu_memory() {
  local smi gpu_name gpu_mib
  if ! command -v nvidia-smi >/dev/null 2>&1; then
    log "no nvidia-smi: no GPU memory plan (model repository as it is)"
    return
  fi
  if ! smi="$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits)" || [ -z "$smi" ]; then
    log "WARNING: nvidia-smi lists no GPU: no GPU memory plan (model repository as it is)"
    return
  fi
  # The models all use the first GPU (cuda:0): plan for it.
  IFS=, read -r gpu_name gpu_mib <<<"${smi%%$'\n'*}"
  python3 -m serving.gpu_memory_plan plan --gpu-name "$gpu_name" --gpu-mib "${gpu_mib// /}" \
    --model-repository "$MODEL_REPOSITORY" --output "$RUN_DIR/model_repository" || exit 1
  MODEL_REPOSITORY="$RUN_DIR/model_repository"
}

cublas12_lib_dir() {
  # CTranslate2 (faster-whisper) loads libcublas.so.12; the image's CUDA is 13 (see requirements-models.txt).
  python3 -c 'import nvidia.cublas, os; print(os.path.join(list(nvidia.cublas.__path__)[0], "lib"))' \
    2>/dev/null
}

# Whether this container's tritonserver loads the stt model on a GPU (the default).
stt_on_gpu() {
  [ "${CC_MODEL_STT_DEVICE:-cuda}" != "cpu" ] || return 1
  [ -z "${CC_TRITON_MODELS:-}" ] || [[ " $CC_TRITON_MODELS " == *" stt "* ]]
}

# The Python-backend stubs pass every tensor through /dev/shm; Docker's default 64 MB is too small for
# four models' audio. Warn (not fail): some hosts report their shared memory differently.
check_shm() {
  local shm_mb
  shm_mb="$(df -Pm /dev/shm 2>/dev/null | awk 'NR == 2 { print $2 }')"
  if [ -n "$shm_mb" ] && [ "$shm_mb" -lt "${CC_MIN_SHM_MB:-1024}" ]; then
    log "WARNING: /dev/shm is ${shm_mb} MB; the models need >= ${CC_MIN_SHM_MB:-1024} MB (docker run --shm-size=8g; docs/RUNPOD_TWILIO.md)"
  fi
}

start_triton() {
  local grpc_address="$1"
  local extra_lib=""
  # Without cuBLAS 12, CTranslate2 fails on the first transcription, long after readiness: stop here.
  if ! extra_lib="$(cublas12_lib_dir)" && stt_on_gpu; then
    log "the stt model needs CUDA 12's cuBLAS (pip package nvidia-cublas-cu12, triton/requirements-models.txt) and this Python has none: the image is incomplete"
    exit 1
  fi
  check_shm
  local args=(
    "--model-repository=$MODEL_REPOSITORY"
    "--backend-directory=${TRITONSERVER_BACKENDS:-/opt/tritonserver/backends}"
    "--http-port=$HTTP_PORT"
    "--grpc-address=$grpc_address"
    "--grpc-port=$GRPC_PORT"
    "--metrics-port=$METRICS_PORT"
    "--strict-readiness=true"
    "--exit-timeout-secs=${CC_TRITON_EXIT_TIMEOUT_S:-30}"
    # The orchestrator pings every 10 s, also between calls (orchestrator/triton/connection.py); Triton's
    # defaults would count those as ping strikes and GOAWAY the connection after two.
    "--grpc-keepalive-permit-without-calls=1"
    "--grpc-http2-min-recv-ping-interval-without-data=5000"
    "--grpc-http2-max-ping-strikes=0"
    # A connection older than this is asked (GOAWAY) to reconnect after its open streams end, which makes
    # gRPC clients re-resolve dns:///triton-headless and find Triton pods added by the autoscaler.
    "--grpc-max-connection-age=${CC_TRITON_GRPC_MAX_CONNECTION_AGE_MS:-60000}"
    # One model loads at a time: vLLM measures free GPU memory while it starts, and another model
    # allocating at that moment would skew its KV-cache sizing (docs/GPU_MEMORY.md).
    "--model-load-thread-count=${CC_TRITON_LOAD_THREADS:-1}"
    # Time-to-first-response histograms of the decoupled models (LLM TTFT) for the autoscaler.
    "--metrics-config=histogram_latencies=true"
  )
  if [ -n "${CC_TRITON_MODELS:-}" ]; then
    args+=("--model-control-mode=explicit")
    local model
    for model in $CC_TRITON_MODELS; do args+=("--load-model=$model"); done
  fi
  log "starting tritonserver (gRPC $grpc_address:$GRPC_PORT, HTTP $HTTP_PORT, metrics $METRICS_PORT)"
  # No network at model load: everything was fetched into $HF_HOME before.
  HF_HUB_OFFLINE=1 LD_LIBRARY_PATH="${extra_lib:+$extra_lib:}${LD_LIBRARY_PATH:-}" \
    "${TRITONSERVER_BIN:-tritonserver}" "${args[@]}" &
  TRITON_PID=$!
}

wait_triton_ready() {
  local deadline=$((SECONDS + TRITON_START_TIMEOUT_S))
  until curl -fsS -o /dev/null "http://127.0.0.1:$HTTP_PORT/v2/health/ready"; do
    if ! kill -0 "$TRITON_PID" 2>/dev/null; then
      log "tritonserver exited during start-up"
      wait "$TRITON_PID" || exit $?
      exit 1
    fi
    if ((SECONDS > deadline)); then
      log "tritonserver not ready after ${TRITON_START_TIMEOUT_S}s"
      exit 1
    fi
    sleep 2
  done
  log "tritonserver ready"
}

start_orchestrator() {
  log "starting the orchestrator on :$ORCHESTRATOR_PORT (Triton at ${CC_TRITON_URL:-127.0.0.1:$GRPC_PORT})"
  CC_TRITON_URL="${CC_TRITON_URL:-127.0.0.1:$GRPC_PORT}" \
    "$ORCHESTRATOR_PYTHON" -m uvicorn "$ORCHESTRATOR_APP" --factory \
    --host 0.0.0.0 --port "$ORCHESTRATOR_PORT" --proxy-headers --forwarded-allow-ips='*' \
    --ws-max-size 131072 --timeout-graceful-shutdown 30 &
  ORCHESTRATOR_PID=$!
}

# Live calls: the orchestrator's active-calls gauge on /metrics (0 when it has no such metric).
active_calls() {
  curl -fsS "http://127.0.0.1:$ORCHESTRATOR_PORT/metrics" 2>/dev/null \
    | awk -v name="${CC_ACTIVE_CALLS_METRIC:-cc_calls_active}" \
      '$1 == name || index($1, name "{") == 1 { total += $2 } END { print total + 0 }'
}

# Stop taking calls (readiness turns false, so Twilio's next call goes to another pod) and wait, at most
# CC_DRAIN_TIMEOUT_S, for the calls in progress to end.
drain() {
  curl -fsS -o /dev/null -X POST "http://127.0.0.1:$ORCHESTRATOR_PORT/drain" 2>/dev/null \
    || log "the orchestrator has no POST /drain; waiting for live calls anyway"
  local deadline=$((SECONDS + DRAIN_TIMEOUT_S)) calls
  while calls="$(active_calls)" && [ "$calls" != "0" ]; do
    if ((SECONDS > deadline)); then
      log "drain: $calls call(s) still live after ${DRAIN_TIMEOUT_S}s; stopping anyway"
      return
    fi
    log "drain: $calls live call(s)"
    sleep "${CC_DRAIN_POLL_S:-5}"
  done
  log "drain: no live calls"
}

stop_all() {
  trap - TERM INT
  log "stopping"
  if [ -n "$ORCHESTRATOR_PID" ] && kill -0 "$ORCHESTRATOR_PID" 2>/dev/null; then
    drain
    kill -TERM "$ORCHESTRATOR_PID" 2>/dev/null || true
    wait "$ORCHESTRATOR_PID" || true
  fi
  if [ -n "$TRITON_PID" ] && kill -0 "$TRITON_PID" 2>/dev/null; then
    kill -TERM "$TRITON_PID" 2>/dev/null || true
    wait "$TRITON_PID" || true
  fi
  exit 0
}

# Run until SIGTERM/SIGINT (then stop_all) or until one of the servers exits (then stop the other and
# exit non-zero, so the container restarts).
supervise() {
  trap stop_all TERM INT
  local pids=("$@") status=0
  wait -n "${pids[@]}" || status=$?
  log "a server exited (status $status); stopping the rest"
  trap - TERM INT
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  exit $((status == 0 ? 1 : status))
}

health() {
  case "${CC_ROLE:-all}" in
    triton) curl -fsS -o /dev/null "http://127.0.0.1:$HTTP_PORT/v2/health/ready" ;;
    orchestrator) curl -fsS -o /dev/null "http://127.0.0.1:$ORCHESTRATOR_PORT/readyz" ;;
    *)
      curl -fsS -o /dev/null "http://127.0.0.1:$HTTP_PORT/v2/health/ready" \
        && curl -fsS -o /dev/null "http://127.0.0.1:$ORCHESTRATOR_PORT/readyz"
      ;;
  esac
}

# On RunPod the public HTTPS address is known inside the pod: Twilio signs requests for that URL.
if [ -z "${CC_PUBLIC_BASE_URL:-}" ] && [ -n "${RUNPOD_POD_ID:-}" ]; then
  export CC_PUBLIC_BASE_URL="https://${RUNPOD_POD_ID}-${ORCHESTRATOR_PORT}.proxy.runpod.net"
fi

role="${1:-all}"
case "$role" in
  all)
    export CC_ROLE=all
    plan_gpu_memory
    fetch_weights
    start_triton "${CC_TRITON_GRPC_ADDRESS:-127.0.0.1}"
    trap stop_all TERM INT
    wait_triton_ready
    start_orchestrator
    supervise "$TRITON_PID" "$ORCHESTRATOR_PID"
    ;;
  triton)
    export CC_ROLE=triton
    plan_gpu_memory
    fetch_weights
    start_triton "${CC_TRITON_GRPC_ADDRESS:-0.0.0.0}"
    supervise "$TRITON_PID"
    ;;
  orchestrator)
    export CC_ROLE=orchestrator
    start_orchestrator
    supervise "$ORCHESTRATOR_PID"
    ;;
  fetch-weights) fetch_weights ;;
  drain) drain ;;
  health) health ;;
  *) exec "$@" ;;
esac
