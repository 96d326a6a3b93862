"""What the frame-loop tests share: the tiny random CSM, a frame scheduler driven by hand (no thread),
and the codes transformers' ``generate`` gives for the same sentence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from serving.tts.contract import TtsOptions, TtsRequest
from serving.tts.csm import LoadedCsm, frame_scheduler, load_csm, model_inputs, sentence_prompts
from serving.tts.csm_generate import generate_kwargs
from serving.tts.csm_scheduler import FrameAudio, FrameScheduler, Job, JobEvent
from serving.tts.sentences import split_sentences
from serving.tts.tiny_csm import tiny_csm_dir

CACHE_DIR = Path(__file__).resolve().parents[2] / ".cache"
Codes = npt.NDArray[np.int64]


def tiny_options(**overrides: Any) -> TtsOptions:
    """Greedy float32 on the CPU unless overridden."""
    settings: dict[str, Any] = {
        "model": str(tiny_csm_dir(CACHE_DIR)),
        "device": "cpu",
        "dtype": "float32",
        "temperature": 0.0,
        "max_concurrent": 4,
    }
    return TtsOptions(**(settings | overrides))


def load_tiny(**overrides: Any) -> LoadedCsm:
    return load_csm(tiny_options(**overrides))


def scheduler_for(loaded: LoadedCsm, **overrides: Any) -> FrameScheduler:
    """A scheduler whose frame boundaries the test runs (``run_once``)."""
    return frame_scheduler(loaded.model, tiny_options(**overrides))


def job_for(loaded: LoadedCsm, request: TtsRequest, max_frames: int, sentences: int = 1) -> Job:
    _, prompts = sentence_prompts(loaded.processor, request)
    return Job(prompts[:sentences], max_frames)


def run_to_the_end(scheduler: FrameScheduler) -> None:
    with torch.inference_mode():
        while scheduler.run_once():
            pass


def events(job: Job) -> list[JobEvent]:
    found: list[JobEvent] = []
    while not job.events.empty():
        found.append(job.events.get_nowait())
    return found


def frame_codes(found: list[JobEvent]) -> Codes:
    codes = [e.codes for e in found if isinstance(e, FrameAudio)]
    return np.array(codes, dtype=np.int64).reshape(len(codes), -1)


def alone(loaded: LoadedCsm, request: TtsRequest, max_frames: int) -> Codes:
    """Our loop's codes for the request's first sentence, with no other request in the pool."""
    scheduler = scheduler_for(loaded)
    job = job_for(loaded, request, max_frames)
    scheduler.submit(job)
    run_to_the_end(scheduler)
    return frame_codes(events(job))


def generated(loaded: LoadedCsm, request: TtsRequest, max_frames: int) -> Codes:
    """``generate``'s greedy codes for the request's first sentence, up to (not with) its end frame."""
    model = loaded.model
    span = split_sentences(request.text)[0]
    inputs = model_inputs(loaded.processor, request, span)
    with torch.inference_mode():
        output = model.generate(**inputs, max_new_tokens=max_frames, **generate_kwargs(model, 0.0))
    frames: list[Codes] = []
    for frame in output[0].numpy():
        if (frame[:-1] == model.config.codebook_eos_token_id).all():
            break
        frames.append(frame)
    return np.array(frames, dtype=np.int64).reshape(len(frames), -1)
