"""Mimi's decoder, streamed: each request's frames are decoded once, one 80 ms frame per step, every slot
in one batch, and the audio joins across chunks (and sentences) as one continuous decode would.

transformers 5.19's ``MimiModel.decode`` streams only its decoder transformer (``decoder_past_key_values``):
the SEANet decoder's causal convolutions and the transposed convolutions that upsample keep no state
(``padding_cache`` exists for the encoder only). Kyutai's ``moshi`` package streams all of Mimi, but pins
torch < 2.10 and huggingface-hub < 1.0 (transformers 5 needs >= 1.0) and has weights of its own layout.
So this runs transformers' own modules and weights with the state kept here, one row per slot:

- each causal ``MimiConv1d`` (stride 1 in the decoder) keeps its last ``padding_total`` inputs, where the
  one-shot decode pads with zeros;
- each ``MimiConvTranspose1d`` keeps the ``kernel - stride`` samples its last input spilled past its
  output (bias removed), added to the next step's first samples (overlap-add);
- the decoder transformer keeps a ring of keys/values a sliding window plus one step long.

All three are exact: the one-shot decode's output up to a frame depends only on the frames up to it.
State is updated only for rows whose ``keep`` flag is set (a slot without a new audio frame this step),
with ``torch.where`` over static tensors, so the step is captured whole in a CUDA graph.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from serving.tts.csm_kv import RowKvCache, ring_window_mask


class _CausalConv:
    """A causal ``MimiConv1d`` of stride 1 with its left context per row."""

    def __init__(self, layer: Any, rows: int, device: torch.device, dtype: torch.dtype) -> None:
        if not layer.causal or int(layer.conv.stride[0]) != 1 or layer.pad_mode != "constant":
            raise NotImplementedError("Mimi decoder convolutions are causal, stride 1, zero-padded")
        self.conv = layer.conv
        self.context = int(layer.padding_total)
        self.state = torch.zeros(rows, layer.in_channels, self.context, device=device, dtype=dtype)

    def __call__(self, x: torch.Tensor, rows: int, keep: torch.Tensor) -> torch.Tensor:
        if not self.context:
            return self.conv(x)  # type: ignore[no-any-return]
        state = self.state[:rows]
        padded = torch.cat([state, x], dim=-1)
        state.copy_(torch.where(keep, padded[..., -self.context :], state))
        return self.conv(padded)  # type: ignore[no-any-return]


class _TransposedConv:
    """A causal ``MimiConvTranspose1d`` (all its trim on the right) with its overlap per row."""

    def __init__(self, layer: Any, rows: int, device: torch.device, dtype: torch.dtype) -> None:
        if layer.padding_left != 0:
            raise NotImplementedError("Mimi's transposed convolutions trim on the right only")
        self.conv = layer.conv
        self.stride = int(layer.conv.stride[0])
        self.overlap = int(layer.conv.kernel_size[0]) - self.stride
        channels = int(layer.conv.out_channels)
        self.tail = torch.zeros(rows, channels, self.overlap, device=device, dtype=dtype)

    def __call__(self, x: torch.Tensor, rows: int, keep: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)  # [rows, channels, steps * stride + overlap]
        length = x.shape[-1] * self.stride
        tail = self.tail[:rows]
        out = torch.cat([out[..., : self.overlap] + tail, out[..., self.overlap :]], dim=-1)
        spill = out[..., length:]
        if self.conv.bias is not None:  # the next step's output carries its own bias
            spill = spill - self.conv.bias[None, :, None]
        tail.copy_(torch.where(keep, spill, tail))
        return out[..., :length]


class _ResnetBlock:
    """``MimiResnetBlock`` over streamed convolutions."""

    def __init__(self, block: Any, convs: Callable[[Any], _CausalConv]) -> None:
        self.layers: list[Any] = [  # streamed convolutions and ELUs
            convs(layer) if _is_conv(layer) else layer for layer in block.block
        ]
        self.shortcut = convs(block.shortcut) if _is_conv(block.shortcut) else None

    def __call__(self, x: torch.Tensor, rows: int, keep: torch.Tensor) -> torch.Tensor:
        residual = x if self.shortcut is None else self.shortcut(x, rows, keep)
        for layer in self.layers:
            x = layer(x, rows, keep) if isinstance(layer, _CausalConv) else layer(x)
        return residual + x


def _is_conv(module: Any) -> bool:
    return type(module).__name__ == "MimiConv1d"


class MimiStreamDecoder:
    """Per-slot streaming decode of one frame per row: ``decode(codes, keep)`` writes each row's
    ``frame_samples`` into ``audio``. ``reset(row)`` starts a new stream in a row."""

    def __init__(self, codec: Any, rows: int, device: torch.device) -> None:
        config = codec.config
        dtype: torch.dtype = codec.dtype
        self.codec = codec
        self.rows = rows
        self.frame_samples = round(config.sampling_rate / config.frame_rate)
        if codec.upsample is None:
            raise NotImplementedError("Mimi without its frame-rate upsampling")
        self.tokens_per_frame = int(codec.upsample.conv.stride[0])
        if config.sliding_window is None:
            raise NotImplementedError("Mimi's decoder transformer without a sliding window")
        self.window = int(config.sliding_window)
        self.ring = self.window + self.tokens_per_frame
        self._convs: list[_CausalConv] = []
        self._transposed: list[_TransposedConv] = []
        self._upsample = self._transposed_conv(codec.upsample, device, dtype)
        self._decoder: list[Any] = []  # streamed layers and ELUs
        for layer in codec.decoder.layers:
            kind = type(layer).__name__
            if kind == "MimiConv1d":
                self._decoder.append(self._causal_conv(layer, device, dtype))
            elif kind == "MimiConvTranspose1d":
                self._decoder.append(self._transposed_conv(layer, device, dtype))
            elif kind == "MimiResnetBlock":
                self._decoder.append(
                    _ResnetBlock(layer, lambda conv: self._causal_conv(conv, device, dtype))
                )
            else:
                self._decoder.append(layer)  # ELU: no state
        transformer = codec.decoder_transformer
        self._transformer = transformer
        self.kv = RowKvCache(
            len(transformer.layers),
            rows,
            int(config.num_key_value_heads),
            self.ring,
            int(config.head_dim),
            device,
            dtype,
        )
        self.positions = torch.zeros(rows, dtype=torch.int64, device=device)
        self._token_offsets = torch.arange(self.tokens_per_frame, device=device)
        self.audio = torch.zeros(rows, self.frame_samples, device=device, dtype=dtype)

    def _causal_conv(self, layer: Any, device: torch.device, dtype: torch.dtype) -> _CausalConv:
        conv = _CausalConv(layer, self.rows, device, dtype)
        self._convs.append(conv)
        return conv

    def _transposed_conv(
        self, layer: Any, device: torch.device, dtype: torch.dtype
    ) -> _TransposedConv:
        conv = _TransposedConv(layer, self.rows, device, dtype)
        self._transposed.append(conv)
        return conv

    def row_tensors(self) -> list[torch.Tensor]:
        """Every tensor with one row per slot."""
        return [
            *(c.state for c in self._convs),
            *(t.tail for t in self._transposed),
            *self.kv.row_tensors(),
            self.positions,
            self.audio,
        ]

    def reset(self, row: int) -> None:
        """A new stream in ``row``: zero left context and overlap, transformer position 0 (its old
        keys fall outside every mask from position 0 on)."""
        for conv in self._convs:
            conv.state[row].zero_()
        for transposed in self._transposed:
            transposed.tail[row].zero_()
        self.positions[row] = 0

    def decode(self, codes: torch.Tensor, keep: torch.Tensor) -> None:
        """One frame per row: ``codes`` ``[rows, codebooks]`` (int64), ``keep`` bool ``[rows]``
        (rows whose frame is audio; the others' state stays as it was)."""
        rows = codes.shape[0]
        keep3 = keep[:, None, None]
        x = self.codec.quantizer.decode(codes[:, :, None])  # [rows, dim, 1]
        x = self._upsample(x, rows, keep3)  # [rows, dim, tokens_per_frame]
        x = self._transformer_step(x.transpose(1, 2), rows, keep).transpose(1, 2)
        for layer in self._decoder:
            x = layer(x, rows, keep3) if isinstance(layer, _Streamed) else layer(x)
        self.audio[:rows].copy_(x[:, 0])

    def _transformer_step(self, x: torch.Tensor, rows: int, keep: torch.Tensor) -> torch.Tensor:
        positions = self.positions[:rows, None] + self._token_offsets[None, :]
        self.kv.bind(slice(0, rows), torch.remainder(positions, self.ring), self.ring)
        mask = ring_window_mask(positions, self.ring, self.window)
        # transformers 5.19 rotates once per model; 5.5.3 (the GPU image's) in each attention, from
        # position_ids (and ignores position_embeddings). Both run here (tests/unit, both versions).
        rotary = getattr(self._transformer, "rotary_emb", None)
        embeddings = None if rotary is None else rotary(x, positions)
        for layer in self._transformer.layers:
            x = layer(
                x,
                attention_mask=mask,
                past_key_values=self.kv,
                use_cache=True,
                position_embeddings=embeddings,
                position_ids=positions,
            )[0]
        self.positions[:rows] += keep.to(torch.int64) * self.tokens_per_frame
        return x


_Streamed = (_CausalConv, _TransposedConv, _ResnetBlock)
