"""/readyz asks Triton over gRPC: a closed port is not ready; the session's tritonserver is."""

from __future__ import annotations

import socket
import time

import httpx

from callsim.handlers import RecordingHandler
from orchestrator.app import create_app
from orchestrator.settings import Settings
from serving.launcher import TritonServer

TOKEN = "an-auth-token"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_not_ready_when_triton_is_unreachable() -> None:
    settings = Settings(
        triton_url=f"127.0.0.1:{closed_port()}", readiness_timeout_s=0.5, twilio_auth_token=TOKEN
    )
    app = create_app(settings, RecordingHandler)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://x"
    ) as client:
        started = time.monotonic()
        response = await client.get("/readyz")
        assert time.monotonic() - started < 3
        assert (await client.get("/healthz")).status_code == 200
    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False and body["models"] == {"silero_vad": False}
    assert body["error"]


async def test_ready_with_the_models_loaded(triton: TritonServer) -> None:
    settings = Settings(
        triton_url=triton.grpc_url, required_models=["silero_vad"], twilio_auth_token=TOKEN
    )
    app = create_app(settings, RecordingHandler)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://x"
    ) as client:
        response = await client.get("/readyz")
        assert response.status_code == 200, response.text
        assert response.json()["models"] == {"silero_vad": True}
        missing = create_app(
            Settings(triton_url=triton.grpc_url, required_models=["nope"], twilio_auth_token=TOKEN),
            RecordingHandler,
        )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=missing), base_url="http://x"
    ) as client:
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["models"] == {"nope": False}
