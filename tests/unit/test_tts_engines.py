"""serving/tts/engines.py: it picks the engine the options name, and the TTS modules import no cycle;
serving/tts/contract.py's warm-up runs any engine once."""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from serving.tts.contract import (
    WARM_UP_ROUNDS,
    WARM_UP_TEXT,
    AudioChunk,
    TtsEngineKind,
    TtsOptions,
    TtsRequest,
    warm_up,
)
from serving.tts.engines import build_engine
from serving.tts.sentences import TextSpan

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
    engines = {
        "serving.tts.csm",
        "serving.tts.csm_generate",
        "serving.tts.piper",
        "serving.tts.engines",
    }
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


class ScriptedEngine:
    """A TtsEngine that yields the given chunk sizes, or raises."""

    sample_rate = 16_000

    def __init__(self, sizes: list[int], error: Exception | None = None) -> None:
        self.sizes = sizes
        self.error = error
        self.requests: list[TtsRequest] = []

    def synthesize(
        self, request: TtsRequest, should_stop: Callable[[], bool]
    ) -> Iterator[AudioChunk]:
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        for size in self.sizes:
            assert not should_stop()
            yield AudioChunk(np.zeros(size, np.float32), self.sample_rate, TextSpan(0, 1))


def test_warm_up_synthesises_one_sentence_to_the_end_a_few_times() -> None:
    engine = ScriptedEngine([320, 1600, 100])
    warm_up(engine)
    assert [r.text for r in engine.requests] == [WARM_UP_TEXT] * WARM_UP_ROUNDS


def test_warm_up_rounds_after_the_first_carry_the_previous_audio_as_context() -> None:
    engine = ScriptedEngine([320, 1600, 100])
    warm_up(engine)
    first, *later = engine.requests
    assert first.context == ()
    assert later and all(len(r.context) == 1 for r in later)
    assert all(r.context[0].audio.size == 2020 for r in later)
    assert all(r.context[0].audio.dtype == np.float32 for r in later)


def test_a_warm_up_without_audio_or_with_an_engine_error_fails() -> None:
    with pytest.raises(RuntimeError, match="no audio"):
        warm_up(ScriptedEngine([]))
    with pytest.raises(OSError, match="libcublas"):
        warm_up(ScriptedEngine([320], OSError("cannot open libcublas.so.12")))
