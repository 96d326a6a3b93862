"""Choosing each codebook's code on the device, as transformers' ``generate`` does for CSM, without a
host sync: suppressed ids, temperature, top-k, top-p, then a draw (or the argmax when greedy).

The draw is the exponential race (``argmax(p / E)`` with ``E ~ Exp(1)`` is a sample of ``p``), as vLLM
samples: elementwise kernels and an argmax, nothing that waits on the host, so it is captured in the
frame step's CUDA graph; the noise comes from the device generator, which a graph advances on every
replay. The same ids as ``generate`` when greedy; the same distribution, not the same draws, when not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class SamplingParams:
    """One model's sampling (backbone or depth decoder): ``temperature <= 0`` is greedy."""

    temperature: float
    top_k: int = 0  # 0: off
    top_p: float = 1.0  # 1.0: off

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0


def sampling_from(generation_config: Any, temperature: float) -> SamplingParams:
    """The options' temperature with the top-k / top-p of a model's generation config (sesame/csm-1b
    sets them; ``generate`` applies them when sampling)."""
    top_k = getattr(generation_config, "top_k", None) or 0
    top_p = getattr(generation_config, "top_p", None)
    return SamplingParams(temperature, int(top_k), 1.0 if top_p is None else float(top_p))


def choose(logits: torch.Tensor, params: SamplingParams, suppressed: torch.Tensor) -> torch.Tensor:
    """Codes ``[rows]`` (int64) from ``logits`` ``[rows, vocab]``; ``suppressed`` is a bool ``[vocab]``
    of ids never chosen."""
    scores = logits.float().masked_fill(suppressed, float("-inf"))
    if params.greedy:
        return scores.argmax(dim=-1)
    if params.temperature != 1.0:
        scores = scores / params.temperature
    if 0 < params.top_k < scores.shape[-1]:
        kth = torch.topk(scores, params.top_k, dim=-1).values[:, -1:]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if params.top_p < 1.0:
        ordered, order = torch.sort(scores, dim=-1)  # ascending, as transformers' TopPLogitsWarper
        remove = ordered.softmax(dim=-1).cumsum(dim=-1) <= 1 - params.top_p
        remove[:, -1] = False  # keep at least the most likely id
        scores = scores.masked_fill(remove.scatter(1, order, remove), float("-inf"))
    probs = scores.softmax(dim=-1)
    race = torch.empty_like(probs).exponential_()
    return (probs / race).argmax(dim=-1)
