"""The frame scheduler (serving/tts/csm_scheduler.py) on the tiny random CSM, its frame boundaries run
by the test: requests batched into one step give each the codes it gets alone, a cancelled one leaves
at the next boundary, context audio is encoded once, and the engine's threads read it all."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from serving.tts.contract import ContextTurn, TtsRequest
from serving.tts.csm import CsmTtsEngine, LoadedCsm
from serving.tts.csm_scheduler import FrameAudio, JobEnd, SentenceEnd
from tests.unit.tiny_csm_frames import (
    alone,
    events,
    frame_codes,
    job_for,
    load_tiny,
    run_to_the_end,
    scheduler_for,
    tiny_options,
)

RNG = np.random.default_rng(3)
SPEECH = (0.1 * RNG.standard_normal(16_000)).astype(np.float32)
REQUESTS = [
    TtsRequest("Hello there."),
    TtsRequest("How are you today, my friend?", speaker_id=1),
    TtsRequest("Yes.", 0, (ContextTurn("Earlier words.", 1, SPEECH),)),
    TtsRequest("A fourth one, a little longer than the others."),
]
LENGTHS = [14, 20, 9, 16]  # frames each request runs for


@pytest.fixture(scope="module")
def tiny() -> LoadedCsm:
    return load_tiny()


@pytest.fixture(scope="module")
def solo(tiny: LoadedCsm) -> list[np.ndarray]:
    return [alone(tiny, r, n) for r, n in zip(REQUESTS, LENGTHS, strict=True)]


def test_requests_started_at_different_frames_get_the_codes_they_get_alone(
    tiny: LoadedCsm, solo: list[np.ndarray]
) -> None:
    scheduler = scheduler_for(tiny)
    jobs = []
    peak = 0
    for request, frames in zip(REQUESTS, LENGTHS, strict=True):
        jobs.append(job_for(tiny, request, frames))
        scheduler.submit(jobs[-1])
        for _ in range(3):  # the next one joins three frames later
            scheduler.run_once()
            peak = max(peak, scheduler.active)
    assert peak == 4
    run_to_the_end(scheduler)
    assert scheduler.active == 0
    for job, expected in zip(jobs, solo, strict=True):
        found = events(job)
        np.testing.assert_array_equal(frame_codes(found), expected)
        assert found[-2:] == [SentenceEnd(0), JobEnd()]


def test_a_cancelled_request_leaves_at_the_next_frame_and_the_others_go_on(
    tiny: LoadedCsm, solo: list[np.ndarray]
) -> None:
    scheduler = scheduler_for(tiny)
    jobs = [job_for(tiny, r, n) for r, n in zip(REQUESTS[:3], LENGTHS[:3], strict=True)]
    for job in jobs:
        scheduler.submit(job)
    for _ in range(4):
        scheduler.run_once()
    jobs[1].cancel()
    before = sum(isinstance(e, FrameAudio) for e in list(jobs[1].events.queue))
    scheduler.run_once()  # the boundary frees its slot before the step
    assert scheduler.active == 2
    found = events(jobs[1])
    assert sum(isinstance(e, FrameAudio) for e in found) == before == 4
    assert found[-1] == JobEnd()
    run_to_the_end(scheduler)
    for job, expected in zip((jobs[0], jobs[2]), (solo[0], solo[2]), strict=True):
        np.testing.assert_array_equal(frame_codes(events(job)), expected)


def test_a_freed_slot_takes_the_next_waiting_request(
    tiny: LoadedCsm, solo: list[np.ndarray]
) -> None:
    scheduler = scheduler_for(tiny, max_concurrent=2)
    jobs = [job_for(tiny, r, n) for r, n in zip(REQUESTS[:3], LENGTHS[:3], strict=True)]
    for job in jobs:
        scheduler.submit(job)
    scheduler.run_once()
    assert scheduler.active == 2  # the third waits
    run_to_the_end(scheduler)
    for job, expected in zip(jobs, solo[:3], strict=True):
        np.testing.assert_array_equal(frame_codes(events(job)), expected)


def test_context_audio_is_encoded_once_for_every_sentence_and_request(tiny: LoadedCsm) -> None:
    scheduler = scheduler_for(tiny)
    context = scheduler.embed.context  # type: ignore[attr-defined]
    request = TtsRequest("One. Two. Three.", 0, (ContextTurn("Before.", 1, SPEECH),))
    first = job_for(tiny, request, 3, sentences=3)
    second = job_for(tiny, request, 3, sentences=3)
    scheduler.submit(first)
    scheduler.submit(second)
    run_to_the_end(scheduler)
    assert context.encoded == 1
    for job in (first, second):
        found = events(job)
        assert sum(isinstance(e, FrameAudio) for e in found) == 9
        assert found[-1] == JobEnd()


def test_a_prompt_longer_than_the_cache_fails_its_request_only(tiny: LoadedCsm) -> None:
    scheduler = scheduler_for(tiny)
    long = job_for(tiny, TtsRequest("x" * 2100), 4)
    short = job_for(tiny, REQUESTS[0], 4)
    scheduler.submit(long)
    scheduler.submit(short)
    run_to_the_end(scheduler)
    assert isinstance(events(long)[0], ValueError)
    assert sum(isinstance(e, FrameAudio) for e in events(short)) == 4


def test_the_engine_serves_threads_at_once_each_as_alone(
    tiny: LoadedCsm, solo: list[np.ndarray]
) -> None:
    engine = CsmTtsEngine(tiny_options(max_sentence_s=14 * 0.08), tiny)
    try:
        audio: dict[int, np.ndarray] = {}

        def speak(index: int) -> None:
            chunks = list(engine.synthesize(REQUESTS[index], lambda: False))
            audio[index] = np.concatenate([c.samples for c in chunks])

        threads = [threading.Thread(target=speak, args=(i,)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        lone = np.concatenate([c.samples for c in engine.synthesize(REQUESTS[0], lambda: False)])
        assert {i: a.size for i, a in audio.items()} == {0: 14 * 1920, 1: 14 * 1920, 2: 14 * 1920}
        np.testing.assert_allclose(audio[0], lone, atol=1e-5)
    finally:
        engine.close()
