"""Sesame CSM-1B as production serves it (engine ``csm``): one frame loop over transformers' modules and
weights, every request in one batched step, Mimi decoding each frame once.

The model is loaded once per Triton model instance (production: ``sesame/csm-1b`` in bfloat16 on the GPU,
3.1 GB of weights plus the 0.16 GB Mimi codec, docs/GPU_MEMORY.md) and serves ``max_concurrent`` slots:

- request threads (serving/python_backend.py ``RequestThreads``) turn a request into sentence prompts
  (the processor's tokens, the context turns' audio) and read their frames (:meth:`CsmTtsEngine.synthesize`);
- one scheduler thread owns the model (csm_scheduler.py): it prefills prompts into free slots, with the
  context turns' Mimi codes kept across sentences and requests (csm_prompt.py), and runs one frame step
  for all slots every 80 ms of audio (csm_frame_step.py: backbone, 31 depth-decoder positions, sampling
  on the device, end-of-audio, Mimi's streaming decode), as CUDA graphs on the GPU (csm_graphs.py).

Each sentence is generated with the request's context turns (text + audio) in front, so the voice follows
the conversation's prosody; a request's sentences are decoded as one continuous Mimi stream. A
cancelled request (``should_stop``, checked at every frame) leaves its slot at the next frame boundary.
Every tensor the model or its codec sees is on the model's device, audio in the codec's dtype: the
processor's tokens are moved there, context audio is cast there (csm_prompt.py), frames come back to the
host once per step. serving/tts/csm_generate.py keeps transformers' ``generate`` path (``csm_generate``)
for comparison: greedy, both give the same codes (tests/unit/test_tts_csm_frame_step.py).
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from serving.tts.contract import (
    FRAME_S,
    AudioChunk,
    FloatArray,
    ShouldStop,
    TtsOptions,
    TtsRequest,
    schedule_for,
)
from serving.tts.csm_frame_step import CsmFrameStep, FrameSampling
from serving.tts.csm_graphs import CudaGraphSteps, EagerSteps
from serving.tts.csm_prompt import ContextCodes, PromptEmbedder, SentencePrompt
from serving.tts.csm_sampling import sampling_from
from serving.tts.csm_scheduler import (
    FrameAudio,
    FrameScheduler,
    Job,
    JobEnd,
    SentenceEnd,
    StepRunner,
)
from serving.tts.sentences import TextSpan, split_sentences

# How often a request's thread checks ``should_stop`` while no frame comes (its prompt waits for a
# slot, or is prefilled): a frame's audio is 80 ms.
STOP_POLL_S = 0.04


@dataclass(frozen=True)
class LoadedCsm:
    """CSM's processor (host side: tokenizer, feature extractor) and model (on its device)."""

    processor: Any
    model: Any


def load_csm(options: TtsOptions) -> LoadedCsm:
    """Processor and weights of ``options.model`` in ``options.dtype`` on ``options.device``."""
    import transformers

    library: Any = transformers  # untyped: keep mypy's strict mode to our own code
    processor = library.AutoProcessor.from_pretrained(options.model)
    model = library.CsmForConditionalGeneration.from_pretrained(
        options.model, dtype=getattr(torch, options.dtype), device_map=options.device
    ).eval()
    return LoadedCsm(processor, model)


def model_inputs(processor: Any, request: TtsRequest, span: TextSpan) -> dict[str, torch.Tensor]:
    """The processor's tensors (on the host) for one sentence of ``request``: its context turns (text,
    then audio) and the sentence, in sesame/csm-1b's chat template."""
    conversation = [
        {
            "role": str(turn.speaker_id),
            "content": [{"type": "text", "text": turn.text}, {"type": "audio"}],
        }
        for turn in request.context
    ]
    conversation.append(
        {
            "role": str(request.speaker_id),
            "content": [{"type": "text", "text": span.of(request.text)}],
        }
    )
    prompt = processor.apply_chat_template(conversation, tokenize=False)
    audio = [turn.audio for turn in request.context] or None
    return dict(processor(text=prompt, audio=audio, return_tensors="pt"))


