"""Alembic's entry point for the caller-memory migrations: runs them on the caller's connection.

There is no ``alembic.ini``: :func:`orchestrator.memory.store.upgrade_schema` builds the Config in
code and passes an open connection, inside the transaction (and, on PostgreSQL, the advisory lock)
it holds, as ``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from orchestrator.memory.schema import VERSION_TABLE, metadata


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("caller-memory migrations run on a connection passed in by the store")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        # SQLite alters tables by copying them: later migrations can use batch operations.
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
