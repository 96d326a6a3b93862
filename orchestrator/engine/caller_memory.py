"""Caller memory in the call's life: the caller's brief loaded at call start, the call remembered after
hang-up, a caller forgotten on request. The store (orchestrator/memory/) is synchronous SQL: every
database call runs in a worker thread, never on the event loop the calls' audio runs on.

- **Start** (:meth:`CallerMemory.load`): the caller's last few calls, newest first, within a token budget
  (:func:`~orchestrator.memory.prompt_budget.memory_brief`); one indexed range read. Loaded beside the
  greeting, never before it: the first reply, seconds later, is the first to need it.
- **After hang-up** (:meth:`CallerMemory.remember`): the served LLM summarises the heard transcript
  (orchestrator/conversation/call_summary.py), and the summary, facts, transcript and sentiment are
  stored. It runs as a task of this object, not of the call, so the call's end does not cancel it, and
  the orchestrator's shutdown waits for it (:meth:`aclose`).
- **Retention**: calls older than ``memory_retention_days`` are deleted at start and then at most hourly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from orchestrator.conversation.call_summary import parse_summary, summary_request
from orchestrator.conversation.history import HistoryTurn
from orchestrator.conversation.prompts import Role, Turn, build_prompt
from orchestrator.engine.metrics import ConversationMetrics
from orchestrator.engine.models import Models
from orchestrator.memory.call_memory import CallMemory, JsonValue, TranscriptTurn
from orchestrator.memory.caller_key import caller_key
from orchestrator.memory.prompt_budget import MemoryBrief, memory_brief
from orchestrator.memory.store import CallerMemoryStore
from orchestrator.settings import Settings

log = logging.getLogger(__name__)

SUMMARY_SYSTEM_PROMPT = "You write short, factual notes about phone calls for a restaurant's staff."
SUMMARY_TIMEOUT_S = 120.0
PURGE_EVERY_S = 3600.0
CLOSE_TIMEOUT_S = 60.0
DATABASE_FILE = "caller-memory.sqlite3"


class MemorySettingsError(ValueError):
    """Memory is switched on without what it needs."""


def caller_number(parameters: Mapping[str, str]) -> str | None:
    """The other party's number: ``From`` of an inbound call, ``to`` of one we placed (the stream's
    ``<Parameter>``s, orchestrator/app.py and orchestrator/twilio/outbound_calls.py)."""
    if parameters.get("direction") == "outbound":
        return parameters.get("to")
    return parameters.get("From")


def database_url(settings: Settings) -> str:
    if settings.memory_database_url:
        return settings.memory_database_url
    return f"sqlite:///{Path(settings.recordings_dir).resolve() / DATABASE_FILE}"


class CallerMemory:
    def __init__(
        self,
        settings: Settings,
        models: Models,
        metrics: ConversationMetrics,
        store: CallerMemoryStore,
    ) -> None:
        self._settings = settings
        self._models = models
        self._metrics = metrics
        self._store = store
        self._secret = settings.memory_secret.encode()
        self._writes: set[asyncio.Task[None]] = set()
        self._last_purge = 0.0
        self.purge_expired()

    @classmethod
    def from_settings(
        cls, settings: Settings, models: Models, metrics: ConversationMetrics
    ) -> CallerMemory | None:
        """None when memory is off. Raises :class:`MemorySettingsError` when it is on without a
        secret, and the store's errors when its database cannot be opened."""
        if not settings.memory_enabled:
            return None
        if not settings.memory_secret:
            raise MemorySettingsError("memory_enabled needs memory_secret (CC_MEMORY_SECRET)")
        return cls(settings, models, metrics, CallerMemoryStore.open(database_url(settings)))

    def key(self, number: str | None) -> str | None:
        """The caller's key; None for a caller memory cannot tell apart (no or a withheld number)."""
        if not number:
            return None
        try:
            return caller_key(number, self._secret)
        except ValueError as exc:
            log.info("caller not remembered: %s", exc)
            return None

    async def load(self, key: str) -> MemoryBrief:
        calls = await asyncio.to_thread(self._store.recent, key, self._settings.memory_recent_calls)
        return memory_brief(calls, self._settings.memory_token_budget)

    def remember(
        self,
        call_sid: str,
        key: str,
        turns: Sequence[HistoryTurn],
        sentiment: Mapping[str, JsonValue] | None,
    ) -> None:
        """Summarise and store the call in the background (see the module docstring)."""
        if not turns:
            return
        # Named without the call's SID: it belongs to memory, not to the call, and outlives it.
        task = asyncio.create_task(
            self._write(call_sid, key, list(turns), sentiment), name="caller-memory-write"
        )
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def written(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Once every call handed to :meth:`remember` so far is stored (or has failed)."""
        if self._writes:
            await asyncio.wait(self._writes, timeout=timeout_s)

    async def forget(self, number: str) -> int:
        """Erase everything kept for ``number``; the count of calls erased. ValueError for a number
        memory cannot key."""
        key = caller_key(number, self._secret)
        return await asyncio.to_thread(self._store.forget, key)

    def purge_expired(self) -> int:
        self._last_purge = time.monotonic()
        cutoff = datetime.now(UTC) - timedelta(days=self._settings.memory_retention_days)
        purged = self._store.purge_older_than(cutoff)
        if purged:
            log.info("caller memory: %d calls past retention deleted", purged)
        return purged

    async def aclose(self) -> None:
        await self.written()
        await asyncio.to_thread(self._store.close)

    async def _write(
        self,
        call_sid: str,
        key: str,
        turns: list[HistoryTurn],
        sentiment: Mapping[str, JsonValue] | None,
    ) -> None:
        try:
            answer = await self._summarise(call_sid, turns)
            summary = parse_summary(answer, turns)
            memory = CallMemory(
                caller_key=key,
                call_sid=call_sid,
                ended_at=datetime.now(UTC),
                summary=summary.summary,
                facts=summary.facts,
                transcript=[TranscriptTurn(_role(t.role), t.text) for t in turns],
                sentiment=sentiment,
            )
            await asyncio.to_thread(self._store.record_call, memory)
            if time.monotonic() - self._last_purge > PURGE_EVERY_S:
                await asyncio.to_thread(self.purge_expired)
        except Exception:
            self._metrics.memory_writes.labels("failed").inc()
            log.exception("caller memory: call %s not remembered", call_sid)
            return
        self._metrics.memory_writes.labels("stored").inc()
        log.info("caller memory: call %s remembered (%d facts)", call_sid, len(summary.facts))

    async def _summarise(self, call_sid: str, turns: list[HistoryTurn]) -> str:
        """The LLM's answer; "" when it fails (the stated facts and the transcript still go in)."""
        settings = self._settings
        prompt = build_prompt(
            settings.llm_prompt_format,
            SUMMARY_SYSTEM_PROMPT,
            [Turn(Role.USER, summary_request(turns))],
        )
        text, tokens = "", 0
        try:
            async with asyncio.timeout(SUMMARY_TIMEOUT_S):
                stream = self._models.generate(prompt, request_id=f"{call_sid}-memory")
                async with contextlib.aclosing(stream) as deltas:
                    async for delta in deltas:
                        text += delta.text
                        tokens += delta.tokens
                        if tokens >= settings.memory_summary_max_tokens:
                            break
        except Exception as exc:
            log.warning("caller memory: no summary for %s (%s)", call_sid, exc)
        return text


def _role(role: Role) -> str:
    return "user" if role is Role.USER else "assistant"
