"""The silero_vad model served by a real tritonserver, over gRPC streams."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc.aio as grpcclient_aio
from tritonclient.grpc import InferInput

from callsim.voices import espeak_utterance, voiced_span
from orchestrator.conversation.speech_segmenter import SegmenterParams, SpeechEnded, SpeechSegmenter
from orchestrator.triton.connection import connect
from orchestrator.triton.vad_stream import VadError, VadStream
from serving.launcher import TritonServer

RATE = 16_000
FRAME = 512  # 32 ms windows, as the orchestrator sends them
SENTENCES = (
    "Hello, I would like to book a table for two tonight.",
    "Yes, seven thirty would be perfect, thank you.",
)


@pytest.fixture
async def client(triton: TritonServer) -> AsyncIterator[grpcclient_aio.InferenceServerClient]:
    client = connect(triton.grpc_url)
    yield client
    await client.close()


def conversation() -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Silence, a sentence, a pause, another sentence, silence; and where the speech truly is."""
    parts, truth, t = [np.zeros(RATE, np.float32)], [], 1.0
    for sentence in SENTENCES:
        speech = espeak_utterance(sentence, RATE)
        start, end = voiced_span(speech, RATE)
        truth.append((t + start, t + end))
        parts += [speech, np.zeros(int(1.5 * RATE), np.float32)]
        t += speech.size / RATE + 1.5
    return np.concatenate(parts), truth


async def stream_probabilities(
    client: grpcclient_aio.InferenceServerClient, audio: np.ndarray, call_id: str
) -> np.ndarray:
    async with VadStream(client, call_id=call_id) as vad:
        probs = [await vad.push(audio[i : i + FRAME]) for i in range(0, audio.size, FRAME)]
    return np.concatenate(probs)


def segments(probs: np.ndarray) -> list[tuple[float, float]]:
    segmenter = SpeechSegmenter(SegmenterParams(threshold=0.5, min_speech_ms=96, pause_ms=500))
    events = segmenter.push_many([float(p) for p in probs]) + segmenter.flush()
    return [(e.onset_ms / 1000, e.end_ms / 1000) for e in events if isinstance(e, SpeechEnded)]


async def test_speech_segments_match_where_the_speech_is(client: Any) -> None:
    audio, truth = conversation()
    found = segments(await stream_probabilities(client, audio, "CA-speech"))
    assert len(found) == len(truth), (found, truth)
    for (start, end), (true_start, true_end) in zip(found, truth, strict=True):
        assert abs(start - true_start) <= 0.1, (found, truth)
        assert abs(end - true_end) <= 0.1, (found, truth)


@pytest.mark.parametrize("kind", ["silence", "white noise"])
async def test_no_speech_in_silence_or_noise(client: Any, kind: str) -> None:
    rng = np.random.default_rng(7)
    audio = (
        np.zeros(5 * RATE, np.float32)
        if kind == "silence"
        else (0.1 * rng.standard_normal(5 * RATE)).astype(np.float32)
    )
    assert segments(await stream_probabilities(client, audio, f"CA-{kind}")) == []


async def test_interleaved_calls_do_not_mix_state(client: Any) -> None:
    first, _ = conversation()
    second = np.roll(first, RATE // 3) * 0.7
    alone = [
        await stream_probabilities(client, first, "CA-alone-1"),
        await stream_probabilities(client, second, "CA-alone-2"),
    ]
    together = await asyncio.gather(
        stream_probabilities(client, first, "CA-both-1"),
        stream_probabilities(client, second, "CA-both-2"),
    )
    np.testing.assert_array_equal(together[0], alone[0])
    np.testing.assert_array_equal(together[1], alone[1])


async def raw_request(client: Any, inputs: list[InferInput]) -> str | None:
    """One request on its own stream; the error message, or None on success."""

    async def requests() -> AsyncIterator[dict[str, Any]]:
        yield {"model_name": "silero_vad", "inputs": inputs}

    async for _result, error in client.stream_infer(requests()):
        return None if error is None else str(error)
    return "no response"


def tensor(name: str, data: np.ndarray, dtype: str) -> InferInput:
    t = InferInput(name, list(data.shape), dtype)
    t.set_data_from_numpy(data)
    return t


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ([tensor("audio", np.zeros(FRAME, np.float64), "FP64")], "expects 'FP32'"),
        ([tensor("audio", np.zeros(FRAME + 3, np.float32), "FP32")], "multiple of 512"),
        (
            [
                tensor("audio", np.zeros(FRAME, np.float32), "FP32"),
                tensor("state", np.full(320, np.nan, np.float32), "FP32"),
            ],
            "not a state this model produced",
        ),
        ([tensor("audio", np.zeros(FRAME, np.float32), "FP32")] * 0, "audio"),
    ],
    ids=["wrong dtype", "wrong length", "unknown state", "missing audio"],
)
async def test_bad_input_gets_a_clear_error_and_the_server_keeps_serving(
    client: Any, inputs: list[InferInput], message: str
) -> None:
    error = await raw_request(client, inputs)
    assert error is not None and message in error, error
    probs = await stream_probabilities(client, np.zeros(4 * FRAME, np.float32), "CA-after-error")
    assert probs.shape == (4,)


async def test_vad_stream_surfaces_model_errors(client: Any) -> None:
    async with VadStream(client, call_id="CA-bad-state") as vad:
        vad._state = np.full(320, np.inf, np.float32)  # a state the model never produced
        with pytest.raises(VadError, match="not a state"):
            await vad.push(np.zeros(FRAME, np.float32))
