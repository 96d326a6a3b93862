"""Fuzzing the sans-I/O MediaStreamSession with hypothesis: thousands of generated frames (malformed
JSON, wrong types, huge and forged payloads, bad base64, path-traversal SIDs, events out of order).

Invariants: ``receive_text`` never raises and answers None or a ``StopReason``; every rejected frame is counted
under a known reason; memory stays bounded (tracemalloc peak); nothing is written outside the
recordings folder, and every file there is a readable recording named by valid SIDs.
"""

from __future__ import annotations

import asyncio
import base64
import json
import tracemalloc
import wave
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callsim.handlers import RecordingHandler
from callsim.twilio_messages import MULAW_8K, start_message
from orchestrator.call_handler import StopReason
from orchestrator.edge_options import OutboundOptions, SessionOptions
from orchestrator.twilio.call_files import is_call_sid, is_stream_sid
from orchestrator.twilio.metrics import EdgeMetrics
from orchestrator.twilio.session import MediaStreamSession

CALL_SID = "CA" + "ab" * 16
STREAM_SID = "MZ" + "cd" * 16
KNOWN_REASONS = {
    "oversized",
    "malformed",
    "unknown_event",
    "binary",
    "second_start",
    "media_before_start",
    "wrong_track",
    "mark_before_start",
    "unknown_mark",
    "dtmf_before_start",
    "bad_sid",
    "bad_timestamp",
}
MAX_PEAK_BYTES = 64 * 1024 * 1024

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
sids = st.sampled_from(
    [
        CALL_SID,
        STREAM_SID,
        "../../etc/passwd",
        "CA1",
        "",
        "CA" + "g" * 32,
        "/abs/path",
        "..",
        "a\x00b",
    ]
) | st.text(max_size=40)
base64_payloads = st.binary(max_size=12_000).map(lambda b: base64.b64encode(b).decode())
payloads = base64_payloads | st.text(max_size=200) | json_values
timestamps = st.integers(-(10**12), 10**12).map(str) | st.integers(0, 10_000).map(str) | json_values


starts = st.builds(
    lambda call_sid, stream_sid, fmt: start_message(call_sid, stream_sid, {"From": "+1555"}, fmt),
    sids,
    sids,
    st.just(MULAW_8K) | json_values,
) | st.just(start_message(CALL_SID, STREAM_SID, {"From": "+1555"}))
medias = st.builds(
    lambda payload, ts, track: {
        "event": "media",
        "media": {"track": track, "chunk": "1", "timestamp": ts, "payload": payload},
    },
    payloads,
    timestamps,
    st.sampled_from(["inbound", "outbound", 7]),
)
marks = st.builds(lambda name: {"event": "mark", "mark": {"name": name}}, json_values)
dtmfs = st.builds(lambda digit: {"event": "dtmf", "dtmf": {"digit": digit}}, json_values)
others = st.builds(
    lambda event, body: {"event": event, **body},
    st.sampled_from(["connected", "stop", "clear", "bogus", ""]) | json_values,
    st.dictionaries(st.text(max_size=8), json_values, max_size=3),
)
messages = (starts | medias | marks | dtmfs | others).map(json.dumps)
garbage = st.text(max_size=300) | st.sampled_from(["{", "[]", "null", '{"event": 1}', "\x00" * 10])
huge = st.integers(60_000, 300_000).map(lambda n: '{"event":"media","media":"' + "A" * n + '"}')
frames = messages | garbage | huge
calls = st.lists(frames, min_size=1, max_size=25)


def bad_input_total(metrics: EdgeMetrics) -> dict[str, float]:
    totals: dict[str, float] = {}
    for metric in metrics.bad_messages.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                totals[sample.labels["reason"]] = sample.value
    return totals


async def feed(frames_in: list[str], recordings: Path) -> None:
    async def send(text: str) -> None:
        return None

    async def close() -> None:
        return None

    metrics = EdgeMetrics.create()
    options = SessionOptions(recordings, OutboundOptions(chunk_ms=100, max_lead_ms=1000))
    session = MediaStreamSession(RecordingHandler, options, send, close, metrics)
    for frame in frames_in:
        over = await session.receive_text(frame)
        assert over is None or isinstance(over, StopReason)
        if over is not None:
            break
    session.receive_binary(3)
    await session.end(StopReason.DISCONNECTED)
    assert set(bad_input_total(metrics)) <= KNOWN_REASONS


def test_fuzzed_frames_never_crash_the_session(tmp_path: Path) -> None:
    fuzzed = 0
    outside = tmp_path / "outside"
    recordings = outside / "recordings"

    @settings(
        max_examples=250,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        derandomize=True,
    )
    @given(calls)
    def run(frames_in: list[str]) -> None:
        nonlocal fuzzed, peak
        fuzzed += len(frames_in)
        # The peak of each call on its own: hypothesis' bookkeeping between examples is not ours.
        tracemalloc.reset_peak()
        asyncio.run(feed(frames_in, recordings))
        peak = max(peak, tracemalloc.get_traced_memory()[1])

    peak = 0
    tracemalloc.start()
    try:
        run()
    finally:
        tracemalloc.stop()
    assert fuzzed >= 1000, fuzzed
    assert peak < MAX_PEAK_BYTES, f"peak {peak / 1e6:.1f} MB"
    # Nothing escaped the recordings folder, and what is in it is a valid call's files.
    assert {p for p in tmp_path.rglob("*") if p.is_file() and recordings not in p.parents} == set()
    for path in recordings.glob("*") if recordings.exists() else []:
        call_sid, stream_sid = path.stem.split("-")
        assert is_call_sid(call_sid) and is_stream_sid(stream_sid), path
        if path.suffix == ".wav":
            with wave.open(str(path)) as wav:
                assert wav.getnchannels() == 2
        else:
            assert all(json.loads(line) for line in path.read_text().splitlines())
