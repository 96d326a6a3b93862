"""Static key/value caches with one row per slot, for transformers' decoder layers (CSM's backbone and
depth decoder, Mimi's decoder transformer) run by our own frame loop.

transformers' attention modules call ``past_key_values.update(key_states, value_states, layer_idx)`` and
attend over what it returns; :class:`RowKvCache` is that call over preallocated tensors: each row (a
slot) writes its new keys at its own positions (``scatter_`` with indices on the device, no host sync,
so the same code runs inside a CUDA graph) and the layer attends over the first ``kv_len`` entries with a
mask. A ring (``index = position % length``) serves a sliding window in constant memory. The masks are
functions of positions only: nothing to reset when a slot gets a new request, since stale entries are
never inside a new request's mask.
"""

from __future__ import annotations

from typing import Any

import torch


class RowKvCache:
    """Keys and values ``[rows, kv_heads, length, head_dim]`` per layer; ``bind`` says which rows the
    next forward runs on, where each new token goes, and how many entries the layers attend over."""

    def __init__(
        self,
        layers: int,
        rows: int,
        kv_heads: int,
        length: int,
        head_dim: int,
        device: torch.device,
        dtype: torch.dtype,
    ) -> None:
        shape = (rows, kv_heads, length, head_dim)
        self.length = length
        self.keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(layers)]
        self.values = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(layers)]
        self._rows = slice(0, rows)
        self._index: torch.Tensor | None = None
        self._kv_len = length

    def bind(self, rows: slice, index: torch.Tensor, kv_len: int) -> None:
        """The next layer calls write token ``t`` of row ``r`` (of ``rows``) at ``index[r, t]``
        (``[rows, tokens]``, int64 on the cache's device) and read entries ``[0, kv_len)``."""
        layer = self.keys[0]
        self._rows = rows
        self._index = index[:, None, :, None].expand(-1, layer.shape[1], -1, layer.shape[3])
        self._kv_len = kv_len

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, layer_idx: int, *_: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """transformers' ``Cache.update``: store the new keys/values, return what to attend over."""
        if self._index is None:
            raise RuntimeError("RowKvCache.update before bind")
        keys = self.keys[layer_idx][self._rows]
        values = self.values[layer_idx][self._rows]
        keys.scatter_(2, self._index, key_states)
        values.scatter_(2, self._index, value_states)
        return keys[:, :, : self._kv_len], values[:, :, : self._kv_len]

    def row_tensors(self) -> list[torch.Tensor]:
        """Every tensor with one row per slot (what moving a slot copies)."""
        return [*self.keys, *self.values]


def causal_mask(positions: torch.Tensor, key_index: torch.Tensor) -> torch.Tensor:
    """Bool ``[rows, 1, tokens, keys]``: token at ``positions[r, t]`` sees entries ``<=`` its position
    (``key_index`` is ``arange(keys)`` on the device)."""
    return key_index[None, None, None, :] <= positions[:, None, :, None]


def ring_window_mask(positions: torch.Tensor, ring: int, window: int) -> torch.Tensor:
    """Bool ``[rows, 1, tokens, ring]`` for a ring cache (entry ``p % ring`` holds position ``p``): the
    token at ``positions[r, t]`` sees positions ``(t - window, t]`` that exist (``>= 0``), as
    transformers' sliding-window causal mask does. ``ring`` must exceed ``window`` by the tokens
    written per step, so a step's later tokens never overwrite what its earlier ones see."""
    entries = torch.arange(ring, device=positions.device)
    query = positions[:, None, :, None]
    age = torch.remainder(query - entries[None, None, None, :], ring)
    return (age < window) & (query - age >= 0)
