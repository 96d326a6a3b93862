"""Checks the integration tests make on what a call left behind and on the tasks it leaves."""

from __future__ import annotations

import asyncio
import json
import stat
import wave
from pathlib import Path
from typing import Any

from callsim.call_record import CallRecord
from callsim.twilio_phone import RATE


def assert_recording_complete(recordings: Path, sid: str) -> CallRecord:
    """The call's WAV opens with the wave module (stereo 8 kHz, the header's length matches the file),
    its JSONL parses line by line and ends with ``end``; both are owner-only."""
    stems = [p for p in recordings.glob(f"{sid}-*.jsonl")]
    assert len(stems) == 1, stems
    lines = stems[0].read_text().splitlines()
    events = [json.loads(line) for line in lines]  # every line parses
    assert events and events[-1]["event"] == "end", events[-3:]
    wav_path = stems[0].with_suffix(".wav")
    with wave.open(str(wav_path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, RATE)
        frames = wav.getnframes()
        assert len(wav.readframes(frames)) == frames * 4
    assert wav_path.stat().st_size == 44 + frames * 4
    for path in (wav_path, stems[0]):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(recordings.stat().st_mode) == 0o700
    return CallRecord.load(recordings, sid)


async def wait_for(condition: Any, timeout_s: float) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 - polling files the server writes
            await asyncio.sleep(0.05)


def call_tasks(*names: str) -> list[asyncio.Task[Any]]:
    """Tasks of this event loop still working for the call (named after its call or stream SID)."""
    return [
        t for t in asyncio.all_tasks() if any(n in t.get_name() for n in names) and not t.done()
    ]
