"""A sentence's prompt for CSM's backbone: the processor's tokens with the context turns' audio as Mimi
codes, embedded as ``CsmForConditionalGeneration._merge_input_ids_with_input_values`` embeds them.

transformers encodes every context turn's audio with Mimi for every ``generate`` call, so a reply of
three sentences with one context turn runs the encoder three times over the same audio. Here each
turn's codes are kept in :class:`ContextCodes`, an LRU keyed by a hash of the audio, so a turn is encoded
once per process however many sentences (and requests: the orchestrator sends a reply's previous chunk
as the next chunk's context) it conditions.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from serving.tts.contract import FloatArray


@dataclass(frozen=True)
class SentencePrompt:
    """What the model needs of one sentence, built on the request's thread (host tensors only)."""

    input_ids: torch.Tensor  # [1, tokens] int64: text, and one audio token per context frame
    context_audio: tuple[FloatArray, ...]  # each turn's audio at the codec's rate, in prompt order


class ContextCodes:
    """Mimi codes ``[frames, codebooks]`` of context audio, on the model's device; the ``capacity``
    turns used last are kept. Used by the scheduler's thread only (no lock)."""

    def __init__(self, codec: Any, capacity: int) -> None:
        self._codec = codec
        self._device = torch.device(codec.device)
        self._dtype: torch.dtype = codec.dtype
        self._capacity = max(1, capacity)
        self._codes: OrderedDict[bytes, torch.Tensor] = OrderedDict()
        self.encoded = 0  # turns run through Mimi's encoder (tests)

    def codes(self, audio: FloatArray) -> torch.Tensor:
        samples = np.ascontiguousarray(audio, dtype=np.float32)
        key = hashlib.blake2b(samples.tobytes(), digest_size=16).digest()
        cached = self._codes.get(key)
        if cached is not None:
            self._codes.move_to_end(key)
            return cached
        values = torch.from_numpy(samples).to(self._device, self._dtype)[None, None, :]
        codes: torch.Tensor = self._codec.encode(values).audio_codes[0].transpose(0, 1)
        # As the model reads them: the frames the processor gave audio tokens for.
        length = torch.tensor(samples.size, device=self._device)
        frames = int(self._codec.get_encoded_length(length))
        codes = codes[:frames].contiguous()
        self.encoded += 1
        self._codes[key] = codes
        while len(self._codes) > self._capacity:
            self._codes.popitem(last=False)
        return codes


def prompt_embeddings(model: Any, prompt: SentencePrompt, context: ContextCodes) -> torch.Tensor:
    """``[1, tokens, hidden]`` on the model's device in its dtype: text tokens embedded, each audio
    token the sum of its frame's codebook embeddings, each audio end token the end-of-audio frame's."""
    config = model.config
    device = torch.device(model.device)
    input_ids = prompt.input_ids.to(device)
    embeddings: torch.Tensor = model.embed_text_tokens(input_ids)
    if not prompt.context_audio:
        return embeddings
    codes = torch.cat([context.codes(audio) for audio in prompt.context_audio])
    embed_frames = model.backbone_model.embed_tokens
    audio_tokens = input_ids == config.audio_token_id
    if int(audio_tokens.sum()) != codes.shape[0]:
        raise ValueError("the prompt's audio tokens and its context frames differ in number")
    embeddings[audio_tokens] = embed_frames(codes[None])[0]
    end = torch.full(
        (1, 1, config.num_codebooks), config.codebook_eos_token_id, device=device, dtype=torch.long
    )
    ends = input_ids == config.audio_eos_token_id
    embeddings[ends] = embed_frames(end)[0].expand(int(ends.sum()), -1)
    return embeddings


class PromptEmbedder:
    """:func:`prompt_embeddings` of one model with its context codes (what the scheduler calls)."""

    def __init__(self, model: Any, context: ContextCodes) -> None:
        self.model = model
        self.context = context

    def __call__(self, prompt: SentencePrompt) -> torch.Tensor:
        return prompt_embeddings(self.model, prompt, self.context)
