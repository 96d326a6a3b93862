"""The ``llm`` model over gRPC, through the orchestrator's real LLM client (CPU profile: vLLM's CPU engine
on SmolLM2-135M-Instruct behind our ``vllm`` stand-in backend, same contract as NGC's vLLM backend)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator

import numpy as np
import pytest
from model_metrics import counter, ended, wait_for

from orchestrator.conversation.prompts import Role, Turn, chatml_prompt, gemma_prompt
from orchestrator.params import sampling_options
from orchestrator.settings import Settings
from orchestrator.triton.connection import connect
from orchestrator.triton.llm_client import LlmClient, LlmError, SamplingOptions
from orchestrator.triton.request import (
    RequestOutcome,
    TritonRequestError,
    stream_responses,
    tensor,
    text_tensor,
)
from serving.launcher import TritonServer
from serving.llm_cpu_weights import converted_model_dir
from serving.paths import PROJECT_ROOT
from serving.profiles import ORCHESTRATOR_ENV_FILES

PROMPT = gemma_prompt("You are a helpful assistant.", [Turn(Role.USER, "Tell me about the moon.")])
GREEDY = SamplingOptions(max_tokens=24, stop=()).greedy()
# What the CPU profile's calls send (serving/cpu_orchestrator.env through the product's settings).
CPU_SAMPLING = sampling_options(Settings(_env_file=ORCHESTRATOR_ENV_FILES["cpu"]))


@pytest.fixture
async def llm(triton: TritonServer) -> AsyncIterator[LlmClient]:
    client = connect(triton.grpc_url)
    yield LlmClient(client, first_token_timeout_s=30.0)
    await client.close()


async def test_streamed_deltas_concatenate_to_the_non_streamed_answer(llm: LlmClient) -> None:
    deltas = [d async for d in llm.stream(PROMPT, GREEDY)]
    answer = await llm.complete(PROMPT, GREEDY)

    assert len([d for d in deltas if d.text]) >= 3
    assert "".join(d.text for d in deltas) == answer.text
    assert answer.text.strip()
    assert deltas[-1].finish_reason == answer.finish_reason == "length"


async def test_the_first_token_of_an_answer_streams_at_once_and_the_answer_ends_on_its_token(
    llm: LlmClient,
) -> None:
    # A stop string made vLLM hold back its length - 1 characters of every delta (11 for
    # "<|im_start|>": the first ~3 tokens of each answer came only with later ones).
    prompt = chatml_prompt("Answer in one short sentence.", [Turn(Role.USER, "Say hello.")])
    deltas = [d async for d in llm.stream(prompt, CPU_SAMPLING.greedy())]
    first = next(d for d in deltas if d.tokens)
    assert first.text, deltas[:4]
    answer = "".join(d.text for d in deltas)
    assert deltas[-1].finish_reason == "stop", answer  # SmolLM2's <|im_end|>, by id
    assert "<|im" not in answer


def test_the_cpu_profiles_stop_token_ids_are_smollm2s_end_of_turn_tokens() -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(converted_model_dir(PROJECT_ROOT / ".cache")))
    tokens = tokenizer.convert_ids_to_tokens(list(CPU_SAMPLING.stop_token_ids))
    assert tokens == ["<|im_end|>", "<|im_start|>"]
    assert tokenizer.eos_token == "<|im_end|>"


async def test_cancelling_the_stream_stops_generation_on_the_server(
    llm: LlmClient, triton: TritonServer
) -> None:
    request_id = f"cancel-{uuid.uuid4().hex[:8]}"
    long_answer = SamplingOptions(max_tokens=400, stop=()).greedy()
    answering = asyncio.Event()
    outcomes: list[tuple[str, RequestOutcome]] = []
    observed = dataclasses.replace(llm, observe=lambda model, end: outcomes.append((model, end)))

    async def consume() -> None:
        received = 0
        async for delta in observed.stream(PROMPT, long_answer, request_id=request_id):
            received += bool(delta.text)
            if received == 3:
                answering.set()  # mid-answer: the barge-in cancels this task from here on

    cancelled = ended(triton.metrics_url, "llm", "cancelled")
    generated = counter(triton.metrics_url, "llm", "cc_model_generated_tokens")
    task = asyncio.create_task(consume())
    await asyncio.wait_for(answering.wait(), timeout=60)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Client side: the request's stream ended with gRPC status CANCELLED.
    assert outcomes == [("llm", RequestOutcome.CANCELLED)]

    # Server side: vLLM aborted the generation, far short of its 400 tokens.
    metrics = triton.metrics_url
    await asyncio.to_thread(wait_for, lambda: ended(metrics, "llm", "cancelled") == cancelled + 1)
    assert counter(metrics, "llm", "cc_model_generated_tokens") - generated < 200


async def _send_raw(llm: LlmClient, sampling_json: str) -> str:
    """One non-streaming request with ``sampling_parameters`` as given; the error it got."""
    inputs = [
        text_tensor("text_input", PROMPT),
        tensor("stream", np.array([False])),
        text_tensor("sampling_parameters", sampling_json),
        tensor("exclude_input_in_output", np.array([True])),
    ]
    with pytest.raises(TritonRequestError) as failure:
        async for _ in stream_responses(llm.client, llm.model_name, inputs):
            pass
    return str(failure.value)


@pytest.mark.parametrize(
    ("sampling_json", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"max_tokenz": 5}', "unknown sampling parameters"),
        ('{"temperature": -1}', "temperature"),
    ],
)
async def test_bad_sampling_parameters_are_rejected_and_the_server_keeps_serving(
    llm: LlmClient, sampling_json: str, message: str
) -> None:
    assert message in await _send_raw(llm, sampling_json)
    assert (await llm.complete(PROMPT, GREEDY)).text


async def test_num_input_tokens_is_a_scalar_and_structured_outputs_are_honoured(
    llm: LlmClient,
) -> None:
    # As NGC's vLLM backend: num_input_tokens has shape [] (np.asarray of an int), and
    # structured_outputs is a JSON object in a string (TritonSamplingParams.from_dict).
    sampling = {
        "max_tokens": 4,
        "temperature": 0,
        "structured_outputs": '{"choice": ["yes", "no"]}',
    }
    inputs = [
        text_tensor("text_input", PROMPT),
        tensor("stream", np.array([False])),
        text_tensor("sampling_parameters", json.dumps(sampling)),
        tensor("exclude_input_in_output", np.array([True])),
        tensor("return_num_input_tokens", np.array([True])),
    ]
    results = [r async for r in stream_responses(llm.client, llm.model_name, inputs)]
    count = results[0].as_numpy("num_input_tokens")
    assert count is not None and count.shape == () and int(count) > 10
    assert results[0].as_numpy("text_output")[0].decode() in {"yes", "no"}


async def test_an_over_long_prompt_is_rejected_and_the_server_keeps_serving(llm: LlmClient) -> None:
    too_long = gemma_prompt("", [Turn(Role.USER, "moon " * 3000)])
    with pytest.raises(LlmError, match="maximum context length"):
        await llm.complete(too_long, GREEDY)

    assert (await llm.complete(PROMPT, GREEDY)).text
