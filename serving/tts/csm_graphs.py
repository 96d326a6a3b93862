"""How the scheduler runs CSM's frame step: eagerly (the CPU), or as CUDA graphs captured at load.

A frame step is some 1,500 small kernels for CSM-1B (16 backbone layers, 31 depth-decoder positions of
4 layers, sampling, Mimi's decoder) whose launches, not their arithmetic, bound it at a few slots. On
CUDA, :class:`CudaGraphSteps` captures :meth:`CsmFrameStep.step` itself, over its static tensors, once
per bucket of slot count (1, 2, 4, ... up to the slots) and of attended backbone positions (128, 256,
... up to the cache), and replays the smallest graph that holds a step: a bucket's extra rows are
padding that no request reads. Capture happens once, when the model loads (before the contract's
warm-up), after one eager run of each shape on the capture's side stream (lazy initialisations must not
happen inside a capture). :class:`EagerSteps` runs the same function with the exact shape.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import torch

from serving.tts.csm_frame_step import CsmFrameStep

log = logging.getLogger(__name__)

SMALLEST_KV_BUCKET = 128


def buckets(limit: int, smallest: int = 1) -> tuple[int, ...]:
    """Powers of two from ``smallest`` below ``limit``, then ``limit``: 16 -> (1, 2, 4, 8, 16)."""
    sizes: list[int] = []
    size = smallest
    while size < limit:
        sizes.append(size)
        size *= 2
    return (*sizes, limit)


def bucket_for(value: int, sizes: tuple[int, ...]) -> int:
    """The smallest of ``sizes`` (ascending) that holds ``value``."""
    for size in sizes:
        if value <= size:
            return size
    raise ValueError(f"{value} is more than the largest bucket {sizes[-1]}")


class EagerSteps:
    """The step as it is, with the exact number of rows and attended positions."""

    def __init__(self, step: CsmFrameStep) -> None:
        self._step = step

    def shape(self, rows: int, kv_needed: int) -> tuple[int, int]:
        return rows, kv_needed

    def run(self, rows: int, kv_len: int) -> None:
        self._step.step(rows, kv_len)


class CudaGraphSteps:
    """One CUDA graph of ``step.step(rows, kv_len)`` per bucket pair, sharing one memory pool (a
    step's temporaries; its results are copied into the step's own tensors, which outlive replays)."""

    def __init__(self, step: CsmFrameStep) -> None:
        if step.device.type != "cuda":
            raise ValueError(f"CUDA graphs need a CUDA device, not {step.device}")
        self._step = step
        self.row_buckets = buckets(step.slots)
        self.kv_buckets = buckets(step.max_positions, min(SMALLEST_KV_BUCKET, step.max_positions))
        self._graphs: dict[tuple[int, int], Any] = {}
        began = time.perf_counter()
        pool = torch.cuda.graph_pool_handle()
        side = torch.cuda.Stream(step.device)  # type: ignore[no-untyped-call]
        # Largest first: later, smaller graphs reuse the pool's blocks.
        for rows in reversed(self.row_buckets):
            for kv_len in reversed(self.kv_buckets):
                side.wait_stream(torch.cuda.current_stream(step.device))
                with torch.cuda.stream(side):
                    step.step(rows, kv_len)
                torch.cuda.current_stream(step.device).wait_stream(side)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph, pool=pool, stream=side):
                    step.step(rows, kv_len)
                self._graphs[(rows, kv_len)] = graph
        torch.cuda.synchronize(step.device)
        log.info(
            "csm: %d CUDA graphs captured in %.1f s (rows %s x positions %s)",
            len(self._graphs),
            time.perf_counter() - began,
            self.row_buckets,
            self.kv_buckets,
        )

    def shape(self, rows: int, kv_needed: int) -> tuple[int, int]:
        return bucket_for(rows, self.row_buckets), bucket_for(kv_needed, self.kv_buckets)

    def run(self, rows: int, kv_len: int) -> None:
        self._graphs[(rows, kv_len)].replay()
