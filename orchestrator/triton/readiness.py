"""/readyz's check: Triton answers over gRPC and every required model is ready."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import tritonclient.grpc.aio as grpcclient
from tritonclient.utils import InferenceServerException

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Readiness:
    ready: bool
    server_ready: bool
    models: dict[str, bool]
    error: str | None = None


async def check_triton(url: str, models: list[str], timeout_s: float) -> Readiness:
    client = grpcclient.InferenceServerClient(url)
    try:
        server_ready = bool(await client.is_server_ready(client_timeout=timeout_s))
        states = {
            name: bool(await client.is_model_ready(name, client_timeout=timeout_s))
            for name in models
        }
    except InferenceServerException as error:
        log.warning("Triton at %s not ready: %s", url, error.message())
        return Readiness(False, False, dict.fromkeys(models, False), str(error.message()))
    finally:
        await client.close()
    return Readiness(server_ready and all(states.values()), server_ready, states)
