"""Structured logs: one JSON object per line, carrying the call SID of the call being handled.

The call SID lives in a context variable: set it once in a call's task (``call_sid_var.set``) and
every log line from that task, and from tasks it creates, carries it.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime

call_sid_var: ContextVar[str | None] = ContextVar("call_sid", default=None)


class CallSidFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.call_sid = call_sid_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        call_sid = getattr(record, "call_sid", None)
        if call_sid:
            line["call_sid"] = call_sid
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line)


def configure_logging(level: str = "INFO", json_lines: bool = True) -> None:
    """Install one stderr handler on the root logger (replacing earlier ones from here)."""
    handler = logging.StreamHandler()
    handler.addFilter(CallSidFilter())
    handler.setFormatter(
        JsonFormatter()
        if json_lines
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(call_sid)s] %(message)s")
    )
    handler.set_name("client-caller")
    root = logging.getLogger()
    for existing in [h for h in root.handlers if h.get_name() == "client-caller"]:
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
