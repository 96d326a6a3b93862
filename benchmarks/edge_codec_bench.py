"""Twilio edge costs: codec + resampler per 20 ms frame, soxr lag, and the WebSocket relay overhead.

``python -m benchmarks.edge_codec_bench`` writes ``benchmarks/results/edge-codec-<stamp>.json``.

- ``inbound_frame``: one 160-byte mu-law frame -> 8 kHz int16 -> 16 kHz (what every caller frame costs).
- ``outbound_frame_<rate>``: 20 ms of float agent audio at <rate> -> 8 kHz -> mu-law.
- ``session_media_message``: ``MediaStreamSession.receive_text`` for one media message (JSON, base64,
  codec, recording), no network.
- ``resampler_lag_<quality>``: how far soxr's 8 -> 16 kHz output trails its input on 20 ms frames.
- ``relay_inbound``: a media frame sent by a simulated Twilio client over a real WebSocket to a real
  uvicorn -> the handler's ``on_audio``; ``relay_outbound``: ``send_audio`` of 20 ms -> the media
  message at the client. Client and server share one event loop, so these include both sides.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from benchmarks.results_file import percentiles_ms, write_result
from callsim.handlers import RecordingHandler
from callsim.harness import new_call_sid
from callsim.twilio_dialer import SIMULATED_AUTH_TOKEN, dial
from callsim.twilio_messages import media_message, start_message
from callsim.twilio_phone import serve_app
from orchestrator.app import create_app
from orchestrator.call_handler import StopReason
from orchestrator.edge_options import OutboundOptions, SessionOptions
from orchestrator.settings import Settings
from orchestrator.twilio import mulaw
from orchestrator.twilio.audio import InboundAudio, OutboundAudio
from orchestrator.twilio.metrics import EdgeMetrics
from orchestrator.twilio.resampler import StreamingResampler
from orchestrator.twilio.session import MediaStreamSession


def speechlike(rate: int, seconds: float) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(0)
    t = np.arange(int(rate * seconds)) / rate
    voiced = 0.3 * np.sin(2 * np.pi * 180 * t) + 0.1 * np.sin(2 * np.pi * 1200 * t)
    return (voiced + 0.02 * rng.standard_normal(len(t))).astype(np.float32)


def time_each(items: list[Any], work: Callable[[Any], object]) -> list[float]:
    durations = []
    for item in items:
        started = time.perf_counter()
        work(item)
        durations.append(time.perf_counter() - started)
    return durations


def codec_figures(frames: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    caller = mulaw.encode((speechlike(8000, frames * 0.02) * 32767).astype(np.int16))
    inbound = InboundAudio()
    payloads = [caller[i : i + 160] for i in range(0, len(caller), 160)]
    figures["inbound_frame"] = percentiles_ms(time_each(payloads, inbound.convert))
    for rate in (16000, 22050, 24000):
        outbound = OutboundAudio()
        agent = speechlike(rate, frames * 0.02)
        step = rate // 50
        pieces = [agent[i : i + step] for i in range(0, len(agent) - step + 1, step)]
        figures[f"outbound_frame_{rate}"] = percentiles_ms(
            time_each(pieces, lambda p: mulaw.encode(outbound.convert(p, rate, False)))  # noqa: B023
        )
    for quality in ("QQ", "LQ", "HQ"):
        resampler = StreamingResampler(8000, 16000, quality)
        fed = produced = 0
        lags = []
        for index in range(0, 8000 * 5, 160):
            produced += len(resampler.process(np.zeros(160, np.int16) + index % 7))
            fed += 160
            if index >= 8000:  # steady state
                lags.append(fed / 8000 * 1000 - produced / 16000 * 1000)
        figures[f"resampler_lag_{quality}"] = {
            "min_ms": round(min(lags), 2),
            "mean_ms": round(float(np.mean(lags)), 2),
            "max_ms": round(max(lags), 2),
        }
    return figures


async def session_figures(frames: int, recordings: Path) -> dict[str, Any]:
    async def discard(text: str) -> None: ...

    session = MediaStreamSession(
        RecordingHandler,
        SessionOptions(recordings, OutboundOptions()),
        discard,
        discard,  # type: ignore[arg-type]
        EdgeMetrics.create(),
    )
    call_sid, stream_sid = "CA" + "0" * 32, "MZ" + "0" * 32
    await session.receive_text(json.dumps(start_message(call_sid, stream_sid)))
    caller = mulaw.encode((speechlike(8000, frames * 0.02) * 32767).astype(np.int16))
    messages = [
        json.dumps(media_message(stream_sid, caller[i : i + 160], i // 8))
        for i in range(0, len(caller), 160)
    ]
    durations = []
    for message in messages:
        started = time.perf_counter()
        await session.receive_text(message)
        durations.append(time.perf_counter() - started)
    await session.end(StopReason.STOPPED)
    return {"session_media_message": percentiles_ms(durations)}


async def relay_figures(frames: int, recordings: Path) -> dict[str, Any]:
    handlers: list[RecordingHandler] = []

    def factory() -> RecordingHandler:
        handlers.append(RecordingHandler())
        return handlers[-1]

    settings = Settings(
        recordings_dir=str(recordings), playout_chunk_ms=20, twilio_auth_token=SIMULATED_AUTH_TOKEN
    )
    async with serve_app(create_app(settings, handler_factory=factory)) as base:
        phone = await dial(base, new_call_sid())
        await phone.connect()
        while not handlers:  # noqa: ASYNC110 - the handler appears with the start message
            await asyncio.sleep(0.001)
        output = await handlers[0].started_output()
        payload = base64.b64decode(base64.b64encode(b"\x7f" * 160))
        sent_at = []
        for index in range(frames):
            sent_at.append(time.perf_counter())
            await phone.send_json(media_message(phone.stream_sid, payload, index * 20))
            await asyncio.sleep(0.002)
        while len(handlers[0].audio_times) < frames:  # noqa: ASYNC110 - a benchmark's wait
            await asyncio.sleep(0.001)
        inbound = [done - sent for sent, done in zip(sent_at, handlers[0].audio_times, strict=True)]

        outbound = []
        chunk = np.zeros(160, np.int16) + 100
        for index in range(frames // 5):
            count = len(phone.log.media_arrivals)
            started = time.perf_counter()
            await output.send_audio(chunk, 8000, f"b{index}")
            while len(phone.log.media_arrivals) == count:  # noqa: ASYNC110 - a benchmark's wait
                await asyncio.sleep(0)
            outbound.append(time.perf_counter() - started)
            await asyncio.sleep(0.025)  # let it play out, so the lead never holds it back
        await phone.stop()
    return {"relay_inbound": percentiles_ms(inbound), "relay_outbound": percentiles_ms(outbound)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=3000, help="20 ms frames per codec measure")
    parser.add_argument("--relay-frames", type=int, default=500)
    args = parser.parse_args()
    figures = codec_figures(args.frames)
    with tempfile.TemporaryDirectory() as recordings:
        figures.update(asyncio.run(session_figures(args.frames, Path(recordings))))
        figures.update(asyncio.run(relay_figures(args.relay_frames, Path(recordings))))
    path = write_result("edge-codec", "cpu", figures)
    print(f"{'measure':<26}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}")
    for name, row in figures.items():
        if "n" in row:
            print(
                f"{name:<26}{row['n']:>6}{row['p50_ms']:>10}{row['p95_ms']:>10}{row['max_ms']:>10}"
            )
        else:
            print(f"{name:<26}{'':>6}{row['min_ms']:>10}{row['mean_ms']:>10}{row['max_ms']:>10}")
    print(f"results: {path}")


if __name__ == "__main__":
    main()
