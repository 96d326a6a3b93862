"""The Python-backend models' backlog gauges (serving/python_backend.py) on Triton's metrics port: more
``tts`` requests than the model serves at once wait for a thread, and ``cc_model_requests_waiting`` says
so, while Triton's own queue gauge is back at 0 (``execute`` hands each request to the pool at once)."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.triton_stream import StreamResult, stream_request, text_tensor
from callsim.voices import piper_available
from serving.launcher import TritonServer

pytestmark = pytest.mark.skipif(not piper_available(), reason="needs the piper-voice extra")

# Long enough (under max_text_chars) that a request keeps its slot for a second or more on this CPU.
TEXT = (
    "Thank you for calling the clinic. Your appointment is on Monday at ten in the morning. "
    "Please bring your insurance card and a list of the medicines you take. "
    "If you need to change the time, call us back before Friday at noon. "
    "Parking is free behind the building, and the entrance is on the left. "
    "We look forward to seeing you, and have a lovely weekend."
)
EXTRA_REQUESTS = 2  # beyond the model's slots: these must wait
GAUGES = ("cc_model_requests_waiting", "cc_model_requests_running", "cc_model_request_slots")
TRITON_QUEUE = "nv_inference_pending_request_count"

Sample = dict[str, float]


def tts_sample(metrics_url: str) -> Sample:
    """The tts series of our gauges and Triton's pending-request gauge, from one scrape."""
    with urllib.request.urlopen(metrics_url, timeout=5) as response:
        text = response.read().decode()
    sample: Sample = {}
    for family in text_string_to_metric_families(text):
        for series in family.samples:
            if series.name in (*GAUGES, TRITON_QUEUE) and series.labels.get("model") == "tts":
                sample[series.name] = series.value
    return sample


def poll(metrics_url: str, done: Callable[[Sample], bool], timeout_s: float) -> list[Sample]:
    """Scrapes until ``done(sample)``; every sample taken, the last one satisfying it."""
    samples: list[Sample] = []
    deadline = time.monotonic() + timeout_s
    while True:
        samples.append(tts_sample(metrics_url))
        if done(samples[-1]):
            return samples
        assert time.monotonic() < deadline, f"condition not met in {timeout_s} s: {samples[-5:]}"
        time.sleep(0.02)  # between scrapes, not a synchronisation: the condition is polled


def test_requests_beyond_the_slots_wait_and_the_gauges_say_so(triton: TritonServer) -> None:
    idle = tts_sample(triton.metrics_url)
    slots = int(idle["cc_model_request_slots"])
    assert slots >= 1
    assert idle["cc_model_requests_waiting"] == 0 and idle["cc_model_requests_running"] == 0

    def speak(_: int) -> StreamResult:
        return stream_request(triton.grpc_url, "tts", [text_tensor("text", TEXT)])

    with ThreadPoolExecutor(slots + EXTRA_REQUESTS) as clients:
        results = clients.map(speak, range(slots + EXTRA_REQUESTS))
        # Every request accepted: the slots are all taken and the rest wait for a thread.
        samples = poll(
            triton.metrics_url,
            lambda s: (
                s["cc_model_requests_waiting"] == EXTRA_REQUESTS
                and s["cc_model_requests_running"] == slots
            ),
            timeout_s=60,
        )
        busy = samples[-1]
        finished = list(results)
    assert all(r.error is None and r.final_at is not None for r in finished), finished
    # Triton's queue held the requests only until execute took them (a few ms), not while they waited.
    assert busy[TRITON_QUEUE] == 0, samples

    after = poll(
        triton.metrics_url,
        lambda s: s["cc_model_requests_waiting"] == 0 and s["cc_model_requests_running"] == 0,
        timeout_s=10,
    )[-1]
    assert after["cc_model_request_slots"] == slots
    ends = ", ".join(f"{r.final_at:.2f}" for r in finished)
    print(f"tts slots={slots}; busy: {busy}; after: {after}; requests done at {ends} s")
