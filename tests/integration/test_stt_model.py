"""The ``stt`` model over gRPC: Piper speech through the phone line's 8 kHz mu-law, and bad input."""

from __future__ import annotations

import re

import numpy as np
import pytest

from benchmarks.triton_stream import stream_request, tensor, text_tensor
from callsim.voices import CALLER_SENTENCES, piper_available, piper_utterance, resample
from orchestrator.twilio import mulaw
from serving.launcher import TritonServer

pytestmark = pytest.mark.skipif(not piper_available(), reason="needs the piper-voice extra")


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def through_phone_line(audio_16k: np.ndarray) -> np.ndarray:
    """16 kHz -> 8 kHz mu-law (what Twilio carries) -> 16 kHz float32 again."""
    pcm = (np.clip(resample(audio_16k, 16_000, 8_000), -1, 1) * 32767).astype(np.int16)
    decoded = mulaw.decode(mulaw.encode(pcm)).astype(np.float32) / 32768.0
    return resample(decoded, 8_000, 16_000)


def transcribe(url: str, audio: np.ndarray, rate: int = 16_000, **extra: str) -> str:
    inputs = [tensor("audio", audio), tensor("sample_rate", np.array([rate], np.int32))]
    inputs += [text_tensor(name, value) for name, value in extra.items()]
    result = stream_request(url, "stt", inputs)
    assert result.error is None, result.error
    assert result.final_at is not None
    return " ".join(r.as_numpy("text")[0].decode() for r in result.responses)


@pytest.mark.parametrize("sentence", CALLER_SENTENCES)
def test_piper_sentence_after_mulaw_round_trip_is_transcribed_exactly(
    triton: TritonServer, sentence: str
) -> None:
    audio = through_phone_line(piper_utterance(sentence))
    assert words(transcribe(triton.grpc_url, audio, language="en")) == words(sentence)


def test_segment_carries_timestamps_and_word_timings(triton: TritonServer) -> None:
    sentence = CALLER_SENTENCES[1]
    audio = piper_utterance(sentence)
    result = stream_request(
        triton.grpc_url,
        "stt",
        [tensor("audio", audio), tensor("sample_rate", np.array([16_000], np.int32))],
    )
    assert result.error is None and result.responses
    segment = result.responses[0]
    start, end = float(segment.as_numpy("start")[0]), float(segment.as_numpy("end")[0])
    assert 0.0 <= start < end <= len(audio) / 16_000 + 0.5
    word_start, word_end = segment.as_numpy("word_start"), segment.as_numpy("word_end")
    assert len(segment.as_numpy("words")) == len(word_start) == len(word_end) >= 5
    assert np.all(np.diff(word_start) >= 0) and np.all(word_end >= word_start)
    assert float(segment.as_numpy("no_speech_prob")[0]) < 0.5


def test_prompt_is_accepted(triton: TritonServer) -> None:
    audio = piper_utterance(CALLER_SENTENCES[2])
    text = transcribe(triton.grpc_url, audio, prompt="Agent: Hello, this is the pharmacy.")
    expected = words(CALLER_SENTENCES[2])
    # tiny.en sometimes appends a hallucinated "thank you" after a prompt: check the spoken words.
    assert words(text)[: len(expected)] == expected


@pytest.mark.parametrize(
    ("audio", "rate", "message"),
    [
        (np.zeros(0, np.float32), 16_000, "non-empty"),
        (np.zeros(8_000, np.float32), 8_000, "sample_rate must be 16000"),
        (np.zeros(31 * 16_000, np.float32), 16_000, "max_audio_s"),
        (np.full(1_600, np.nan, np.float32), 16_000, "NaN"),
    ],
)
def test_bad_audio_gets_a_clear_error_and_the_model_keeps_serving(
    triton: TritonServer, audio: np.ndarray, rate: int, message: str
) -> None:
    inputs = [tensor("audio", audio), tensor("sample_rate", np.array([rate], np.int32))]
    result = stream_request(triton.grpc_url, "stt", inputs)
    assert result.error is not None and message in str(result.error)
    assert words(transcribe(triton.grpc_url, piper_utterance(CALLER_SENTENCES[0]))) == [
        "yes",
        "please",
    ]


def test_wrong_dtype_is_rejected_by_triton(triton: TritonServer) -> None:
    inputs = [
        tensor("audio", np.zeros(1_600, np.float64)),
        tensor("sample_rate", np.array([16_000], np.int32)),
    ]
    result = stream_request(triton.grpc_url, "stt", inputs)
    assert result.error is not None and "FP64" in str(result.error)
