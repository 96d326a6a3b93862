"""A tiny randomly initialised CSM (backbone, depth decoder, Mimi codec) with its processor, on disk.

It exercises the CSM engine's real code path (processor, chat template, streamed generation, Mimi
decoding) in well under a second per sentence on a CPU: the production weights (``sesame/csm-1b``)
cannot be fetched here and would be far too slow on two cores. The audio is noise, not speech. Sizes
follow transformers' own CSM tests, except that the Mimi codec keeps the real frame geometry
(24 kHz, 1920 samples = 80 ms per frame) so that chunk sizes match production.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

BUILD_VERSION = "1"  # bump when the builder changes, so cached copies are rebuilt

CODEBOOKS = 4
CODEBOOK_SIZE = 64
SPECIAL_TOKENS = ("<|begin_of_text|>", "<|end_of_text|>", "<|AUDIO|>", "<|audio_eos|>")

# The structure of sesame/csm-1b's chat template: "[speaker]text" per turn, audio after its text.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{ bos_token }}[{{ message['role'] }}]"
    "{%- for content in message['content'] -%}"
    "{%- if content['type'] == 'text' -%}{{ content['text'] }}{%- endif -%}"
    "{%- endfor -%}"
    "{{ eos_token }}"
    "{%- for content in message['content'] -%}"
    "{%- if content['type'] == 'audio' -%}<|AUDIO|><|audio_eos|>{%- endif -%}"
    "{%- endfor -%}"
    "{%- endfor -%}"
)


def tiny_csm_dir(cache_dir: Path) -> Path:
    """The tiny model's folder under ``cache_dir``, built on first use."""
    target = cache_dir / "models" / f"tiny-csm-v{BUILD_VERSION}"
    if not (target / ".complete").exists():
        build_tiny_csm(target)
    return target


def build_tiny_csm(target: Path, seed: int = 0) -> None:
    import torch
    import transformers

    library: Any = transformers
    processor = byte_level_processor()
    config = tiny_csm_config(processor.tokenizer)
    torch.manual_seed(seed)
    model = library.CsmForConditionalGeneration(config).eval()
    staging = target.with_name(target.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    processor.save_pretrained(staging)
    (staging / ".complete").write_text(BUILD_VERSION)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def byte_level_processor() -> Any:
    """CSM's processor (Mimi's 24 kHz feature extractor) over the byte-level tokenizer, with
    sesame/csm-1b's chat template; built in memory, nothing read from disk."""
    import transformers

    library: Any = transformers
    extractor = library.EncodecFeatureExtractor(feature_size=1, sampling_rate=24_000)
    return library.CsmProcessor(extractor, _byte_tokenizer(library), chat_template=CHAT_TEMPLATE)


def special_token_ids(tokenizer: Any) -> dict[str, int]:
    """The ``CsmConfig`` token ids that must be the tokenizer's special tokens' ids."""
    ids = {token: int(tokenizer.convert_tokens_to_ids(token)) for token in SPECIAL_TOKENS}
    return {
        "bos_token_id": ids["<|begin_of_text|>"],
        "pad_token_id": ids["<|AUDIO|>"],
        "audio_token_id": ids["<|AUDIO|>"],
        "audio_eos_token_id": ids["<|audio_eos|>"],
    }


def tiny_csm_config(tokenizer: Any) -> Any:
    """The tiny model's ``CsmConfig``, its token ids those of ``tokenizer``."""
    import transformers

    library: Any = transformers
    vocab = CODEBOOK_SIZE + 3  # + the ids past the codebook that the real model also has
    return library.CsmConfig(
        num_codebooks=CODEBOOKS,
        vocab_size=vocab,
        text_vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        **special_token_ids(tokenizer),
        codebook_pad_token_id=vocab - 1,
        codebook_eos_token_id=0,
        depth_decoder_config={
            "num_codebooks": CODEBOOKS,
            "backbone_hidden_size": 32,
            "vocab_size": vocab,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": CODEBOOKS + 1,
        },
        codec_config={
            "model_type": "mimi",
            "sampling_rate": 24_000,
            "frame_rate": 12.5,
            "hidden_size": 32,
            "num_filters": 8,
            "num_residual_layers": 1,
            "upsampling_ratios": [8, 6, 5, 4],
            "codebook_size": CODEBOOK_SIZE,
            "codebook_dim": 16,
            "vector_quantization_hidden_dimension": 16,
            "num_quantizers": CODEBOOKS,
            "num_semantic_quantizers": 1,
            "upsample_groups": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "head_dim": 16,
            "intermediate_size": 64,
            "sliding_window": 16,
        },
    )


def _byte_tokenizer(library: Any) -> Any:
    """A byte-level tokenizer with CSM's special tokens: any text encodes, no vocabulary file needed."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {token: i for i, token in enumerate([*SPECIAL_TOKENS, *sorted(alphabet)])}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    return library.PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<|begin_of_text|>",
        eos_token="<|end_of_text|>",
        pad_token="<|end_of_text|>",
        additional_special_tokens=["<|AUDIO|>", "<|audio_eos|>"],
    )
