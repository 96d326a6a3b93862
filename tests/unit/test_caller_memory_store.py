"""Caller memory on SQLite, in a temporary folder, and what every caller-memory database must do.

:class:`StoreBehaviour` is written once for every database: :class:`TestSqliteStore` here and
tests/database (PostgreSQL) subclass it with a ``store_url`` fixture for an empty database of their
own. Below it, what is SQLite's own (WAL, the index, erasing from disk, owner-only files) and the
records' checks.
"""

from __future__ import annotations

import sqlite3
import stat
import threading
import time
import traceback
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlalchemy.dialects import sqlite

from orchestrator.memory.call_memory import CallMemory, Facts, Sentiment, StoredCall, TranscriptTurn
from orchestrator.memory.caller_key import caller_key
from orchestrator.memory.schema import VERSION_TABLE, metadata
from orchestrator.memory.store import (
    RECENT_CALLS,
    SQLITE_BUSY_TIMEOUT_MS,
    CallerMemoryStore,
    MemoryStoreError,
    memory_engine,
)

pytestmark = pytest.mark.unit

SECRET = b"caller-memory-tests-secret-0123456789"
ANA = caller_key("+14155550100", SECRET)
BEN = caller_key("+442071838750", SECRET)
NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
HELLO = (TranscriptTurn("assistant", "Hello, how can I help?"), TranscriptTurn("user", "Hi."))


def a_call(
    caller: str,
    sid: str,
    ended_at: datetime = NOW,
    *,
    summary: str = "Asked about opening hours.",
    facts: Facts | None = None,
    transcript: Sequence[TranscriptTurn] = HELLO,
    sentiment: Sentiment | None = None,
) -> CallMemory:
    return CallMemory(
        caller_key=caller,
        call_sid=sid,
        ended_at=ended_at,
        summary=summary,
        facts=facts if facts is not None else {},
        transcript=transcript,
        sentiment=sentiment,
    )


def as_stored(memory: CallMemory) -> StoredCall:
    """What ``recent`` should give back for ``memory``."""
    return StoredCall(
        call_sid=memory.call_sid,
        ended_at=memory.ended_at.astimezone(UTC),
        summary=memory.summary,
        facts={k: v if isinstance(v, str) else list(v) for k, v in memory.facts.items()},
        transcript=tuple(memory.transcript),
        sentiment=memory.sentiment,
    )


def sids(calls: Sequence[StoredCall]) -> list[str]:
    return [call.call_sid for call in calls]


