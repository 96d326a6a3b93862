"""The ``turn_detector`` model (Smart Turn v3.2) served by a real tritonserver, asked over gRPC by the
orchestrator's own client: whole sentences against the same sentences cut mid-way, and bad input."""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np
import pytest
import tritonclient.grpc.aio as grpcclient_aio
from model_metrics import ended, wait_for

from benchmarks.triton_stream import stream_request, tensor
from callsim.turn_clips import TurnClip, turn_clips
from callsim.voices import piper_available
from orchestrator.triton.connection import connect
from orchestrator.triton.turn_detector_client import TurnDetectorClient
from serving.launcher import TritonServer

RATE = 16_000


@pytest.fixture
async def client(triton: TritonServer) -> AsyncIterator[grpcclient_aio.InferenceServerClient]:
    client = connect(triton.grpc_url)
    yield client
    await client.close()


def piper_pairs() -> list[tuple[TurnClip, TurnClip]]:
    """Each sentence whole and cut, in Piper's voice (the natural one)."""
    clips = turn_clips(voices=("piper",))
    whole = {c.sentence_id: c for c in clips if c.complete}
    return [(whole[c.sentence_id], c) for c in clips if not c.complete and c.sentence_id in whole]


@pytest.mark.skipif(not piper_available(), reason="needs the piper-voice extra")
async def test_a_sentence_cut_mid_way_sounds_less_finished_than_the_whole_sentence(
    client: grpcclient_aio.InferenceServerClient,
) -> None:
    detector = TurnDetectorClient(client)
    pairs = piper_pairs()
    assert len(pairs) >= 20
    lower = 0
    scores: dict[str, tuple[float, float]] = {}
    for whole, cut in pairs:
        p_whole = await detector.probability(whole.audio, request_id=f"whole-{whole.sentence_id}")
        p_cut = await detector.probability(cut.audio, request_id=f"cut-{cut.sentence_id}")
        assert 0.0 <= p_cut <= 1.0 and 0.0 <= p_whole <= 1.0
        lower += p_cut < p_whole
        scores[whole.sentence_id] = (p_cut, p_whole)
    # "I wanted to ask" cut from a longer sentence: text rules call it complete, the audio hears more.
    # Only the cut is pinned: Piper samples its durations, so a fresh cache's whole sentence has
    # scored 0.45 as well as 0.9 (the cut, 0.02 both times).
    p_cut, p_whole = scores["s06"]
    assert p_cut < 0.3 and p_cut < p_whole, scores["s06"]
    # Not every pair: the model is right 91.6 % of the time on its own test set, and these voices are
    # synthetic; measured 27 of 36 (benchmarks.end_of_turn_accuracy has the per-clip figures).
    assert lower >= 0.6 * len(pairs), f"{lower} of {len(pairs)}: {scores}"


@pytest.mark.parametrize(
    ("audio", "rate", "message"),
    [
        (np.zeros(8_000, np.float32), 8_000, "sample_rate must be 16000"),
        (np.zeros(0, np.float32), RATE, "audio is empty"),
        (np.zeros(9 * RATE, np.float32), RATE, "the model hears <= 8 s"),
    ],
)
def test_bad_audio_gets_a_clear_error_and_the_model_keeps_serving(
    triton: TritonServer, audio: np.ndarray, rate: int, message: str
) -> None:
    invalid_before = ended(triton.metrics_url, "turn_detector", "invalid")
    inputs = [tensor("audio", audio), tensor("sample_rate", np.array([rate], np.int32))]
    result = stream_request(triton.grpc_url, "turn_detector", inputs)
    assert result.error is not None and message in str(result.error)
    wait_for(lambda: ended(triton.metrics_url, "turn_detector", "invalid") > invalid_before)
    quiet = np.zeros(RATE, np.float32)
    served = stream_request(
        triton.grpc_url,
        "turn_detector",
        [tensor("audio", quiet), tensor("sample_rate", np.array([RATE], np.int32))],
    )
    assert served.error is None and len(served.responses) == 1 and served.final_at is not None
