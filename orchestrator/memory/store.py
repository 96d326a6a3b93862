"""Where caller memory lives: SQLite (one file) by default, PostgreSQL when pods share callers.

:meth:`CallerMemoryStore.open` takes a SQLAlchemy URL, ``sqlite:///path/memory.db`` or
``postgresql://user:pass@host/db`` (psycopg 3 is the driver), and upgrades the schema to the newest
migration before it returns. Upgrading is idempotent and safe when several processes open the same
database at once: on PostgreSQL it runs under a transaction-scoped advisory lock, on SQLite in a
``BEGIN IMMEDIATE`` transaction (SQLite's write lock), and in both the DDL is transactional, so the
second process waits, then finds the schema at head.

The API is synchronous and thread-safe (one connection pool per store); from asyncio call it through
``asyncio.to_thread``. Loading a caller's recent calls reads the first few entries of the
``(caller_key, ended_at, id)`` index backwards: ~1-2 ms with 10,000 callers stored
(benchmarks.memory_load).
The SQLite file is created owner-only (0600; its -wal and -shm files follow it): it holds what
callers said.

SQLite runs in WAL mode (readers never wait for the writer; ``synchronous=NORMAL`` is durable
across process crashes, and may lose the last commits on power loss) with a busy timeout for
concurrent writers. Erasing is meant literally there: ``secure_delete`` zeroes deleted rows and a
checkpoint after :meth:`~CallerMemoryStore.forget` and :meth:`~CallerMemoryStore.purge_older_than`
truncates the write-ahead log that still held them (best effort: a reader that outlasts the busy
timeout leaves that to a later checkpoint). On PostgreSQL deleted rows disappear from every
query at once; their bytes stay in the table's files until autovacuum and later writes reuse the
space, as with any PostgreSQL delete (keep the volume encrypted).

Every database failure is raised as :class:`MemoryStoreError`, naming the operation and the
database's own reason. Statement parameters are hidden from SQLAlchemy's messages, and the original
exception is not chained, because PostgreSQL's error details may quote a row (with its transcript).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.util.exc import CommandError
from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    RowMapping,
    bindparam,
    create_engine,
    delete,
    event,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.dml import Insert

from orchestrator.memory.call_memory import (
    CallMemory,
    JsonValue,
    StoredCall,
    TranscriptTurn,
    require_caller_key,
)
from orchestrator.memory.schema import caller_calls

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Writers wait this long for SQLite's write lock before failing (readers never wait in WAL mode).
SQLITE_BUSY_TIMEOUT_MS = 5_000
# A PostgreSQL server that does not answer fails the call's memory, not the call, within this.
POSTGRES_CONNECT_TIMEOUT_S = 5
# pg_advisory_xact_lock key serialising schema upgrades across pods: "ccmemory" as a 64-bit integer.
_UPGRADE_LOCK_KEY = int.from_bytes(b"ccmemory", "big", signed=True)
# Execution option read by the SQLite "begin" listener: how its transaction begins.
_SQLITE_BEGIN = "caller_memory_sqlite_begin"
# A caller's newest calls: the (caller_key, ended_at, id) index read backwards, no sort.
RECENT_CALLS = (
    select(
        caller_calls.c.call_sid,
        caller_calls.c.ended_at,
        caller_calls.c.summary,
        caller_calls.c.facts,
        caller_calls.c.transcript,
        caller_calls.c.sentiment,
    )
    .where(caller_calls.c.caller_key == bindparam("caller_key"))
    .order_by(caller_calls.c.ended_at.desc(), caller_calls.c.id.desc())
    .limit(bindparam("limit", type_=Integer))
)
_UPDATED_ON_RECORD = ("caller_key", "ended_at", "summary", "facts", "transcript", "sentiment")


class MemoryStoreError(RuntimeError):
    """The caller-memory database failed; the message names the operation and the reason."""


class CallerMemoryStore:
    """Remembered calls in one database. Make one with :meth:`open`; :meth:`close` it when done."""

    def __init__(self, engine: Engine) -> None:
        """Use :meth:`open`: it also brings the schema up to date."""
        self._engine = engine
        self._upsert = _upsert_statement(engine.dialect.name)
        self._is_sqlite = engine.dialect.name == "sqlite"

    @classmethod
    def open(cls, url: str) -> CallerMemoryStore:
        """The store at ``url`` with its schema at the newest migration (creating it if need be).

        Raises :class:`ValueError` for a URL that is neither a SQLite file nor PostgreSQL, and
        :class:`MemoryStoreError` when the database cannot be reached or upgraded.
        """
        engine = memory_engine(url)
        try:
            upgrade_schema(engine)
        except BaseException:
            engine.dispose()
            raise
        log.info("caller memory at %s", engine.url.render_as_string(hide_password=True))
        return cls(engine)

    def record_call(self, memory: CallMemory) -> None:
        """Remember ``memory``; recording the same call SID again replaces the earlier record."""
        self.record_calls([memory])

    def record_calls(self, memories: Iterable[CallMemory]) -> None:
        """Remember several calls in one transaction (imports, benchmarks)."""
        rows = [_row(memory) for memory in memories]
        if not rows:
            return
        with self._writing("record calls") as connection:
            connection.execute(self._upsert, rows)

    def recent(self, caller_key: str, limit: int) -> list[StoredCall]:
        """The caller's ``limit`` most recent calls, newest first."""
        require_caller_key(caller_key)
        if limit <= 0:
            return []
        with _failing_as("load the caller's recent calls"), self._engine.connect() as connection:
            rows = connection.execute(RECENT_CALLS, {"caller_key": caller_key, "limit": limit})
            records = rows.mappings().all()
        try:
            return [_stored_call(record) for record in records]
        except (KeyError, TypeError, ValueError) as error:
            raise MemoryStoreError(
                f"caller memory: load the caller's recent calls: a stored row is malformed "
                f"({type(error).__name__})"
            ) from None

    def forget(self, caller_key: str) -> int:
        """Erase everything remembered of the caller; the number of calls erased."""
        require_caller_key(caller_key)
        with self._writing("forget a caller") as connection:
            erased = connection.execute(
                delete(caller_calls).where(caller_calls.c.caller_key == caller_key)
            ).rowcount
        self._flush_erased(erased)
        return erased

    def purge_older_than(self, cutoff: datetime) -> int:
        """Erase every call that ended before ``cutoff`` (retention); the number erased."""
        if cutoff.tzinfo is None or cutoff.utcoffset() is None:
            raise ValueError("the retention cutoff must be timezone-aware")
        with self._writing("purge expired calls") as connection:
            erased = connection.execute(
                delete(caller_calls).where(caller_calls.c.ended_at < cutoff)
            ).rowcount
        self._flush_erased(erased)
        return erased

    def close(self) -> None:
        """Close the pool's connections; the store must not be used afterwards."""
        self._engine.dispose()

    def __enter__(self) -> CallerMemoryStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _writing(self, operation: str) -> Iterator[Connection]:
        """A write transaction; on SQLite it takes the write lock at once (``BEGIN IMMEDIATE``), so
        that waiting for another writer happens under the busy timeout rather than failing later."""
        with _failing_as(operation), self._engine.connect() as connection:
            connection.execution_options(**{_SQLITE_BEGIN: "IMMEDIATE"})
            with connection.begin():
                yield connection

    def _flush_erased(self, erased: int) -> None:
        """On SQLite, checkpoint and truncate the WAL, which still holds the erased rows' old pages
        (the database file gets the zeroed ones). It waits for readers within the busy timeout; if
        one outlasts it, the rows leave the files at a later checkpoint (at the latest when the
        last connection closes). Only logged when it fails: the rows are gone from every query."""
        if not (self._is_sqlite and erased):
            return
        try:
            raw = self._engine.raw_connection()
            try:
                cursor = raw.cursor()
                blocked = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                cursor.close()
            finally:
                raw.close()
        except (SQLAlchemyError, sqlite3.Error) as error:
            log.warning("caller memory: checkpoint after erasing failed (%s)", type(error).__name__)
            return
        if blocked:
            log.info(
                "caller memory: a reader held the WAL; erased rows leave it at a later checkpoint"
            )


