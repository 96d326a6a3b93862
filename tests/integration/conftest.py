"""Integration fixtures beyond tests/conftest.py's shared ``triton``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fault_triton import FaultTriton

from serving.paths import PROJECT_ROOT


@pytest.fixture(scope="session")
def fault_triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultTriton]:
    """A tritonserver of its own (real VAD and STT, test-only LLM and TTS with injectable faults),
    started once; tests may kill and restart it. Faults are reset before each use by the tests."""
    fault = FaultTriton(tmp_path_factory.mktemp("fault-triton"), PROJECT_ROOT / ".cache")
    fault.server.start()
    yield fault
    fault.server.stop()
