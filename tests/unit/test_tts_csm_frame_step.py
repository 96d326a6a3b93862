"""Our frame loop over CSM's modules (serving/tts/csm_frame_step.py) against transformers' ``generate``
on the tiny random CSM: greedy, float32 on the CPU, the same codes frame for frame; bf16 runs the same
code path; no tensor of ours lands on a device it was not told."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from serving.tts.contract import ContextTurn, TtsRequest
from serving.tts.csm import LoadedCsm
from serving.tts.csm_scheduler import FrameAudio, JobEnd, SentenceEnd
from tests.unit.tiny_csm_frames import (
    alone,
    events,
    generated,
    job_for,
    load_tiny,
    run_to_the_end,
    scheduler_for,
)

FRAMES = 24  # more than the tiny Mimi's sliding window (16 positions = 8 frames)
RNG = np.random.default_rng(7)
SPEECH = (0.1 * RNG.standard_normal(24_000)).astype(np.float32)  # 1 s of context audio
REQUESTS = [
    TtsRequest("Hello there."),
    TtsRequest("How are you today, my friend?", speaker_id=1),
    TtsRequest("Yes.", 0, (ContextTurn("Earlier words.", 1, SPEECH),)),
    TtsRequest(
        "Two turns before this one.",
        0,
        (ContextTurn("First.", 0, SPEECH[:9_000]), ContextTurn("Second one.", 1, SPEECH)),
    ),
]


@pytest.fixture(scope="module")
def tiny() -> LoadedCsm:
    return load_tiny()


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: r.text)
def test_greedy_codes_are_generates_frame_for_frame(tiny: LoadedCsm, request_: TtsRequest) -> None:
    ours = alone(tiny, request_, FRAMES)
    assert ours.shape == (FRAMES, tiny.model.config.num_codebooks)
    np.testing.assert_array_equal(ours, generated(tiny, request_, FRAMES))


def test_the_end_of_audio_frame_ends_the_sentence_as_in_generate(tiny: LoadedCsm) -> None:
    # Depth heads at zero choose code 0 (the first of equal logits), a boosted lm_head row 0 soon
    # chooses it for codebook 0 too: the end-of-audio frame, after one frame of audio.
    model = copy.deepcopy(tiny.model)
    with torch.no_grad():
        model.depth_decoder.codebooks_head.weight.zero_()
        model.lm_head.weight[0] *= 3
    loaded = LoadedCsm(tiny.processor, model)
    request = TtsRequest("Hello there. And more.")
    reference = generated(loaded, request, FRAMES)
    assert 0 < len(reference) < FRAMES
    scheduler = scheduler_for(loaded)
    job = job_for(loaded, request, FRAMES, sentences=2)
    scheduler.submit(job)
    run_to_the_end(scheduler)
    found = events(job)
    first = [e for e in found[: found.index(SentenceEnd(0))] if isinstance(e, FrameAudio)]
    np.testing.assert_array_equal(np.array([e.codes for e in first]), reference)
    assert found[-2:] == [SentenceEnd(1), JobEnd()]


def test_bfloat16_runs_the_same_path_with_context_and_gives_finite_audio() -> None:
    loaded = load_tiny(dtype="bfloat16")
    scheduler = scheduler_for(loaded, dtype="bfloat16", temperature=0.9)
    job = job_for(loaded, REQUESTS[3], 6)
    scheduler.submit(job)
    run_to_the_end(scheduler)
    audio = [e.samples for e in events(job) if isinstance(e, FrameAudio)]
    assert len(audio) == 6
    assert all(a.dtype == np.float32 and a.size == 1920 and np.isfinite(a).all() for a in audio)


def test_every_tensor_the_loop_makes_names_its_device(tiny: LoadedCsm) -> None:
    # With the default device on meta, a tensor made without device= would land there and the step
    # would fail mixing it with the model's (on the GPU: host tensors in a device computation).
    scheduler = scheduler_for(tiny)
    job = job_for(tiny, REQUESTS[3], 4, sentences=1)
    with torch.device("meta"):
        scheduler.submit(job)
        run_to_the_end(scheduler)
    found = events(job)
    assert not [e for e in found if isinstance(e, BaseException)]
    assert sum(isinstance(e, FrameAudio) for e in found) == 4