def memory_engine(url: str) -> Engine:
    """A SQLAlchemy engine for ``url``, set up for caller memory (no schema work)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError(
            "caller memory needs a database URL (sqlite:///... or postgresql://...)"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    if backend == "postgresql":
        return _postgres_engine(parsed)
    raise ValueError(f"caller memory runs on SQLite or PostgreSQL, not {backend}")


def upgrade_schema(engine: Engine) -> None:
    """Bring the database's caller-memory schema to the newest migration (see the module docstring)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    with _failing_as("upgrade the schema"), engine.connect() as connection:
        connection.execution_options(**{_SQLITE_BEGIN: "IMMEDIATE"})
        with connection.begin():
            if engine.dialect.name == "postgresql":
                lock = text("SELECT pg_advisory_xact_lock(:key)")
                connection.execute(lock, {"key": _UPGRADE_LOCK_KEY})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")


def _sqlite_engine(url: URL) -> Engine:
    if url.get_driver_name() != "pysqlite":
        raise ValueError("caller memory uses SQLite through Python's sqlite3 (sqlite:///path)")
    if not url.database or url.database == ":memory:" or url.query.get("mode") == "memory":
        # Each pooled connection would see its own empty database.
        raise ValueError("caller memory needs a SQLite file (sqlite:///path/memory.db)")
    try:
        _create_owner_only(Path(url.database).expanduser())
    except OSError as error:
        raise MemoryStoreError(
            f"caller memory: create the SQLite file ({error.strerror})"
        ) from None
    engine = create_engine(url, hide_parameters=True)
    event.listen(engine, "connect", _set_up_sqlite_connection)
    event.listen(engine, "begin", _begin_sqlite_transaction)
    return engine