def suppressed_ids(model: Any) -> list[int]:
    """The backbone's audio ids past the codec's codebook (padding): never sampled."""
    return list(range(int(model.config.codec_config.codebook_size), int(model.config.vocab_size)))


def max_sentence_frames(options: TtsOptions) -> int:
    return max(1, round(options.max_sentence_s / FRAME_S))


def sentence_prompts(
    processor: Any, request: TtsRequest
) -> tuple[list[TextSpan], list[SentencePrompt]]:
    """The request's sentences and their prompts (host tensors: the request's thread builds them)."""
    spans = split_sentences(request.text)
    context = tuple(turn.audio for turn in request.context)
    prompts = [
        SentencePrompt(model_inputs(processor, request, span)["input_ids"], context)
        for span in spans
    ]
    return spans, prompts


def frame_scheduler(model: Any, options: TtsOptions) -> FrameScheduler:
    """The frame loop over ``model`` with ``options.max_concurrent`` slots, not yet started: on CUDA
    (and ``cuda_graphs``) its step graphs are captured here."""
    sampling = FrameSampling(
        backbone=sampling_from(model.generation_config, options.temperature),
        depth=sampling_from(model.depth_decoder.generation_config, options.temperature),
        suppressed=tuple(suppressed_ids(model)),
    )
    with torch.inference_mode():
        step = CsmFrameStep(
            model,
            slots=max(1, options.max_concurrent),
            max_positions=min(options.max_positions, int(model.config.max_position_embeddings)),
            sampling=sampling,
        )
        runner: StepRunner = (
            CudaGraphSteps(step)
            if step.device.type == "cuda" and options.cuda_graphs
            else EagerSteps(step)
        )
    context = ContextCodes(model.codec_model, options.context_cache_turns)
    return FrameScheduler(step, runner, PromptEmbedder(model, context))


class CsmTtsEngine:
    """Streams a request's sentences as audio from the shared frame loop (see the module docstring).
    ``synthesize`` may run on any number of threads at once; ``close`` stops the loop."""

    def __init__(self, options: TtsOptions, loaded: LoadedCsm | None = None) -> None:
        loaded = loaded or load_csm(options)
        self.options = options
        self._processor: Any = loaded.processor
        codec = loaded.model.config.codec_config
        self.sample_rate = int(codec.sampling_rate)
        self._frame_samples = round(self.sample_rate / codec.frame_rate)
        self._schedule = schedule_for(options, self.sample_rate)
        self.scheduler = frame_scheduler(loaded.model, options)
        self.scheduler.start()

    def close(self) -> None:
        self.scheduler.close()

    def synthesize(self, request: TtsRequest, should_stop: ShouldStop) -> Iterator[AudioChunk]:
        spans, prompts = sentence_prompts(self._processor, request)
        if not prompts:
            return
        job = Job(prompts, max_sentence_frames(self.options))
        self.scheduler.submit(job)
        frames: list[FloatArray] = []
        index = 0  # chunks sent: the first is short
        try:
            while not should_stop():
                try:
                    event = job.events.get(timeout=STOP_POLL_S)
                except queue.Empty:
                    continue
                if isinstance(event, FrameAudio):
                    frames.append(event.samples)
                    if len(frames) * self._frame_samples >= self._schedule.size(index):
                        yield self._chunk(frames, spans[event.sentence])
                        frames, index = [], index + 1
                elif isinstance(event, SentenceEnd):
                    if frames and not should_stop():
                        yield self._chunk(frames, spans[event.sentence])
                        index += 1
                    frames = []
                elif isinstance(event, JobEnd):
                    return
                else:
                    raise event
        finally:
            job.cancel()  # a no-op once it ended; else its slot is freed at the next frame

    def _chunk(self, frames: list[FloatArray], span: TextSpan) -> AudioChunk:
        return AudioChunk(
            np.concatenate(frames).astype(np.float32, copy=False), self.sample_rate, span
        )
