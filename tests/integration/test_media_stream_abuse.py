"""Bad input and overload over a real WebSocket (uvicorn, the tone-responder edge; no Triton):
a seeded sample of malformed frames never takes the stream or the server down, and a stream beyond
``max_concurrent_calls`` is refused with close code 1013 while the admitted call goes on."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random
from pathlib import Path

import numpy as np
from call_checks import assert_recording_complete, wait_for
from websockets.exceptions import ConnectionClosed

from callsim.handlers import RecordingHandler
from callsim.twilio_dialer import SIMULATED_AUTH_TOKEN, dial
from callsim.twilio_phone import serve_app
from orchestrator.app import create_app
from orchestrator.settings import Settings


def bad_frames(count: int, seed: int = 9) -> list[str]:
    rng = random.Random(seed)
    makers = [
        lambda: "{not json",
        lambda: json.dumps([1, 2, 3]),
        lambda: json.dumps({"event": rng.choice([1, None, "zzz", ""])}),
        lambda: json.dumps({"event": "media", "media": {"payload": "!!notbase64!!"}}),
        lambda: json.dumps(
            {
                "event": "media",
                "media": {
                    "track": "inbound",
                    "chunk": "1",
                    "timestamp": str(rng.choice([-5, 10**12])),
                    "payload": base64.b64encode(b"\xff" * 160).decode(),
                },
            }
        ),
        lambda: json.dumps({"event": "media", "media": {"payload": "A" * 200_000}}),
        lambda: json.dumps({"event": "mark", "mark": {"name": rng.random()}}),
        lambda: json.dumps({"event": "mark", "mark": {"name": "never-sent"}}),
        lambda: json.dumps({"event": "dtmf", "dtmf": {"digit": ["1"]}}),
        lambda: json.dumps({"event": "start", "start": {"callSid": "../../etc", "streamSid": 1}}),
    ]
    return [rng.choice(makers)() for _ in range(count)]


async def test_bad_frames_over_the_socket_and_the_call_limit(tmp_path: Path) -> None:
    recordings = tmp_path / "recordings"
    settings = Settings(
        recordings_dir=str(recordings),
        max_concurrent_calls=1,
        log_json=False,
        twilio_auth_token=SIMULATED_AUTH_TOKEN,
    )
    app = create_app(settings, RecordingHandler)
    async with serve_app(app) as base:
        phone = await dial(base, "CA" + "a5" * 16)
        # Answered by the webhook while a slot was free; refused at its start, after phone's.
        refused = await dial(base, "CA" + "a6" * 16)
        await phone.connect()
        for frame in bad_frames(120):
            await phone.ws.send(frame)
        await phone.ws.send(b"\x00\x01binary")

        with contextlib.suppress(ConnectionClosed):  # closed as it says hello
            await refused.connect()
        await asyncio.wait_for(refused.closed.wait(), timeout=5)
        assert refused.ws.close_code == 1013

        # The admitted call still works: a valid frame is taken, then it ends cleanly.
        await phone.send_audio_realtime(np.zeros(1600, np.int16))
        assert not phone.closed.is_set()
        await phone.stop()
        await wait_for(lambda: app.state.admission.active == 0, timeout_s=5)

    record = assert_recording_complete(recordings, phone.call_sid)
    reasons = {e["reason"] for e in record.of("bad_input")}
    assert {"malformed", "oversized", "bad_timestamp", "binary", "unknown_mark"} <= reasons, reasons
    metrics = app.state.metrics.registry.get_sample_value(
        "cc_calls_refused_total", {"where": "stream"}
    )
    assert metrics == 1.0
    assert not list(tmp_path.rglob("*etc*"))  # noqa: ASYNC240 - a test
