"""The ``csm_generate`` engine puts every tensor on the model's device before the model or its codec
sees it (the frame engine's own check: tests/unit/test_tts_csm_frame_step.py).

On a GPU the processor's tensors are built on the host in float32 and transformers' sampler hands the
streamer host copies of each frame (``next_tokens.cpu()``); with one device in ``device_map`` nothing
moves them back. A CPU test cannot put the model on a GPU, so the model here is a double that lives on
``meta`` (not the host), in bfloat16, and refuses any input elsewhere or audio in another dtype; the
processor and every line of the engine are the real ones.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from serving.tts.contract import ContextTurn, TtsEngineKind, TtsOptions, TtsRequest, warm_up
from serving.tts.csm import LoadedCsm
from serving.tts.csm_generate import CsmGenerateTtsEngine
from serving.tts.tiny_csm import tiny_csm_dir

CACHE_DIR = Path(__file__).resolve().parents[2] / ".cache"
DEVICE = torch.device("meta")
FRAMES = 5  # generated per sentence before the end-of-audio frame


class WrongDevice(AssertionError):
    pass


def require_on_device(name: str, value: torch.Tensor, dtype: torch.dtype | None = None) -> None:
    if value.device != DEVICE:
        raise WrongDevice(f"{name} is on {value.device}, the model on {DEVICE}")
    if dtype is not None and value.dtype != dtype:
        raise WrongDevice(f"{name} is {value.dtype}, the codec runs {dtype}")


class DeviceStrictCodec:
    """Mimi's decode/encode contract on a device that is not the host."""

    device = DEVICE
    dtype = torch.bfloat16

    def __init__(self, frame_samples: int) -> None:
        self.frame_samples = frame_samples
        self.decoded_frames = 0

    def decode(self, codes: torch.Tensor) -> SimpleNamespace:
        require_on_device("the codes to decode", codes)
        frames = codes.shape[-1]
        self.decoded_frames += frames
        # Host audio stands in for device audio: the engine copies it to the host either way.
        return SimpleNamespace(audio_values=torch.zeros(1, 1, frames * self.frame_samples))


class DeviceStrictCsm:
    """``CsmForConditionalGeneration`` as the engine uses it, on ``meta`` in bfloat16: it checks its
    inputs, then streams host frames exactly as transformers' sampler does."""

    device = DEVICE
    dtype = torch.bfloat16

    def __init__(self, config: Any) -> None:
        self.config = config
        codec = config.codec_config
        self.codec_model = DeviceStrictCodec(round(codec.sampling_rate / codec.frame_rate))
        self.prompts = 0
        self.with_context = 0

    def generate(self, *, streamer: Any, max_new_tokens: int, **kwargs: Any) -> None:
        for name, value in kwargs.items():
            if isinstance(value, torch.Tensor):
                is_audio = value.is_floating_point()
                require_on_device(name, value, self.codec_model.dtype if is_audio else None)
        self.prompts += 1
        self.with_context += "input_values" in kwargs
        codebooks = self.config.num_codebooks
        streamer.put(torch.zeros(1, 1, dtype=torch.long))  # the prompt, as generate() first does
        for _ in range(min(FRAMES, max_new_tokens)):
            streamer.put(torch.ones(1, codebooks, dtype=torch.long))  # next_tokens.cpu()
        streamer.put(torch.full((1, codebooks), self.config.codebook_eos_token_id))


@pytest.fixture(scope="module")
def loaded() -> LoadedCsm:
    import transformers

    folder = tiny_csm_dir(CACHE_DIR)
    library: Any = transformers
    processor = library.AutoProcessor.from_pretrained(str(folder))
    return LoadedCsm(processor, DeviceStrictCsm(library.CsmConfig.from_pretrained(str(folder))))


def engine_on(loaded: LoadedCsm) -> CsmGenerateTtsEngine:
    options = TtsOptions(engine=TtsEngineKind.CSM_GENERATE, model="unused", device="meta")
    return CsmGenerateTtsEngine(options, loaded)


def test_prompt_and_context_audio_reach_the_model_on_its_device_in_its_dtype(
    loaded: LoadedCsm,
) -> None:
    engine = engine_on(loaded)
    turn = ContextTurn("Earlier words.", 1, np.zeros(24_000, np.float32))
    chunks = list(engine.synthesize(TtsRequest("Hi there.", 0, (turn,)), lambda: False))
    assert sum(c.samples.size for c in chunks) == FRAMES * 1920
    assert loaded.model.with_context >= 1


def test_streamed_host_frames_are_decoded_on_the_codec_device(loaded: LoadedCsm) -> None:
    engine = engine_on(loaded)
    before = loaded.model.codec_model.decoded_frames
    chunks = list(engine.synthesize(TtsRequest("Hello there."), lambda: False))
    assert chunks and all(c.samples.dtype == np.float32 for c in chunks)
    assert loaded.model.codec_model.decoded_frames > before


def test_the_warm_up_runs_the_context_path_on_the_device(loaded: LoadedCsm) -> None:
    model = loaded.model
    prompts, with_context = model.prompts, model.with_context
    warm_up(engine_on(loaded))
    assert model.prompts > prompts
    assert model.with_context > with_context
