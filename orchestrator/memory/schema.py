"""The caller-memory tables as SQLAlchemy Core metadata, for SQLite and PostgreSQL alike.

One row per call in ``caller_calls``. The call start's query (a caller's newest calls, ties broken
by insertion order) reads the ``(caller_key, ended_at, id)`` index backwards and stops after the
first few entries, however many calls the caller has: no sort. The ``ended_at`` index serves the
retention purge. The JSON columns are JSONB on PostgreSQL. The migrations in ``migrations/versions/``
create exactly these tables (a test compares the two), so a change here needs a new migration.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.dialects.postgresql import JSONB

from orchestrator.memory.call_memory import MAX_CALL_SID_CHARS

# Constraint and index names spelled out, so that migrations can name what they create and alter.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}
CALLER_KEY_CHARS = 64  # HMAC-SHA256 in hex
# Alembic's record of the schema's revision: a table of its own, so that the database may host
# other Alembic-managed schemas.
VERSION_TABLE = "caller_memory_alembic_version"


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime, stored as UTC. SQLite keeps datetimes as text without an offset,
    so every value is converted to UTC on the way in (the text then also sorts in time order) and
    is read back as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("caller memory stores timezone-aware datetimes only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _json(*, none_as_null: bool = False) -> JSON:
    return JSON(none_as_null=none_as_null).with_variant(
        JSONB(none_as_null=none_as_null), "postgresql"
    )


metadata = MetaData(naming_convention=NAMING_CONVENTION)

caller_calls = Table(
    "caller_calls",
    metadata,
    # INTEGER on SQLite makes it the rowid.
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("caller_key", String(CALLER_KEY_CHARS), nullable=False),
    Column("call_sid", String(MAX_CALL_SID_CHARS), nullable=False, unique=True),
    Column("ended_at", UtcDateTime(), nullable=False, index=True),
    Column("summary", Text(), nullable=False),
    Column("facts", _json(), nullable=False),  # {"name": "Ana", "open requests": ["refund"]}
    Column("transcript", _json(), nullable=False),  # [{"role": "user", "text": "..."}, ...]
    Column("sentiment", _json(none_as_null=True), nullable=True),  # SQL NULL when absent
    Index(None, "caller_key", "ended_at", "id"),
)
