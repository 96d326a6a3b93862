"""The agent's LLM over Triton's vLLM-backend contract: one gRPC stream per LLM turn.

``stream()`` yields text deltas as the engine produces them. Cancellation is per gRPC stream on Triton, so
each turn opens its own stream: cancelling the consuming task (barge-in) or closing the iterator early
cancels that stream, and the server aborts the generation (vLLM frees its sequence). The prompt is raw
text: build it with :mod:`orchestrator.conversation.prompts`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import tritonclient.grpc.aio as grpcclient_aio
from tritonclient.grpc import InferInput

from orchestrator.triton.request import (
    RequestObserver,
    TritonRequestError,
    output_text,
    stream_responses,
    tensor,
    text_tensor,
)


class LlmError(RuntimeError):
    """The LLM answered with an error (bad request, server failure) or not in time."""


@dataclass(frozen=True)
class SamplingOptions:
    """vLLM ``SamplingParams`` of one turn: short spoken answers by default."""

    max_tokens: int = 96
    temperature: float = 0.7
    top_p: float = 0.95
    # Text that ends the answer. Only real text belongs here: special tokens never appear in vLLM's
    # output text (skip_special_tokens), and any stop string makes vLLM hold back its length - 1
    # characters of every streamed delta until the request ends (v1/engine/detokenizer.py).
    stop: tuple[str, ...] = ()
    # Tokens that end the answer: Gemma 3's <end_of_turn> (106) and <start_of_turn> (105). vLLM also
    # stops on the checkpoint's generation_config eos ids, but a quantized repository may lack 106 there.
    stop_token_ids: tuple[int, ...] = (106, 105)
    seed: int | None = None
    min_tokens: int = 0  # vLLM keeps generating (past end-of-turn) until this many
    repetition_penalty: float = 1.0  # 1.0 and 0.0 below: vLLM's defaults (off)
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    # vLLM's StructuredOutputsParams as a JSON string (guided decoding: a tool call's schema), the
    # form the vLLM backend's sampling_parameters take it in.
    structured_outputs: str | None = None

    def greedy(self) -> SamplingOptions:
        return replace(self, temperature=0.0, top_p=1.0)

    def to_json(self) -> str:
        params: dict[str, Any] = {
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
        }
        if self.stop:
            params["stop"] = list(self.stop)
        if self.stop_token_ids:
            params["stop_token_ids"] = list(self.stop_token_ids)
        if self.seed is not None:
            params["seed"] = self.seed
        if self.min_tokens:
            params["min_tokens"] = self.min_tokens
        if self.repetition_penalty != 1.0:
            params["repetition_penalty"] = self.repetition_penalty
        for name in ("frequency_penalty", "presence_penalty"):
            if getattr(self, name):
                params[name] = getattr(self, name)
        if self.structured_outputs is not None:
            params["structured_outputs"] = self.structured_outputs
        return json.dumps(params)


@dataclass(frozen=True)
class LlmDelta:
    text: str
    finish_reason: str | None = None  # set on the last delta: "stop" (end of turn) or "length"
    tokens: int = 0  # tokens generated in this delta


@dataclass(frozen=True)
class LlmAnswer:
    text: str
    finish_reason: str


@dataclass
class LlmClient:
    """Talks to the ``llm`` model. Share one per process; each call of ``stream`` is independent."""

    client: grpcclient_aio.InferenceServerClient
    model_name: str = "llm"
    sampling: SamplingOptions = field(default_factory=SamplingOptions)
    first_token_timeout_s: float = 3.0
    # A generation that stalls after its first token must still end (the turn fails -> apology).
    token_timeout_s: float = 10.0
    observe: RequestObserver | None = None

    async def stream(
        self, prompt: str, sampling: SamplingOptions | None = None, request_id: str = ""
    ) -> AsyncGenerator[LlmDelta]:
        """Text deltas of the answer to ``prompt``, the last one carrying ``finish_reason``.

        Safe to cancel at any point: the turn's gRPC stream is cancelled, which aborts the generation on
        the server. Raises :class:`LlmError` on an error response or when the first delta is late.
        """
        inputs = self._inputs(prompt, sampling or self.sampling, stream=True)
        responses = stream_responses(
            self.client,
            self.model_name,
            inputs,
            request_id,
            response_timeout_s=self.token_timeout_s,
            first_response_timeout_s=self.first_token_timeout_s,
            observe=self.observe,
        )
        try:
            async for result in responses:
                reason = output_text(result, "finish_reason")
                done = reason not in ("", "None")
                tokens = result.as_numpy("num_output_tokens")
                yield LlmDelta(
                    output_text(result, "text_output"),
                    reason if done else None,
                    int(tokens.sum()) if tokens is not None else 0,
                )
        except TritonRequestError as exc:
            raise LlmError(str(exc)) from None
        finally:
            await responses.aclose()  # cancels the server-side request if it still runs

    async def complete(
        self, prompt: str, sampling: SamplingOptions | None = None, request_id: str = ""
    ) -> LlmAnswer:
        """The whole answer in one (non-streaming) response."""
        inputs = self._inputs(prompt, sampling or self.sampling, stream=False)
        try:
            responses = stream_responses(
                self.client, self.model_name, inputs, request_id, observe=self.observe
            )
            async for result in responses:
                return LlmAnswer(
                    output_text(result, "text_output"), output_text(result, "finish_reason")
                )
        except TritonRequestError as exc:
            raise LlmError(str(exc)) from None
        raise LlmError("the LLM stream ended without a response")

    def _inputs(self, prompt: str, sampling: SamplingOptions, stream: bool) -> list[InferInput]:
        return [
            text_tensor("text_input", prompt),
            tensor("stream", np.array([stream], dtype=bool)),
            text_tensor("sampling_parameters", sampling.to_json()),
            tensor("exclude_input_in_output", np.array([True], dtype=bool)),
            tensor("return_finish_reason", np.array([True], dtype=bool)),
            tensor("return_num_output_tokens", np.array([True], dtype=bool)),
        ]
