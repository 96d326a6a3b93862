"""serving/tts/engines.py: it picks the engine the options name, and the TTS modules import no cycle."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from serving.tts.contract import TtsEngineKind, TtsOptions, TtsRequest
from serving.tts.engines import build_engine

SERVING = Path(__file__).resolve().parents[2] / "serving"


def module_name(path: Path) -> str:
    parts = path.relative_to(SERVING.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def first_party_imports(path: Path, modules: set[str]) -> set[str]:
    """serving modules ``path`` imports, at module level or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        found.update(name for name in names if name in modules)
    return found


def test_no_serving_module_imports_one_that_imports_it_back() -> None:
    files = {module_name(p): p for p in SERVING.rglob("*.py")}
    graph = {name: first_party_imports(path, set(files)) - {name} for name, path in files.items()}
    assert "serving.tts.contract" in graph["serving.tts.csm"]

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for child in graph[start] - seen:
            seen.add(child)
            if child == target or reaches(child, target, seen):
                return True
        return False

    cycles = sorted(name for name in graph if reaches(name, name, set()))
    assert not cycles, f"modules on an import cycle: {cycles}"
    engines = {"serving.tts.csm", "serving.tts.piper", "serving.tts.engines"}
    assert not graph["serving.tts.contract"] & engines


@pytest.mark.skipif(
    importlib.util.find_spec("piper") is None, reason="piper-tts (extra piper-voice) not installed"
)
def test_piper_is_built_when_named() -> None:
    engine = build_engine(TtsOptions(model="unused", engine=TtsEngineKind.PIPER, device="cpu"))
    chunks = list(engine.synthesize(TtsRequest("Hello there."), lambda: False))
    frame = round(engine.sample_rate * 0.08)
    assert type(engine).__name__ == "PiperTtsEngine"
    assert chunks[0].samples.size == 2 * frame
    assert all(c.samples.dtype == np.float32 and c.span.of("Hello there.") for c in chunks)
