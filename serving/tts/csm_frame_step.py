"""CSM's frame loop over transformers' modules and weights, for a pool of slots at once.

A frame (80 ms of audio) is one code per codebook. For every active slot at once, :meth:`step`:

1. codebook 0 from the backbone's last hidden state (``lm_head``), chosen on the device;
2. codebooks 1..N-1 from the depth decoder: the backbone state and code 0 (two positions), then one
   position per codebook, each with its own head (``codebooks_head.weight[k - 1]``), in a small static
   cache that every frame starts over;
3. the backbone step: the frame's codes embedded (summed over codebooks) at the slot's next position, its
   keys/values written into the slot's row of the static cache, the new last hidden state kept for the
   next frame;
4. the end-of-audio test (every codebook but the last is ``codebook_eos_token_id``, as ``generate``
   stops) and Mimi's streaming decode of the frame for the slots that go on (mimi_stream.py).

Everything in a step works on preallocated tensors with shapes fixed by ``(rows, kv_len)`` and no host
sync, so on CUDA the same function is captured as a graph per bucket (csm_graphs.py) and on the CPU it
runs as it is. A prompt is prefilled into one row (:meth:`prefill`, eager: its length varies). The
layers are transformers' own (``CsmDecoderLayer``, ``MimiTransformerLayer``), called with our cache
(csm_kv.py), so the arithmetic is theirs; greedy codes equal ``generate``'s (tests/unit).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from serving.tts.csm_kv import RowKvCache, causal_mask
from serving.tts.csm_sampling import SamplingParams, choose
from serving.tts.mimi_stream import MimiStreamDecoder


@dataclass(frozen=True)
class FrameSampling:
    """How codebook 0 (backbone) and codebooks 1..N-1 (depth decoder) are chosen."""

    backbone: SamplingParams
    depth: SamplingParams
    suppressed: tuple[int, ...]  # audio ids never chosen (past the codec's codebook)


class CsmFrameStep:
    """Static state of ``slots`` rows: backbone and depth caches, each row's last hidden state and next
    position, the last step's codes, and Mimi's streaming decoder."""

    def __init__(
        self,
        model: Any,
        slots: int,
        max_positions: int,
        sampling: FrameSampling,
    ) -> None:
        config = model.config
        device = torch.device(model.device)
        dtype: torch.dtype = model.lm_head.weight.dtype
        self.device = device
        self.slots = slots
        self.max_positions = max_positions
        self.codebooks = int(config.num_codebooks)
        self.eos = int(config.codebook_eos_token_id)
        self._model = model
        self._backbone = model.backbone_model
        self._depth = model.depth_decoder
        self._vocab = int(self._depth.config.vocab_size)
        self._sampling = sampling
        self.cache = RowKvCache(
            int(config.num_hidden_layers),
            slots,
            int(config.num_key_value_heads),
            max_positions,
            int(config.head_dim),
            device,
            dtype,
        )
        depth = self._depth.config
        self.depth_cache = RowKvCache(
            int(depth.num_hidden_layers),
            slots,
            int(depth.num_key_value_heads),
            self.codebooks,
            int(depth.head_dim),
            device,
            dtype,
        )
        self.hidden = torch.zeros(slots, int(config.hidden_size), device=device, dtype=dtype)
        self.positions = torch.zeros(slots, dtype=torch.int64, device=device)
        self.codes = torch.zeros(slots, self.codebooks, dtype=torch.int64, device=device)
        self.ended = torch.zeros(slots, dtype=torch.bool, device=device)
        # Rows whose frame this step is one of their request's (the others are padding of a bucket).
        self.active = torch.zeros(slots, dtype=torch.bool, device=device)
        self.codec = MimiStreamDecoder(model.codec_model, slots, device)
        self._key_index = torch.arange(max_positions, device=device)
        self._suppressed = torch.zeros(int(config.vocab_size), dtype=torch.bool, device=device)
        self._suppressed[list(sampling.suppressed)] = True
        # The depth decoder's positions: 0..N-1, the same for every row and every frame.
        self._depth_positions = torch.arange(self.codebooks, device=device)[None, :]
        self._depth_index = self._depth_positions.expand(slots, -1).contiguous()

    # -- rows ------------------------------------------------------------------------------------------
    def row_tensors(self) -> list[torch.Tensor]:
        """Every tensor with one row per slot (the depth cache starts over each frame)."""
        return [
            *self.cache.row_tensors(),
            self.hidden,
            self.positions,
            self.codes,
            self.ended,
            *self.codec.row_tensors(),
        ]

    def move_row(self, source: int, target: int) -> None:
        """Slot ``source``'s state into ``target`` (keeps the active slots first)."""
        for tensor in self.row_tensors():
            tensor[target].copy_(tensor[source])

    def prefill(self, row: int, embeddings: torch.Tensor) -> None:
        """Run a prompt (``[1, tokens, hidden]`` on the device, the model's dtype) through the backbone
        into ``row``: its cache from position 0, its last hidden state, its next position."""
        tokens = embeddings.shape[1]
        if tokens >= self.max_positions:
            raise ValueError(f"a prompt of {tokens} tokens leaves no room in {self.max_positions}")
        positions = self._key_index[None, :tokens]
        self.cache.bind(slice(row, row + 1), positions, tokens)
        # One row from position 0: the plain causal mask, as transformers' prefill runs it.
        hidden = self._backbone_layers(embeddings, positions, None)
        self.hidden[row].copy_(hidden[0, -1])
        self.positions[row] = tokens

    def reset_row(self, row: int) -> None:
        """A new request in ``row``: Mimi's stream starts over (the prompt resets the rest)."""
        self.codec.reset(row)

    # -- the step ---------------------------------------------------------------------------------------
    def step(self, rows: int, kv_len: int) -> None:
        """One frame for rows ``[0, rows)``: codes into ``codes``, ``ended``, audio into
        ``codec.audio``; each row's next position must be below ``kv_len``."""
        hidden = self.hidden[:rows]
        first = choose(self._model.lm_head(hidden), self._sampling.backbone, self._suppressed)
        codes = self._depth_codes(hidden, first)
        self.codes[:rows].copy_(codes)
        ended = (codes[:, :-1] == self.eos).all(dim=-1)
        self.ended[:rows].copy_(ended)
        # Padding rows of a bucket may have run past the cache: keep their writes inside it.
        positions = self.positions[:rows].clamp(max=kv_len - 1)[:, None]
        embeddings = self._backbone.embed_tokens(codes[:, None, :])  # summed over codebooks
        self.cache.bind(slice(0, rows), positions, kv_len)
        mask = causal_mask(positions, self._key_index[:kv_len])
        self.hidden[:rows].copy_(self._backbone_layers(embeddings, positions, mask)[:, -1])
        self.positions[:rows] += 1
        self.codec.decode(codes, self.active[:rows] & ~ended)

    def _backbone_layers(
        self, embeddings: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        return _decoder_stack(self._backbone, embeddings, positions, mask, self.cache)

    def _depth_codes(self, backbone_hidden: torch.Tensor, first: torch.Tensor) -> torch.Tensor:
        """Codebooks 0..N-1 ``[rows, N]``. As ``depth_decoder.generate`` runs it: position 0 is the
        backbone's hidden state, position k the code of codebook k-1 (embedded with offset
        ``(k-1) * vocab``); the output at position k chooses codebook k with head ``k - 1``. Each step
        attends over exactly positions ``0..k`` (no mask needed), as transformers' dynamic cache does."""
        decoder = self._depth.model
        heads = self._depth.codebooks_head.weight
        rows = backbone_hidden.shape[0]
        codes = [first]
        inputs = torch.cat(
            [backbone_hidden[:, None, :], decoder.embed_tokens(first[:, None])], dim=1
        )
        start = 0
        for codebook in range(1, self.codebooks):
            end = codebook + 1  # positions start..codebook this step
            positions = self._depth_positions[:, start:end]
            self.depth_cache.bind(slice(0, rows), self._depth_index[:rows, start:end], end)
            hidden = decoder.inputs_embeds_projector(inputs)
            hidden = _decoder_stack(decoder, hidden, positions, None, self.depth_cache)
            logits = torch.nn.functional.linear(hidden[:, -1], heads[codebook - 1].T)
            code = choose(logits, self._sampling.depth, self._suppressed)
            codes.append(code)
            inputs = decoder.embed_tokens(code[:, None] + codebook * self._vocab)
            start = end
        return torch.stack(codes, dim=1)


def _decoder_stack(
    model: Any, hidden: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor | None, cache: Any
) -> torch.Tensor:
    """A transformers decoder's layers and final norm over ``hidden`` at ``positions``, with our
    static ``cache``: what its ``forward`` does after the embedding (backbone and depth decoder)."""
    rotary = model.rotary_emb(hidden, positions)
    for layer in model.layers[: model.config.num_hidden_layers]:
        hidden = layer(
            hidden,
            attention_mask=mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
            position_embeddings=rotary,
        )
    return model.norm(hidden)  # type: ignore[no-any-return]
