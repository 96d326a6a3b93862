"""Where a call's files go, and how they are created: keyed by validated Twilio SIDs, private to us.

Recordings hold callers' voices and words, so they are created owner-only (files 0600, folders 0700)
whatever the process umask, and their names come only from SIDs of Twilio's documented form (two
letters + 32 hex digits): a SID such as ``../../etc/x`` from a forged ``start`` message never
reaches the file system.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import BinaryIO, TextIO

FILE_MODE = 0o600
DIR_MODE = 0o700

_CALL_SID = re.compile(r"CA[0-9a-fA-F]{32}")
_STREAM_SID = re.compile(r"MZ[0-9a-fA-F]{32}")


def is_call_sid(value: str) -> bool:
    """``CA`` + 32 hex digits (Twilio's call SID)."""
    return _CALL_SID.fullmatch(value) is not None


def is_stream_sid(value: str) -> bool:
    """``MZ`` + 32 hex digits (Twilio's media stream SID)."""
    return _STREAM_SID.fullmatch(value) is not None


def call_stem(directory: Path, call_sid: str, stream_sid: str) -> Path:
    """``<directory>/<CallSid>-<StreamSid>`` (add ``.wav`` / ``.jsonl``); ValueError for bad SIDs."""
    if not is_call_sid(call_sid) or not is_stream_sid(stream_sid):
        raise ValueError("not a Twilio call SID (CA + 32 hex) and stream SID (MZ + 32 hex)")
    return directory / f"{call_sid}-{stream_sid}"


def private_dir(directory: Path) -> None:
    """Create ``directory`` (and parents) if needed; the folder itself is made owner-only."""
    directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if directory.stat().st_mode & 0o077:
        directory.chmod(DIR_MODE)


def _open_fd(path: Path, append: bool) -> int:
    private_dir(path.parent)
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags, FILE_MODE)
    os.fchmod(fd, FILE_MODE)  # a file that existed before keeps its mode otherwise
    return fd


def open_private_binary(path: Path, append: bool = False) -> BinaryIO:
    """Open ``path`` for writing bytes (truncated, or appended to), created 0600."""
    return os.fdopen(_open_fd(path, append), "ab" if append else "wb")


def open_private_text(path: Path, append: bool = False) -> TextIO:
    """Open ``path`` for writing UTF-8 text (truncated, or appended to), created 0600."""
    return os.fdopen(_open_fd(path, append), "a" if append else "w", encoding="utf-8")
