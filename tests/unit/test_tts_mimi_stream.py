"""Mimi's streaming decode (serving/tts/mimi_stream.py) against transformers' one-shot
``MimiModel.decode`` of the same codes, on the tiny random CSM's codec. Its codebooks are built empty
(every code decodes to the same vector), so the tests fill them with random vectors first: otherwise
any code sequence would pass."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import numpy as np
import pytest
import torch

from serving.tts.contract import TtsRequest
from serving.tts.csm import LoadedCsm
from serving.tts.csm_scheduler import FrameAudio
from serving.tts.mimi_stream import MimiStreamDecoder
from tests.unit.tiny_csm_frames import events, job_for, load_tiny, run_to_the_end, scheduler_for

FRAMES = 30  # the decoder transformer's ring (16 positions + 2) wraps several times
MIN_SNR_DB = 40.0  # streamed vs one-shot; float32 gives ~120 dB, all rounding


def snr_db(reference: np.ndarray, other: np.ndarray) -> float:
    noise = float(((reference - other) ** 2).sum())
    return float("inf") if noise == 0 else 10 * np.log10(float((reference**2).sum()) / noise)


def with_random_codebooks(codec: Any) -> Any:
    codec = copy.deepcopy(codec)
    generator = torch.Generator().manual_seed(0)
    for module in codec.modules():
        if type(module).__name__ == "MimiEuclideanCodebook":
            module.embed_sum.copy_(torch.randn(module.embed_sum.shape, generator=generator))
            module._embed = None  # its cached codebook
    return codec


@pytest.fixture(scope="module")
def tiny() -> LoadedCsm:
    loaded = load_tiny()
    with torch.no_grad():
        loaded.model.codec_model = with_random_codebooks(loaded.model.codec_model)
    return loaded


@pytest.fixture(scope="module")
def codes() -> torch.Tensor:
    return torch.randint(0, 64, (3, FRAMES, 4), generator=torch.Generator().manual_seed(1))


def one_shot(codec: Any, frames: torch.Tensor) -> np.ndarray:
    with torch.inference_mode():
        audio = codec.decode(frames.T[None]).audio_values[0, 0]
    return audio.numpy()


def streamed(decoder: MimiStreamDecoder, codes: torch.Tensor, keep: torch.Tensor) -> list[list]:
    """Per row, the audio of each frame it kept."""
    out: list[list] = [[] for _ in range(codes.shape[0])]
    with torch.inference_mode():
        for frame in range(codes.shape[1]):
            decoder.decode(codes[:, frame], keep[:, frame])
            for row in range(codes.shape[0]):
                if keep[row, frame]:
                    out[row].append(decoder.audio[row].numpy().copy())
    return out


def test_frames_decoded_one_by_one_are_the_one_shot_decode(
    tiny: LoadedCsm, codes: torch.Tensor
) -> None:
    codec = tiny.model.codec_model
    with torch.inference_mode():
        decoder = MimiStreamDecoder(codec, 4, torch.device("cpu"))
    keep = torch.ones(3, FRAMES, dtype=torch.bool)
    keep[1, ::4] = False  # row 1 has no audio frame every fourth step: its state stays
    for row, frames in enumerate(streamed(decoder, codes, keep)):
        reference = one_shot(codec, codes[row][keep[row]])
        audio = np.concatenate(frames)
        assert audio.size == reference.size == int(keep[row].sum()) * 1920
        assert snr_db(reference, audio) >= MIN_SNR_DB


def test_chunks_join_without_a_click(tiny: LoadedCsm, codes: torch.Tensor) -> None:
    with torch.inference_mode():
        decoder = MimiStreamDecoder(tiny.model.codec_model, 1, torch.device("cpu"))
    frames = streamed(decoder, codes[:1], torch.ones(1, FRAMES, dtype=torch.bool))[0]
    bounds = [2, 12, 22]  # chunks of 2 frames, then 10, as the engine sends them
    chunks = np.split(np.concatenate(frames), [b * 1920 for b in bounds])
    inside = max(float(np.abs(np.diff(c)).max()) for c in chunks)
    joins = max(abs(float(b[0] - a[-1])) for a, b in itertools.pairwise(chunks))
    assert joins <= inside


def test_reset_starts_a_new_stream_in_its_row(tiny: LoadedCsm, codes: torch.Tensor) -> None:
    codec = tiny.model.codec_model
    with torch.inference_mode():
        decoder = MimiStreamDecoder(codec, 2, torch.device("cpu"))
    streamed(decoder, codes[:2, :11], torch.ones(2, 11, dtype=torch.bool))
    with torch.inference_mode():
        decoder.reset(1)
    frames = streamed(decoder, codes[1:3, :12], torch.ones(2, 12, dtype=torch.bool))[1]
    assert snr_db(one_shot(codec, codes[2, :12]), np.concatenate(frames)) >= MIN_SNR_DB


def test_a_requests_sentences_are_one_continuous_decode(tiny: LoadedCsm) -> None:
    # Through the scheduler: two requests in one step, the second's row moved when the first leaves.
    scheduler = scheduler_for(tiny, temperature=0.9)
    first = job_for(tiny, TtsRequest("Short one."), 5)
    second = job_for(tiny, TtsRequest("One sentence. And another."), 7, sentences=2)
    scheduler.submit(first)
    scheduler.submit(second)
    run_to_the_end(scheduler)
    for job in (first, second):
        found = [e for e in events(job) if isinstance(e, FrameAudio)]
        audio = np.concatenate([e.samples for e in found])
        reference = one_shot(
            tiny.model.codec_model, torch.tensor(np.array([e.codes for e in found]))
        )
        assert snr_db(reference, audio) >= MIN_SNR_DB