class StoreBehaviour:
    """Every database: subclasses give ``store_url``, an empty database of their own."""

    @pytest.fixture
    def store_url(self) -> str:
        raise NotImplementedError("a subclass provides an empty database's URL")

    @pytest.fixture
    def store(self, store_url: str) -> Iterator[CallerMemoryStore]:
        with CallerMemoryStore.open(store_url) as store:
            yield store

    def test_a_recorded_call_comes_back_as_it_was(self, store: CallerMemoryStore) -> None:
        call = a_call(
            ANA,
            "CA01",
            summary="Zoë asked to move her delivery to Friday 🚚; agreed.",
            facts={"name": "Zoë", "open requests": ["refund for order 1182", "call back"]},
            transcript=(*HELLO, TranscriptTurn("user", 'She said "Friday", not Thursday.')),
            sentiment={"start": 0.1, "end": -0.25, "lowest": -0.5, "turns": [0.1, None, -0.5]},
        )
        store.record_call(call)
        assert store.recent(ANA, 5) == [as_stored(call)]

    def test_absent_sentiment_and_empty_fields_come_back_empty(
        self, store: CallerMemoryStore
    ) -> None:
        call = a_call(ANA, "CA01", summary="", transcript=(), sentiment=None)
        store.record_call(call)
        (stored,) = store.recent(ANA, 1)
        assert (stored.sentiment, stored.facts, stored.transcript) == (None, {}, ())

    def test_recent_is_newest_first_and_limited(self, store: CallerMemoryStore) -> None:
        days = [3, 0, 4, 1, 2]  # recorded out of order
        store.record_calls(a_call(ANA, f"CA{d}", NOW - timedelta(days=d)) for d in days)
        store.record_call(a_call(BEN, "CA-ben", NOW + timedelta(days=1)))
        assert sids(store.recent(ANA, 3)) == ["CA0", "CA1", "CA2"]
        assert sids(store.recent(ANA, 10)) == ["CA0", "CA1", "CA2", "CA3", "CA4"]
        assert store.recent(ANA, 0) == []
        assert store.recent(caller_key("+14155550199", SECRET), 3) == []

    def test_calls_ending_at_the_same_time_come_latest_recorded_first(
        self, store: CallerMemoryStore
    ) -> None:
        store.record_call(a_call(ANA, "CA-first"))
        store.record_call(a_call(ANA, "CA-second"))
        assert sids(store.recent(ANA, 2)) == ["CA-second", "CA-first"]

    def test_times_in_any_zone_are_the_same_instants_in_utc(self, store: CallerMemoryStore) -> None:
        india = timezone(timedelta(hours=5, minutes=30))
        earlier = a_call(ANA, "CA-india", datetime(2026, 11, 30, 10, 0, tzinfo=india))  # 04:30Z
        later = a_call(ANA, "CA-utc", datetime(2026, 11, 30, 5, 0, tzinfo=UTC))
        store.record_calls([later, earlier])
        newest, oldest = store.recent(ANA, 2)
        assert (newest.call_sid, oldest.call_sid) == ("CA-utc", "CA-india")
        assert oldest.ended_at == earlier.ended_at
        assert oldest.ended_at.utcoffset() == timedelta(0)

    def test_recording_a_call_again_replaces_it(self, store: CallerMemoryStore) -> None:
        store.record_call(a_call(ANA, "CA01", summary="First draft."))
        store.record_call(a_call(ANA, "CA01", summary="Second draft.", facts={"name": "Ana"}))
        store.record_calls([a_call(ANA, "CA02"), a_call(ANA, "CA02", summary="Batch, twice.")])
        recent = store.recent(ANA, 5)
        assert sorted(sids(recent)) == ["CA01", "CA02"]
        by_sid = {call.call_sid: call for call in recent}
        assert by_sid["CA01"].summary == "Second draft."
        assert by_sid["CA01"].facts == {"name": "Ana"}
        assert by_sid["CA02"].summary == "Batch, twice."

    def test_forget_erases_only_that_caller(self, store: CallerMemoryStore) -> None:
        store.record_calls([a_call(ANA, "CA1"), a_call(ANA, "CA2"), a_call(BEN, "CA3")])
        assert store.forget(ANA) == 2
        assert store.recent(ANA, 5) == []
        assert sids(store.recent(BEN, 5)) == ["CA3"]
        assert store.forget(ANA) == 0

    def test_purge_erases_calls_ended_before_the_cutoff(self, store: CallerMemoryStore) -> None:
        cutoff = NOW - timedelta(days=30)
        store.record_calls(
            [
                a_call(ANA, "CA-old", cutoff - timedelta(seconds=1)),
                a_call(BEN, "CA-older", cutoff - timedelta(days=300)),
                a_call(ANA, "CA-at-cutoff", cutoff),
                a_call(BEN, "CA-new", NOW),
            ]
        )
        assert store.purge_older_than(cutoff) == 2
        assert sids(store.recent(ANA, 5)) == ["CA-at-cutoff"]
        assert sids(store.recent(BEN, 5)) == ["CA-new"]
        assert store.purge_older_than(cutoff) == 0

    def test_opening_again_keeps_the_schema_at_head_and_the_data(
        self, store: CallerMemoryStore, store_url: str
    ) -> None:
        store.record_call(a_call(ANA, "CA01"))
        with CallerMemoryStore.open(store_url) as again:
            assert sids(again.recent(ANA, 1)) == ["CA01"]
        engine = create_engine(store_url)
        with engine.connect() as connection:
            versions = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
        engine.dispose()
        assert [v for (v,) in versions] == ["0001"]

    def test_migrations_create_exactly_the_declared_schema(
        self, store: CallerMemoryStore, store_url: str
    ) -> None:
        engine = create_engine(store_url)
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"version_table": VERSION_TABLE, "compare_type": True}
            )
            differences = compare_metadata(context, metadata)
        engine.dispose()
        assert differences == []

    def test_stores_opening_at_once_all_succeed(self, store_url: str) -> None:
        opened: list[CallerMemoryStore] = []
        failures: list[BaseException] = []
        start = threading.Barrier(4)

        def open_store() -> None:
            start.wait()
            try:
                opened.append(CallerMemoryStore.open(store_url))
            except BaseException as error:
                failures.append(error)

        threads = [threading.Thread(target=open_store, daemon=True) for _ in range(4)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        for thread in threads:
            thread.join(timeout=max(deadline - time.monotonic(), 0))
        try:
            assert not any(thread.is_alive() for thread in threads), "an open is stuck"
            assert failures == []
            opened[0].record_call(a_call(ANA, "CA01"))
            assert all(sids(s.recent(ANA, 1)) == ["CA01"] for s in opened)
        finally:
            for store in opened:
                store.close()

    def test_failures_name_the_operation_and_never_the_transcript(
        self, store: CallerMemoryStore, store_url: str
    ) -> None:
        engine = create_engine(store_url)
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE caller_calls"))
        engine.dispose()
        private = uuid.uuid4().hex  # not in any source line a traceback shows
        said = (TranscriptTurn("user", f"my card number is {private}"),)
        with pytest.raises(MemoryStoreError, match="record calls") as raised:
            store.record_call(a_call(ANA, "CA01", summary=private, transcript=said))
        report = "".join(traceback.format_exception(raised.value))
        assert "caller_calls" in report  # the database's reason is kept
        assert private not in report
        with pytest.raises(MemoryStoreError, match="load the caller's recent calls"):
            store.recent(ANA, 3)


class TestSqliteStore(StoreBehaviour):
    @pytest.fixture
    def store_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'state' / 'memory.db'}"


