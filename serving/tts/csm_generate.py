"""Sesame CSM-1B through transformers' ``CsmForConditionalGeneration.generate``, streamed frame by frame:
the engine ``csm_generate``, kept beside production's frame engine (csm.py) for parity tests and
benchmarks.

Each request runs on its own thread with its own ``generate`` call: per 80 ms frame one backbone step and
a whole ``depth_decoder.generate()``, eagerly. Each sentence is generated with the request's context turns
(text + audio, encoded by Mimi for every sentence) in front, so the voice follows the conversation's
prosody.

Streaming: ``generate`` runs in a helper thread and hands each new 80 ms frame (one code per codebook)
to :class:`_FrameStreamer`; the caller's thread decodes frames into audio with Mimi as soon as a chunk's
worth is there. transformers' Mimi decoder keeps no convolution state between calls, so each chunk is
decoded with ``codec_context_frames`` earlier frames in front and only the new frames' samples are kept
(the decoder is causal: the left context is all it needs). Cancellation: ``should_stop`` is checked on
every frame inside generation (CSM ignores custom stopping criteria, so the streamer raises), which
stops the request within one frame.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

import torch

from serving.tts.contract import (
    AudioChunk,
    FloatArray,
    ShouldStop,
    TtsOptions,
    TtsRequest,
    schedule_for,
)
from serving.tts.csm import (
    LoadedCsm,
    load_csm,
    max_sentence_frames,
    model_inputs,
    suppressed_ids,
)
from serving.tts.sentences import TextSpan, split_sentences

_END = object()  # end of one sentence's frames


class GenerationStopped(Exception):
    """Raised inside ``generate`` (from the streamer) to stop it at the next frame."""


class _FrameStreamer:
    """transformers streamer: forwards each generated frame to a queue, stops generation on request."""

    def __init__(self, frames: queue.Queue[Any], should_stop: ShouldStop) -> None:
        self._frames = frames
        self._should_stop = should_stop
        self._prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_seen:  # generate() first passes the prompt
            self._prompt_seen = True
            return
        if self._should_stop():
            raise GenerationStopped
        self._frames.put(value[0].clone())

    def end(self) -> None:
        pass


class CsmGenerateTtsEngine:
    """Streams a request's sentences as audio. Every tensor the model or its codec sees is moved to
    the model's device first, audio also to the codec's dtype: the processor builds them on the
    host in float32, and transformers' sampler hands the streamer host copies of each frame
    (``next_tokens.cpu()``), while with one device in ``device_map`` no accelerate hook moves them."""

    def __init__(self, options: TtsOptions, loaded: LoadedCsm | None = None) -> None:
        loaded = loaded or load_csm(options)
        self.options = options
        self._processor: Any = loaded.processor
        self._model: Any = loaded.model
        self._device = torch.device(self._model.device)
        # The processor's only floating-point tensor is the context audio, which Mimi's encoder reads.
        self._audio_dtype: torch.dtype = self._model.codec_model.dtype
        codec = self._model.config.codec_config
        self.sample_rate = int(codec.sampling_rate)
        self._frame_samples = round(self.sample_rate / codec.frame_rate)
        self._schedule = schedule_for(options, self.sample_rate)
        self._generate_kwargs = generate_kwargs(self._model, options.temperature)
        self._eos = int(self._model.config.codebook_eos_token_id)

    def _to_model(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` on the model's device; audio (floating point) also in the codec's dtype."""
        if tensor.is_floating_point():
            return tensor.to(self._device, self._audio_dtype)
        return tensor.to(self._device)

    def synthesize(self, request: TtsRequest, should_stop: ShouldStop) -> Iterator[AudioChunk]:
        chunk_index = 0
        for span in split_sentences(request.text):
            for samples in self._sentence_audio(request, span, should_stop, chunk_index):
                yield AudioChunk(samples, self.sample_rate, span)
                chunk_index += 1
            if should_stop():
                return

    def _inputs(self, request: TtsRequest, span: TextSpan) -> dict[str, Any]:
        inputs = model_inputs(self._processor, request, span)
        return {name: self._to_model(value) for name, value in inputs.items()}

    def _sentence_audio(
        self, request: TtsRequest, span: TextSpan, should_stop: ShouldStop, first_index: int
    ) -> Iterator[FloatArray]:
        frames: queue.Queue[Any] = queue.Queue()
        errors: list[BaseException] = []
        max_frames = max_sentence_frames(self.options)
        inputs = self._inputs(request, span)

        def generate() -> None:
            try:
                with torch.inference_mode():
                    self._model.generate(
                        **inputs,
                        max_new_tokens=max_frames,
                        streamer=_FrameStreamer(frames, should_stop),
                        **self._generate_kwargs,
                    )
            except GenerationStopped:
                pass
            except BaseException as exc:  # re-raised in the caller's thread
                errors.append(exc)
            finally:
                frames.put(_END)

        worker = threading.Thread(target=generate, name="csm-generate", daemon=True)
        worker.start()
        codes: list[torch.Tensor] = []
        emitted = 0  # frames already turned into audio
        index = first_index
        try:
            while True:
                frame = frames.get()
                # As in CSM's generate: a frame whose codebooks (but the last) are all EOS ends the audio.
                ended = frame is _END or bool((frame[:-1] == self._eos).all())
                if not ended:
                    codes.append(frame)
                due = self._schedule.size(index) // self._frame_samples
                flush = ended and len(codes) > emitted and not should_stop()
                if len(codes) - emitted >= due or flush:
                    yield self._decode(codes, emitted)
                    emitted = len(codes)
                    index += 1
                if ended:
                    break
        finally:
            # The consumer may stop early (cancelled): make generate() stop at its next frame.
            if worker.is_alive():
                self._drain(frames, worker)
        if errors:
            raise errors[0]

    @staticmethod
    def _drain(frames: queue.Queue[Any], worker: threading.Thread) -> None:
        while frames.get() is not _END:
            pass
        worker.join()

    def _decode(self, codes: list[torch.Tensor], start: int) -> FloatArray:
        """Audio of frames ``start:`` decoded with up to ``codec_context_frames`` frames before them."""
        left = max(0, start - self.options.codec_context_frames)
        window = self._to_model(torch.stack(codes[left:], dim=0))  # [frames, codebooks]
        with torch.inference_mode():
            audio = self._model.codec_model.decode(window.transpose(0, 1).unsqueeze(0)).audio_values
        samples: FloatArray = (
            audio[0, 0, (start - left) * self._frame_samples :].float().cpu().numpy()
        )
        return samples


def generate_kwargs(model: Any, temperature: float) -> dict[str, Any]:
    """``generate``'s sampling arguments: ``temperature`` for backbone and depth decoder (greedy at
    <= 0), and the audio ids past the codec's codebook (padding) never sampled."""
    sample = temperature > 0
    kwargs: dict[str, Any] = {"do_sample": sample, "depth_decoder_do_sample": sample}
    if sample:
        kwargs |= {"temperature": temperature, "depth_decoder_temperature": temperature}
    invalid = suppressed_ids(model)
    if invalid:
        kwargs |= {"suppress_tokens": invalid, "depth_decoder_suppress_tokens": invalid}
    return kwargs
