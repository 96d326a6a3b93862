"""The ``tts`` model over gRPC in the CPU profile (Piper): streaming, cancellation, bad input, and
Whisper hearing what it says."""

from __future__ import annotations

import re
import uuid

import numpy as np
import pytest
from model_metrics import counter, ended, wait_for

from benchmarks.triton_stream import StreamResult, stream_request, tensor, text_tensor
from callsim.voices import piper_available, resample
from serving.launcher import TritonServer

pytestmark = pytest.mark.skipif(not piper_available(), reason="needs the piper-voice extra")

TEXT = (
    "Thank you for calling the clinic. Your appointment is on Monday at ten in the morning. "
    "Please bring your insurance card with you."
)


def speak(
    url: str, text: str, request_id: str = "", cancel_after: int | None = None
) -> StreamResult:
    return stream_request(
        url, "tts", [text_tensor("text", text)], request_id=request_id, cancel_after=cancel_after
    )


def audio_of(result: StreamResult) -> tuple[np.ndarray, int]:
    rate = int(result.responses[0].as_numpy("sample_rate")[0])
    return np.concatenate([r.as_numpy("audio") for r in result.responses]), rate


def test_streams_several_chunks_first_one_early_and_small(triton: TritonServer) -> None:
    result = speak(triton.grpc_url, TEXT)
    assert result.error is None and result.final_at is not None
    assert len(result.responses) >= 3
    sizes = [r.as_numpy("audio").size for r in result.responses]
    rate = int(result.responses[0].as_numpy("sample_rate")[0])
    assert sizes[0] == round(rate * 0.08) * 2  # first_chunk_frames = 2 frames of 80 ms
    assert max(sizes) > sizes[0]
    # The first chunk left the server before the last sentence was synthesised.
    assert result.arrivals[0] < 0.6 * result.final_at
    spans = [
        (int(r.as_numpy("text_start")[0]), int(r.as_numpy("text_end")[0])) for r in result.responses
    ]
    assert TEXT[spans[0][0] : spans[0][1]] == "Thank you for calling the clinic."
    assert spans[-1][1] == len(TEXT) and spans == sorted(spans)


def test_cancelled_request_stops_early_server_side(triton: TritonServer) -> None:
    metrics = triton.metrics_url
    whole = speak(triton.grpc_url, TEXT, request_id=f"whole-{uuid.uuid4().hex[:8]}")
    cancelled = ended(metrics, "tts", "cancelled")
    sent = counter(metrics, "tts", "cc_model_responses")
    result = speak(
        triton.grpc_url, TEXT, request_id=f"cancel-{uuid.uuid4().hex[:8]}", cancel_after=1
    )
    assert result.responses and result.final_at is None  # the client saw one chunk, then left
    # The model noticed and ended the request as cancelled, having sent fewer chunks than the text has.
    wait_for(lambda: ended(metrics, "tts", "cancelled") == cancelled + 1)
    assert counter(metrics, "tts", "cc_model_responses") - sent < len(whole.responses)
    assert speak(triton.grpc_url, "Still here.").final_at is not None


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "text is empty"), ("   ", "text is empty"), ("a" * 601, "max_text_chars")],
)
def test_bad_text_gets_a_clear_error_and_the_model_keeps_serving(
    triton: TritonServer, text: str, message: str
) -> None:
    result = speak(triton.grpc_url, text)
    assert result.error is not None and message in str(result.error)
    assert speak(triton.grpc_url, "Still here.").final_at is not None


def test_whisper_hears_what_piper_said(triton: TritonServer) -> None:
    # No numbers: Whisper writes them as words or digits from one (Piper is not bit-exact) run to the next.
    sentence = "I can book you a table by the window tonight."
    spoken = speak(triton.grpc_url, sentence)
    audio, rate = audio_of(spoken)
    heard = stream_request(
        triton.grpc_url,
        "stt",
        [
            tensor("audio", resample(audio, rate, 16_000)),
            tensor("sample_rate", np.array([16_000], np.int32)),
        ],
    )
    assert heard.error is None
    text = " ".join(r.as_numpy("text")[0].decode() for r in heard.responses)
    assert re.findall(r"[a-z']+", text.lower()) == re.findall(r"[a-z']+", sentence.lower())
