"""The ``tts`` model with ``engine=csm`` served by a real tritonserver: the production code path (CSM +
Mimi through transformers) on a tiny random CSM, over gRPC. Its own server, loading only ``tts``."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from benchmarks.triton_stream import StreamResult, stream_request, tensor, text_tensor
from serving.launcher import TritonServer, TritonServerOptions
from serving.model_parameters import env_override_name
from serving.paths import MODEL_REPOSITORY, PROJECT_ROOT
from serving.speech_cpu_profile import tts_csm_cpu_settings

TEXT = "Hello there. This is a test of the voice. It has three sentences."


@pytest.fixture(scope="module")
def csm_triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    settings = tts_csm_cpu_settings(PROJECT_ROOT / ".cache")
    env = {env_override_name("tts", key): value for key, value in settings.items()}
    server = TritonServer(
        TritonServerOptions(
            model_repository=MODEL_REPOSITORY,
            models=["tts"],
            env=env,
            run_dir=tmp_path_factory.mktemp("csm-triton"),
        )
    )
    server.start()
    yield server
    server.stop()


def speak(server: TritonServer, request_id: str, cancel_after: int | None = None) -> StreamResult:
    return stream_request(
        server.grpc_url,
        "tts",
        [text_tensor("text", TEXT), tensor("speaker_id", np.array([0], np.int32))],
        request_id=request_id,
        cancel_after=cancel_after,
    )


def test_csm_streams_mimi_frames_in_chunks(csm_triton: TritonServer) -> None:
    result = speak(csm_triton, f"csm-{uuid.uuid4().hex[:8]}")
    assert result.error is None and result.final_at is not None
    assert len(result.responses) >= 3
    rate = int(result.responses[0].as_numpy("sample_rate")[0])
    assert rate == 24_000  # Mimi
    sizes = [r.as_numpy("audio").size for r in result.responses]
    assert sizes[0] == 2 * 1920  # first_chunk_frames = 2 Mimi frames of 80 ms
    assert result.arrivals[0] < result.final_at


def test_csm_cancel_stops_within_a_frame_server_side(csm_triton: TritonServer) -> None:
    whole = speak(csm_triton, f"csm-whole-{uuid.uuid4().hex[:8]}")
    request_id = f"csm-cancel-{uuid.uuid4().hex[:8]}"
    speak(csm_triton, request_id, cancel_after=1)
    pattern = re.compile(rf"tts: request '{request_id}' cancelled after (\d+) chunks")
    log = Path(csm_triton.log_path)
    for _ in range(100):
        found = pattern.search(log.read_text(errors="replace"))
        if found:
            break
        time.sleep(0.1)
    assert found, "the server never logged the cancellation"
    assert int(found.group(1)) < len(whole.responses)
