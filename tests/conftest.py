"""Shared fixtures. Tests under tests/unit are marked ``unit``; under tests/integration, ``integration``.

The ``triton`` fixture starts one real tritonserver for the whole session, serving model_repository/
with the CPU profile; integration tests talk gRPC to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from serving.launcher import PROJECT_ROOT, TritonServer
from serving.profiles import build_profile, server_options

CACHE_DIR = PROJECT_ROOT / ".cache"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).parts
        if "integration" in parts:
            item.add_marker(pytest.mark.integration)
        elif "unit" in parts:
            item.add_marker(pytest.mark.unit)


@pytest.fixture(scope="session")
def triton() -> Iterator[TritonServer]:
    """A ready tritonserver with every model of model_repository/ in the CPU profile."""
    options = server_options(
        build_profile("cpu", CACHE_DIR),
        PROJECT_ROOT / "model_repository",
        run_dir=CACHE_DIR / "triton-runs" / "pytest",
    )
    server = TritonServer(options)
    server.start()
    yield server
    server.stop()
