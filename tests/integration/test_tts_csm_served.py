"""The ``tts`` model with ``engine=csm`` served by a real tritonserver: the production code path (our
frame loop over CSM's and Mimi's modules, every request in one batched step) on a tiny random CSM,
greedy, over gRPC. Its own server, loading only ``tts``."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator

import numpy as np
import pytest
from model_metrics import counter, ended, wait_for

from benchmarks.triton_stream import StreamResult, stream_request, tensor, text_tensor
from orchestrator.triton.connection import connect
from orchestrator.triton.request import RequestOutcome
from orchestrator.triton.tts_client import ContextTurn, SpeechChunk, TtsClient
from serving.launcher import TritonServer, TritonServerOptions
from serving.model_parameters import env_override_name
from serving.paths import MODEL_REPOSITORY, PROJECT_ROOT
from serving.speech_cpu_profile import tts_csm_cpu_settings

TEXT = "Hello there. This is a test of the voice. It has three sentences."


@pytest.fixture(scope="module")
def csm_triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    # Greedy: the same text gives the same audio, alone or beside other requests.
    settings = tts_csm_cpu_settings(PROJECT_ROOT / ".cache") | {"temperature": "0"}
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
    metrics = csm_triton.metrics_url
    whole = speak(csm_triton, f"csm-whole-{uuid.uuid4().hex[:8]}")
    cancelled = ended(metrics, "tts", "cancelled")
    sent = counter(metrics, "tts", "cc_model_responses")
    speak(csm_triton, f"csm-cancel-{uuid.uuid4().hex[:8]}", cancel_after=1)
    wait_for(lambda: ended(metrics, "tts", "cancelled") == cancelled + 1)
    assert counter(metrics, "tts", "cc_model_responses") - sent < len(whole.responses)


async def test_four_streams_through_one_instance_each_as_alone_one_cancelled(
    csm_triton: TritonServer,
) -> None:
    """Through the orchestrator's own client: four requests at once share the frame loop; the one
    cancelled mid-way (as a barge-in cancels it) ends CANCELLED, the others as they do alone."""
    client = connect(csm_triton.grpc_url)
    outcomes: dict[str, RequestOutcome] = {}
    tts = TtsClient(client, observe=lambda model, end: None)
    context = [ContextTurn("Earlier words.", 0, np.zeros(12_000, np.float32), 24_000)]
    texts = [TEXT, "Short one.", "Two sentences here. With context.", TEXT]
    two_chunks = asyncio.Event()

    async def speak(index: int) -> list[SpeechChunk]:
        request_id = f"csm-four-{index}-{uuid.uuid4().hex[:6]}"
        observed = TtsClient(
            client, observe=lambda model, end: outcomes.__setitem__(request_id, end)
        )
        chunks: list[SpeechChunk] = []
        async for chunk in observed.speak(texts[index], context if index == 2 else (), request_id):
            chunks.append(chunk)
            if index == 3 and len(chunks) == 2:
                two_chunks.set()
        return chunks

    tasks = [asyncio.create_task(speak(i)) for i in range(4)]
    await asyncio.wait_for(two_chunks.wait(), timeout=120)
    tasks[3].cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[3], asyncio.CancelledError)
    ended = sorted(outcomes.values())
    assert ended == sorted([RequestOutcome.COMPLETED] * 3 + [RequestOutcome.CANCELLED])
    alone = [chunk async for chunk in tts.speak(TEXT)]
    await client.close()
    for index, chunks in enumerate(results[:3]):
        assert isinstance(chunks, list) and chunks, index
        assert chunks[0].audio.size == 2 * 1920 and chunks[0].sample_rate == 24_000
        spans = {texts[index][c.text_start : c.text_end] for c in chunks}
        assert spans == {s.strip() for s in re.split(r"(?<=\.) ", texts[index])}
    together = np.concatenate([c.audio for c in results[0]])  # type: ignore[union-attr]
    np.testing.assert_allclose(together, np.concatenate([c.audio for c in alone]), atol=1e-5)
