"""The orchestrator's one gRPC connection over two real tritonservers (what the cluster's headless Service
gives it): requests spread across both by gRPC's ``round_robin``, the VAD state carried in each request
makes the servers interchangeable, and stopping one server leaves the other taking every request.

Each request here is its own one-request stream (one RPC), the unit that ``round_robin`` spreads; a
long-lived per-call stream (``VadStream``) stays on the server it started on; new ones open on a
server that is up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc.aio as grpcclient_aio
from tritonclient.grpc import InferInput, InferRequestedOutput

from orchestrator.triton.connection import connect
from orchestrator.triton.vad_stream import VadStream
from serving.launcher import TritonServer, TritonServerOptions
from serving.paths import DEFAULT_CACHE_DIR, MODEL_REPOSITORY
from serving.vad_engine import WINDOW, SileroVadEngine

MODEL = "silero_vad"
RECONNECT_S = 5.0  # a request may fail while the channel notices a stopped server; not for longer

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def two_tritons() -> Iterator[list[TritonServer]]:
    servers = [
        TritonServer(
            TritonServerOptions(
                model_repository=MODEL_REPOSITORY,
                models=[MODEL],
                run_dir=DEFAULT_CACHE_DIR / "triton-runs" / f"pytest-two-tritons-{name}",
                exit_timeout_s=2,
            )
        )
        for name in ("a", "b")
    ]
    try:
        with ThreadPoolExecutor(2) as pool:  # start both at once: half the wait
            list(pool.map(lambda server: server.start(), servers))
        yield servers
    finally:
        for server in servers:
            server.stop()


def audio_windows(count: int, seed: int = 3) -> np.ndarray:
    """Noise with a loud tonal burst in the middle, so probabilities vary and state matters."""
    rng = np.random.default_rng(seed)
    audio = 0.01 * rng.standard_normal(count * WINDOW)
    t = np.arange(audio.size) / 16_000
    middle = slice(audio.size // 3, 2 * audio.size // 3)
    audio[middle] += 0.5 * np.sin(2 * np.pi * 220 * t[middle]) * np.sin(2 * np.pi * 3 * t[middle])
    return audio.astype(np.float32)


async def infer_once(
    client: grpcclient_aio.InferenceServerClient, window: np.ndarray, state: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """One VAD request on its own stream (one RPC); returns (speech_prob, next_state)."""
    inputs = [InferInput("audio", [window.size], "FP32")]
    inputs[0].set_data_from_numpy(window)
    if state is not None:
        inputs.append(InferInput("state", [state.size], "FP32"))
        inputs[1].set_data_from_numpy(state)
    request = {
        "model_name": MODEL,
        "inputs": inputs,
        "outputs": [InferRequestedOutput("speech_prob"), InferRequestedOutput("next_state")],
    }

    async def one_request() -> AsyncIterator[dict[str, Any]]:
        yield request

    async for result, error in client.stream_infer(one_request(), stream_timeout=10):
        if error is not None:
            raise error
        return result.as_numpy("speech_prob"), result.as_numpy("next_state")
    raise RuntimeError("stream ended without a response")


async def infer_with_retry(
    client: grpcclient_aio.InferenceServerClient, window: np.ndarray, state: np.ndarray | None
) -> tuple[tuple[np.ndarray, np.ndarray], int]:
    """``infer_once``, retried for at most RECONNECT_S; returns the result and how many tries failed."""
    deadline, failures = time.monotonic() + RECONNECT_S, 0
    while True:
        try:
            return await infer_once(client, window, state), failures
        except Exception:
            failures += 1
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def executed_requests(server: TritonServer) -> int:
    """Requests the server's ``silero_vad`` has completed (Triton's per-model statistics, over gRPC)."""
    stats_client = grpcclient_aio.InferenceServerClient(server.grpc_url)
    try:
        stats = await stats_client.get_inference_statistics(MODEL, as_json=True)
    finally:
        await stats_client.close()
    (model,) = stats["model_stats"]
    return int(model["inference_stats"].get("success", {}).get("count", 0))


async def test_requests_spread_over_both_servers_and_survive_one_stopping(
    two_tritons: list[TritonServer],
) -> None:
    a, b = two_tritons
    if not (a.is_running() and b.is_running()):
        pytest.skip("an earlier test stopped a server")
    client = connect(f"{a.grpc_url},{b.grpc_url}")
    reference = SileroVadEngine(max_windows=1000)
    audio = audio_windows(120)
    windows = audio.reshape(-1, WINDOW)
    try:
        # Warm-up: the channel connects to each address on its own schedule; round_robin only picks
        # servers whose connection is up. Go on until both have answered.
        state: np.ndarray | None = None
        deadline = time.monotonic() + 20
        warm = 0
        while min(await executed_requests(a), await executed_requests(b)) == 0:
            assert time.monotonic() < deadline, "round_robin never reached both servers"
            _, state = await infer_once(client, windows[warm % 10], None)
            warm += 1

        # A call's windows, one request each, state carried by the client: the probabilities must
        # equal one engine's run over the whole call, whichever server took each window.
        before = [await executed_requests(a), await executed_requests(b)]
        probs, state = [], None
        for window in windows[:40]:
            prob, state = await infer_once(client, window, state)
            probs.append(prob)
        expected, _ = reference.process(audio[: 40 * WINDOW])
        np.testing.assert_allclose(np.concatenate(probs), expected, atol=1e-5)
        served = [await executed_requests(a) - before[0], await executed_requests(b) - before[1]]
        assert sum(served) == 40
        assert min(served) >= 10, f"round_robin left a server nearly idle: {served}"

        # Stop one server mid-call: the rest of the call goes on against the other.
        b.stop()
        before_a = await executed_requests(a)
        failures = 0
        for window in windows[40:80]:
            (prob, state), failed = await infer_with_retry(client, window, state)
            probs.append(prob)
            failures += failed
        expected, _ = reference.process(audio[: 80 * WINDOW])
        np.testing.assert_allclose(np.concatenate(probs), expected, atol=1e-5)
        assert await executed_requests(a) - before_a == 40
        assert failures <= 3, f"{failures} requests failed after the stop: reconnect too slow"

        # New long-lived per-call streams (the orchestrator's VadStream) open on the survivor.
        async with VadStream(client, call_id="CA-after-stop") as vad:
            streamed = await vad.push(audio[80 * WINDOW :])
        np.testing.assert_allclose(streamed, reference.process(audio[80 * WINDOW :])[0], atol=1e-5)
    finally:
        await client.close()