def test_the_database_is_an_owner_only_file_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "new" / "folder" / "memory.db"
    CallerMemoryStore.open(f"sqlite:///{path}").close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_every_connection_is_set_up_for_memory(tmp_path: Path) -> None:
    engine = memory_engine(f"sqlite:///{tmp_path / 'memory.db'}")
    try:
        with engine.connect() as connection:
            settings = {
                pragma: connection.exec_driver_sql(f"PRAGMA {pragma}").scalar()
                for pragma in ("journal_mode", "synchronous", "busy_timeout", "secure_delete")
            }
    finally:
        engine.dispose()
    assert settings == {
        "journal_mode": "wal",
        "synchronous": 1,  # NORMAL
        "busy_timeout": SQLITE_BUSY_TIMEOUT_MS,
        "secure_delete": 1,
    }


def test_loading_a_callers_calls_reads_the_index_without_sorting(tmp_path: Path) -> None:
    path = tmp_path / "memory.db"
    CallerMemoryStore.open(f"sqlite:///{path}").close()
    query = RECENT_CALLS.params(caller_key=ANA, limit=3)
    sql = str(query.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
    with sqlite3.connect(path) as connection:
        plan = " | ".join(row[-1] for row in connection.execute(f"EXPLAIN QUERY PLAN {sql}"))
    assert "USING INDEX ix_caller_calls_caller_key_ended_at_id (caller_key=?)" in plan
    assert "TEMP B-TREE" not in plan  # no sort


def test_erased_calls_leave_no_trace_in_the_files(tmp_path: Path) -> None:
    path = tmp_path / "memory.db"

    def file_bytes() -> bytes:
        return b"".join(p.read_bytes() for p in tmp_path.glob("memory.db*"))

    with CallerMemoryStore.open(f"sqlite:///{path}") as store:
        for caller, marker in ((ANA, "ANA-MARKER"), (BEN, "BEN-MARKER")):
            turns = (TranscriptTurn("user", f"{marker} " * 200),)  # spills to overflow pages
            store.record_calls(
                a_call(caller, f"CA-{marker}-{i}", summary=marker, transcript=turns)
                for i in range(3)
            )
        store.record_call(a_call(BEN, "CA-old", NOW - timedelta(days=400), summary="OLD-MARKER"))
        assert all(m in file_bytes() for m in (b"ANA-MARKER", b"BEN-MARKER", b"OLD-MARKER"))
        assert store.forget(ANA) == 3
        assert store.purge_older_than(NOW - timedelta(days=365)) == 1
        left = file_bytes()
    assert b"ANA-MARKER" not in left
    assert b"OLD-MARKER" not in left
    assert b"BEN-MARKER" in left


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///:memory:",
        "mysql://user@localhost/memory",
        "postgresql+asyncpg://user@localhost/memory",
        "not a url",
    ],
)
def test_urls_other_than_a_sqlite_file_or_postgresql_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        CallerMemoryStore.open(url)


def test_records_refuse_what_would_be_stored_wrongly() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        a_call(ANA, "CA01", datetime(2026, 11, 30, 15, 0))
    with pytest.raises(ValueError, match="caller key"):
        a_call("+14155550100", "CA01")  # a raw number, not its key
    with pytest.raises(ValueError, match="call SID"):
        a_call(ANA, "")
    with pytest.raises(ValueError, match="call SID"):
        a_call(ANA, "CA" * 40)
    with pytest.raises(ValueError, match="facts"):
        a_call(ANA, "CA01", facts={"age": 42})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="transcript"):
        CallMemory(
            caller_key=ANA,
            call_sid="CA01",
            ended_at=NOW,
            summary="",
            facts={},
            transcript=[{"role": "user", "text": "hi"}],  # type: ignore[list-item]
        )


def test_queries_refuse_raw_numbers_and_naive_cutoffs(tmp_path: Path) -> None:
    with CallerMemoryStore.open(f"sqlite:///{tmp_path / 'memory.db'}") as store:
        with pytest.raises(ValueError, match="caller key"):
            store.recent("+14155550100", 3)
        with pytest.raises(ValueError, match="caller key"):
            store.forget("+14155550100")
        with pytest.raises(ValueError, match="timezone-aware"):
            store.purge_older_than(datetime(2026, 1, 1))
