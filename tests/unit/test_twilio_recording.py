"""Stereo WAV written incrementally on the call clock; JSONL event log."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np

from orchestrator.twilio.event_log import CallEventLog
from orchestrator.twilio.recording import StereoRecorder


def read_stereo(path: Path) -> np.ndarray:
    with wave.open(str(path)) as wav:
        assert wav.getnchannels() == 2 and wav.getsampwidth() == 2 and wav.getframerate() == 8000
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16).reshape(-1, 2)


def test_channels_positions_and_silence(tmp_path: Path) -> None:
    recorder = StereoRecorder(tmp_path / "call.wav")
    recorder.put_caller(0, np.full(100, 1, np.int16))
    recorder.put_agent(50, np.full(100, 2, np.int16))
    recorder.put_caller(300, np.full(10, 3, np.int16))
    recorder.close()
    frames = read_stereo(tmp_path / "call.wav")
    assert len(frames) == 310
    assert (frames[:100, 0] == 1).all() and (frames[100:300, 0] == 0).all()
    assert (frames[300:, 0] == 3).all()
    assert (frames[:50, 1] == 0).all() and (frames[50:150, 1] == 2).all()
    assert (frames[150:, 1] == 0).all()


def test_committed_part_is_readable_before_close(tmp_path: Path) -> None:
    recorder = StereoRecorder(tmp_path / "call.wav")
    recorder.put_caller(0, np.full(8000, 5, np.int16))
    recorder.commit(4000)
    frames = read_stereo(tmp_path / "call.wav")  # as a crash would leave it
    assert len(frames) == 4000 and (frames[:, 0] == 5).all()
    recorder.put_agent(3000, np.full(2000, 7, np.int16))  # partly late
    assert recorder.late_samples == 1000
    recorder.close()
    frames = read_stereo(tmp_path / "call.wav")
    assert len(frames) == 8000
    assert (frames[4000:5000, 1] == 7).all() and (frames[:4000, 1] == 0).all()
    recorder.close()  # idempotent


def test_event_log_lines(tmp_path: Path) -> None:
    log = CallEventLog(tmp_path / "call.jsonl")
    log.write(1.23, "start", {"stream_sid": "MZ1"})
    log.write(20.0, "dtmf", {"digit": "5"})
    lines = [json.loads(line) for line in (tmp_path / "call.jsonl").read_text().splitlines()]
    assert lines == [
        {"t_ms": 1.2, "event": "start", "stream_sid": "MZ1"},
        {"t_ms": 20.0, "event": "dtmf", "digit": "5"},
    ]
    log.close()
    log.write(30.0, "late", None)  # after close: ignored
