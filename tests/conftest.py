"""Shared fixtures. Tests are marked by their folder: ``unit``, ``integration``, ``image_env``, ``database``.

The ``triton`` fixture starts one real tritonserver for the whole session, serving model_repository/
with the CPU profile; integration tests talk gRPC to it.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from callsim.postgres_server import TEST_SETTINGS, PostgresNotInstalled, PostgresServer
from serving.launcher import TritonServer
from serving.paths import MODEL_REPOSITORY, PROJECT_ROOT
from serving.profiles import build_profile, server_options

CACHE_DIR = PROJECT_ROOT / ".cache"

# Tests assert behaviour, not speed: on a loaded 2-core machine a generated example can take longer than
# hypothesis' default 200 ms deadline.
settings.register_profile("client-caller", deadline=None)
settings.load_profile("client-caller")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).parts
        if "integration" in parts:
            item.add_marker(pytest.mark.integration)
        elif "image_env" in parts:
            item.add_marker(pytest.mark.image_env)
        elif "database" in parts:
            item.add_marker(pytest.mark.database)
        elif "unit" in parts:
            item.add_marker(pytest.mark.unit)


@pytest.fixture(scope="session")
def triton() -> Iterator[TritonServer]:
    """A ready tritonserver with every model of model_repository/ in the CPU profile.

    ``CC_TEST_MODELS=silero_vad,stt`` loads only those models (quicker while working on one model).
    """
    only = [m for m in os.environ.get("CC_TEST_MODELS", "").split(",") if m]
    options = server_options(
        build_profile("cpu", CACHE_DIR),
        MODEL_REPOSITORY,
        models=only or None,
        run_dir=CACHE_DIR / "triton-runs" / "pytest",
    )
    server = TritonServer(options)
    server.start()
    yield server
    server.stop()


# A real PostgreSQL server (callsim/postgres_server.py, durability off), started the first time a test
# asks for it and stopped, its files removed, at the end of the session whether tests passed or not.
# ``postgres_url`` is its ``memory`` database; ``fresh_postgres_url`` a new, empty one for one test.
_database_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer(settings=TEST_SETTINGS)
    try:
        server.start()
    except PostgresNotInstalled as missing:
        pytest.fail(str(missing))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    return postgres_server.url


@pytest.fixture
def fresh_postgres_url(postgres_server: PostgresServer) -> str:
    return postgres_server.create_database(f"test_{next(_database_numbers)}")
