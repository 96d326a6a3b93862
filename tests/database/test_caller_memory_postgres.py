"""Caller memory on a real PostgreSQL server: the shared store behaviour, plus PostgreSQL's own."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine
from sqlalchemy.dialects import postgresql
from unit.test_caller_memory_store import ANA, StoreBehaviour, a_call, sids

from orchestrator.memory.store import RECENT_CALLS, CallerMemoryStore

pytestmark = pytest.mark.database


class TestPostgresStore(StoreBehaviour):
    @pytest.fixture
    def store_url(self, fresh_postgres_url: str) -> str:
        return fresh_postgres_url


def test_a_plain_postgresql_url_runs_on_psycopg_3(fresh_postgres_url: str) -> None:
    plain = fresh_postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with CallerMemoryStore.open(plain) as store:
        store.record_call(a_call(ANA, "CA01"))
        assert sids(store.recent(ANA, 1)) == ["CA01"]


def test_the_session_database_serves_memory(postgres_url: str) -> None:
    with CallerMemoryStore.open(postgres_url) as store:
        store.record_call(a_call(ANA, "CA-session"))
        assert "CA-session" in sids(store.recent(ANA, 5))
        assert store.forget(ANA) >= 1


def test_loading_a_callers_calls_reads_the_index_without_sorting(fresh_postgres_url: str) -> None:
    CallerMemoryStore.open(fresh_postgres_url).close()
    query = RECENT_CALLS.params(caller_key=ANA, limit=3)
    sql = query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    engine = create_engine(fresh_postgres_url)
    with engine.connect() as connection:
        # An empty table would be scanned whole; the point is that the index can serve the order.
        connection.exec_driver_sql("SET enable_seqscan = off")
        plan = "\n".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {sql}"))
    engine.dispose()
    assert "Index Scan Backward using ix_caller_calls_caller_key_ended_at_id" in plan
    assert "Sort" not in plan