def _create_owner_only(database: Path) -> None:
    """Create the database file (and missing folders) readable by this user only: it holds what
    callers said. SQLite gives its -wal and -shm files the database file's permissions."""
    database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(database, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def _set_up_sqlite_connection(dbapi_connection: DBAPIConnection, _: ConnectionPoolEntry) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection):
        raise TypeError("caller memory's SQLite engine runs on sqlite3 connections")
    # sqlite3 would begin transactions itself, lazily and only before DML (so DDL would run outside
    # them): off, and _begin_sqlite_transaction emits BEGIN for every SQLAlchemy transaction.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")  # before the WAL switch
    mode = _switch_to_wal(cursor)
    if mode != "wal":  # e.g. a network filesystem without shared memory
        log.warning("caller memory: SQLite refused WAL mode (%s); writers will block readers", mode)
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA secure_delete = ON")
    cursor.close()


def _switch_to_wal(cursor: sqlite3.Cursor) -> str:
    """``PRAGMA journal_mode = WAL``; the mode in force after it. The switch (persistent: done once
    per file) needs the file to itself and fails at once, busy timeout or not, while another
    connection opening the new file holds it: retried within the busy timeout."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            return str(cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as error:
            busy = error.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY  # or an extended BUSY_*
            if not busy or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _begin_sqlite_transaction(connection: Connection) -> None:
    mode = connection.get_execution_options().get(_SQLITE_BEGIN, "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


def _postgres_engine(url: URL) -> Engine:
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    elif url.get_driver_name() != "psycopg":
        raise ValueError("caller memory uses PostgreSQL through psycopg 3 (postgresql+psycopg://)")
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT_S
    if "application_name" not in url.query:
        connect_args["application_name"] = "client-caller memory"
    return create_engine(url, hide_parameters=True, pool_pre_ping=True, connect_args=connect_args)


def _upsert_statement(dialect: str) -> Insert:
    """INSERT that replaces the row of a call SID already recorded (one statement, no race)."""
    insert = sqlite_insert(caller_calls) if dialect == "sqlite" else postgresql_insert(caller_calls)
    return insert.on_conflict_do_update(
        index_elements=[caller_calls.c.call_sid],
        set_={name: insert.excluded[name] for name in _UPDATED_ON_RECORD},
    )


def _row(memory: CallMemory) -> dict[str, object]:
    return {
        "caller_key": memory.caller_key,
        "call_sid": memory.call_sid,
        "ended_at": memory.ended_at,
        "summary": memory.summary,
        "facts": {
            name: value if isinstance(value, str) else list(value)
            for name, value in memory.facts.items()
        },
        "transcript": [{"role": turn.role, "text": turn.text} for turn in memory.transcript],
        "sentiment": dict(memory.sentiment) if memory.sentiment is not None else None,
    }


def _stored_call(record: RowMapping) -> StoredCall:
    transcript: Sequence[Mapping[str, JsonValue]] = record["transcript"]
    return StoredCall(
        call_sid=record["call_sid"],
        ended_at=record["ended_at"],
        summary=record["summary"],
        facts=record["facts"],
        transcript=tuple(
            TranscriptTurn(role=str(turn["role"]), text=str(turn["text"])) for turn in transcript
        ),
        sentiment=record["sentiment"],
    )


@contextmanager
def _failing_as(operation: str) -> Iterator[None]:
    """Raise database failures inside as :class:`MemoryStoreError` naming ``operation``."""
    try:
        yield
    except (SQLAlchemyError, CommandError) as error:
        raise MemoryStoreError(f"caller memory: {operation}: {_reason(error)}") from None


def _reason(error: Exception) -> str:
    """What went wrong, without data: the driver's message, but of PostgreSQL's only the primary
    line (its DETAIL may quote a row), or the error's class."""
    if isinstance(error, CommandError):
        return f"migration: {error}"  # e.g. a revision this release does not know (a newer pod)
    if not isinstance(error, DBAPIError):
        return type(error).__name__
    original = error.orig
    primary = getattr(getattr(original, "diag", None), "message_primary", None)
    lines = str(original).strip().splitlines()
    message = primary or (lines[0] if lines else "")
    return f"{type(original).__name__}: {message}" if message else type(original).__name__
