"""How the frame step is run (serving/tts/csm_graphs.py): the buckets, and on CUDA one captured graph
per bucket pair of the very function the CPU runs eagerly. No GPU here: torch.cuda's graph API is
replaced by a recorder, the step by a double that says when it runs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from serving.tts import csm_graphs
from serving.tts.csm_graphs import CudaGraphSteps, EagerSteps, bucket_for, buckets


def test_buckets_are_powers_of_two_up_to_the_limit() -> None:
    assert buckets(16) == (1, 2, 4, 8, 16)
    assert buckets(12) == (1, 2, 4, 8, 12)
    assert buckets(1) == (1,)
    assert buckets(2048, 128) == (128, 256, 512, 1024, 2048)
    assert [bucket_for(n, buckets(16)) for n in (1, 3, 5, 9, 16)] == [1, 4, 8, 16, 16]
    with pytest.raises(ValueError):
        bucket_for(17, buckets(16))


class RecordingStep:
    """``CsmFrameStep`` as the runners see it: its shape limits and ``step``, logged."""

    def __init__(self, device: str, slots: int = 4, max_positions: int = 256) -> None:
        self.device = torch.device(device)
        self.slots = slots
        self.max_positions = max_positions
        self.calls: list[tuple[int, int, bool]] = []  # rows, kv_len, inside a capture
        self.capturing = False

    def step(self, rows: int, kv_len: int) -> None:
        self.calls.append((rows, kv_len, self.capturing))


class FakeGraph:
    def __init__(self) -> None:
        self.replays = 0

    def replay(self) -> None:
        self.replays += 1


class FakeCuda:
    """torch.cuda's graph API as CudaGraphSteps uses it; a capture marks ``step`` as capturing."""

    def __init__(self, step: RecordingStep) -> None:
        self.step = step
        self.graphs: list[FakeGraph] = []
        idle = SimpleNamespace(wait_stream=lambda other: None)
        self.Stream = lambda device: idle
        self.current_stream = lambda device: idle
        self.stream = lambda stream: contextlib.nullcontext()
        self.graph_pool_handle = lambda: "pool"
        self.synchronize = lambda device: None

    def CUDAGraph(self) -> FakeGraph:
        self.graphs.append(FakeGraph())
        return self.graphs[-1]

    @contextlib.contextmanager
    def graph(self, captured: FakeGraph, pool: Any, stream: Any) -> Iterator[None]:
        self.step.capturing = True
        yield
        self.step.capturing = False


def test_cuda_captures_the_step_once_per_bucket_pair_after_an_eager_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    step = RecordingStep("cuda")
    cuda = FakeCuda(step)
    monkeypatch.setattr(csm_graphs.torch, "cuda", cuda)
    runner = CudaGraphSteps(step)  # type: ignore[arg-type]
    pairs = {(r, k) for r in (1, 2, 4) for k in (128, 256)}
    captured = [(r, k) for r, k, inside in step.calls if inside]
    eager = [(r, k) for r, k, inside in step.calls if not inside]
    assert sorted(captured) == sorted(pairs) and sorted(eager) == sorted(pairs)
    # Each capture follows an eager run of its own shape (lazy set-up never inside a graph).
    assert all(step.calls[i][:2] == step.calls[i + 1][:2] for i in range(0, len(step.calls), 2))
    assert runner.shape(3, 130) == (4, 256)
    before = len(step.calls)
    runner.run(*runner.shape(3, 130))
    assert len(step.calls) == before  # replayed, not run
    assert sum(g.replays for g in cuda.graphs) == 1


def test_eager_runs_the_exact_shape_and_cuda_graphs_need_cuda() -> None:
    step = RecordingStep("cpu")
    runner = EagerSteps(step)  # type: ignore[arg-type]
    assert runner.shape(3, 130) == (3, 130)
    runner.run(3, 130)
    assert step.calls == [(3, 130, False)]
    with pytest.raises(ValueError, match="CUDA"):
        CudaGraphSteps(step)  # type: ignore[arg-type]
