"""Per-call JSONL event log: one JSON object per line, flushed as written.

Every line has ``t_ms`` (the call clock: ms since the stream's start) and ``event``; the other keys
depend on the event (turns, marks, dtmf, interruptions, per-stage timings, bad input).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from orchestrator.call_handler import JsonValue
from orchestrator.twilio.call_files import is_call_sid, open_private_text


class CallEventLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open_private_text(path, append=True)  # 0600: it holds what callers said

    def write(self, t_ms: float, event: str, fields: Mapping[str, JsonValue] | None = None) -> None:
        if self._file.closed:
            return
        record: dict[str, JsonValue] = {"t_ms": round(t_ms, 1), "event": event}
        record.update(fields or {})
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def append_lifecycle_event(directory: Path, call_sid: str, fields: Mapping[str, str]) -> None:
    """A status callback's fields, one line in ``<CallSid>.lifecycle.jsonl`` (beside the call's
    recording; status callbacks also arrive before and after its media stream). ValueError for a
    ``call_sid`` that is not a Twilio call SID (it names the file)."""
    if not is_call_sid(call_sid):
        raise ValueError("not a Twilio call SID (CA + 32 hex)")
    with open_private_text(directory / f"{call_sid}.lifecycle.jsonl", append=True) as lifecycle:
        lifecycle.write(json.dumps(dict(fields)) + "\n")
