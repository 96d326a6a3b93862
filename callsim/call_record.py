"""What the orchestrator wrote for one call: its JSONL event log (turns, timings) and its recording."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class CallRecord:
    """What the orchestrator wrote for one call."""

    events: list[dict[str, Any]]
    wav: Path | None

    @classmethod
    def load(cls, recordings_dir: Path, call_sid: str) -> CallRecord:
        logs = sorted(recordings_dir.glob(f"{call_sid}*.jsonl")) if recordings_dir.is_dir() else []
        logs = [p for p in logs if not p.name.endswith(".lifecycle.jsonl")]
        if not logs:
            raise FileNotFoundError(f"no event log for {call_sid} in {recordings_dir}")
        events = [json.loads(line) for line in logs[-1].read_text().splitlines() if line]
        wav = logs[-1].with_suffix(".wav")
        return cls(events, wav if wav.exists() else None)

    @classmethod
    def count(cls, recordings_dir: Path, call_sid: str, kind: str, **fields: Any) -> int:
        """Events of ``kind`` (with ``fields``) logged so far; 0 before the log exists."""
        try:
            return len(cls.load(recordings_dir, call_sid).of(kind, **fields))
        except (FileNotFoundError, json.JSONDecodeError):  # not yet written, or mid-line
            return 0

    def of(self, kind: str, **fields: Any) -> list[dict[str, Any]]:
        """Events of ``kind`` whose ``fields`` have the given values."""
        return [
            e
            for e in self.events
            if e.get("event") == kind and all(e.get(k) == v for k, v in fields.items())
        ]

    def transcript(self) -> list[tuple[str, str]]:
        """(speaker, text) in order: what the caller said (with its sentiment label) and what the
        caller heard of the agent."""
        lines = []
        for event in self.events:
            if event.get("event") == "user_turn":
                sentiment = event.get("sentiment")
                mood = f" [{sentiment['label']}]" if isinstance(sentiment, dict) else ""
                lines.append(("caller", f"{event['text']}{mood}"))
            elif event.get("event") == "agent_turn" and event.get("text"):
                mark = " [interrupted]" if event.get("interrupted") else ""
                lines.append(("agent", f"{event['text']}{mark}"))
        return lines
