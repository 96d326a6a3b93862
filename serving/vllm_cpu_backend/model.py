"""CPU stand-in for Triton's vLLM backend: the same contract, run by vLLM's real engine on CPU.

The CPU profile adds this folder to tritonserver's backend directory under the name ``vllm``, so
``model_repository/llm`` (``backend: "vllm"``, decoupled, ``KIND_MODEL``) loads it unchanged. Like NGC's
backend it reads ``<version>/model.json`` as ``AsyncEngineArgs`` and runs ``AsyncLLM``; unlike it, it
also merges the profile's ``CC_MODEL_<MODEL>_ENGINE_ARGS`` overrides (serving/llm_engine_args.py).

Contract (serving/llm_request.py, docs/ARCHITECTURE.md): ``text_input`` [+ ``stream``,
``sampling_parameters``, ``exclude_input_in_output``, ``return_*``] -> ``text_output`` [+
``finish_reason``, ``num_input_tokens``, ``num_output_tokens``]. Streaming sends one response per engine
step (new text only), the last with the FINAL flag; otherwise one FINAL response. A cancelled request is
aborted in the engine and gets a CANCELLED error; a bad request gets INVALID_ARG. Each request ends with
one log line ``llm request '<id>' ended: ... generated_tokens=N`` (evidence for cancellation tests).

Warm-up: ``initialize`` runs one short greedy generation through the engine before the model is
ready, so the first caller does not pay for the engine's first steps, and an engine that cannot
generate fails the load (Triton then reports the model not ready) instead of failing its first caller.

Threads, as in NGC's backend: Triton's thread only schedules a coroutine on the engine's event loop (its
own thread); a response thread drains a queue into ``send`` so that slow sends never stall generation,
and reads each stream's cancellation flag after every send.

Metrics: none of its own, on purpose. NGC's backend reports vLLM's only with the config.pbtxt parameter
``REPORT_CUSTOM_METRICS`` (not set here), and under vLLM V1 only counters and histograms, no queue
gauge; so the LLM's backlog is counted by the orchestrator (``cc_llm_requests_awaiting_first_token``,
docs/SCALING.md), and nothing here may stand in for a gauge the real backend lacks.
"""

import asyncio
import json
import os
import queue
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils

from serving.llm_engine_args import apply_overrides, engine_args_env_name, load_model_json
from serving.llm_request import (
    WARM_UP_PROMPT,
    WARM_UP_TOKENS,
    GenerateInputs,
    LlmRequestError,
    RequestedOutputs,
    TextDeltas,
    coerce_sampling,
    parse_inputs,
    scalar_field_types,
)

FINAL = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL
SHUTDOWN_WAIT_S = 10.0
WARM_UP_TIMEOUT_S = 300.0


@dataclass
class _Stream:
    """One request in flight: where its responses go and whether its client has gone."""

    sender: object
    triton_id: str
    cancelled: threading.Event = field(default_factory=threading.Event)


def _optional_value(request, name):
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    return None if tensor is None else tensor.as_numpy().reshape(-1)[0]


def _read_inputs(request) -> GenerateInputs:
    text_input = _optional_value(request, "text_input")
    if text_input is None:
        raise LlmRequestError("text_input is required")

    def flag(name):
        value = _optional_value(request, name)
        return None if value is None else bool(value)

    outputs = RequestedOutputs(
        finish_reason=bool(flag("return_finish_reason")),
        num_input_tokens=bool(flag("return_num_input_tokens")),
        num_output_tokens=bool(flag("return_num_output_tokens")),
    )
    return parse_inputs(
        text_input,
        flag("stream"),
        flag("exclude_input_in_output"),
        _optional_value(request, "sampling_parameters"),
        outputs,
    )


class _EndedMetrics:
    """How each request ended and the tokens it generated, on Triton's metrics port: the stand-in's own
    evidence that a cancelled request stopped generating (tests), not a metric NGC's backend has.
    Called from the engine's loop thread only (the stub's metric calls are not thread-safe)."""

    def __init__(self, model):
        self._families = [
            pb_utils.MetricFamily(name=name, description=text, kind=pb_utils.MetricFamily.COUNTER)
            for name, text in (
                ("cc_model_requests_ended", "Requests the model ended, by outcome"),
                ("cc_model_generated_tokens", "Tokens the model generated"),
            )
        ]
        ended, tokens = self._families
        self._ended = {
            outcome: ended.Metric(labels={"model": model, "outcome": outcome})
            for outcome in ("completed", "cancelled", "invalid", "failed")
        }
        self._tokens = tokens.Metric(labels={"model": model})

    def ended(self, ending, tokens):
        outcome = "completed" if ending.startswith("finish") else ending
        self._ended.get(outcome, self._ended["failed"]).increment(1)
        if tokens:
            self._tokens.increment(tokens)

    def close(self):
        # The stub wants each Metric deleted before its MetricFamily.
        self._ended.clear()
        self._tokens = None
        self._families.clear()


def _error(message, code):
    return pb_utils.InferenceResponse(error=pb_utils.TritonError(message, code))


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        self.model_name = args["model_name"]
        if not pb_utils.using_decoupled_model_transaction_policy(config):
            raise pb_utils.TritonModelException(
                f"{self.model_name}: the vLLM backend needs the decoupled transaction policy"
            )
        version_dir = Path(args["model_repository"]) / args["model_version"]
        engine_args = apply_overrides(
            load_model_json(version_dir), os.environ.get(engine_args_env_name(self.model_name))
        )
        pb_utils.Logger.log_info(f"{self.model_name}: vLLM CPU engine args {engine_args}")

        # Imported here: the engine's module-level set-up should only run in a stub that serves it.
        from vllm import SamplingParams
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.exceptions import VLLMClientError
        from vllm.sampling_params import RequestOutputKind

        self._sampling_params = SamplingParams
        self._sampling_fields = scalar_field_types(SamplingParams.__annotations__)
        self._output_kind = RequestOutputKind
        # vLLM's request checks (prompt longer than max_model_len, values out of range): the client's fault.
        self._invalid_request_errors = (LlmRequestError, VLLMClientError, ValueError, TypeError)
        self._engine_args = AsyncEngineArgs(**engine_args)

        self._metrics = _EndedMetrics(self.model_name)
        self._idle = threading.Condition()
        self._ongoing = 0
        self._responses = queue.Queue()
        self._response_thread = threading.Thread(target=self._send_responses, daemon=True)
        self._response_thread.start()
        self._start_engine()
        try:
            self._warm_up()
        except Exception as exc:
            self._stop_engine()
            raise pb_utils.TritonModelException(
                f"{self.model_name}: warm-up generation failed: {exc!r}"
            ) from exc
        pb_utils.Logger.log_info(f"{self.model_name}: vLLM CPU engine ready (warmed up)")

    # -- engine loop thread ---------------------------------------------------------------------
    def _start_engine(self):
        started = threading.Event()
        outcome = {}

        async def run():
            from vllm.v1.engine.async_llm import AsyncLLM

            try:
                self._engine = AsyncLLM.from_engine_args(self._engine_args)
            except Exception as exc:  # reported by initialize, which raises it
                outcome["error"] = exc
                started.set()
                return
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            started.set()
            await self._stop.wait()
            self._engine.shutdown()

        self._engine_thread = threading.Thread(target=asyncio.run, args=(run(),), daemon=True)
        self._engine_thread.start()
        started.wait()
        if "error" in outcome:
            raise outcome["error"]

    def _warm_up(self):
        """One short greedy generation on the engine's loop; raises if it fails or yields nothing."""

        async def generate():
            params = self._sampling_params(
                max_tokens=WARM_UP_TOKENS,
                temperature=0.0,
                output_kind=self._output_kind.FINAL_ONLY,
            )
            final = None
            async for output in self._engine.generate(WARM_UP_PROMPT, params, "warm-up"):
                final = output
            if final is None or not final.outputs or not final.outputs[0].token_ids:
                raise RuntimeError("the warm-up generation produced no token")

        future = asyncio.run_coroutine_threadsafe(generate(), self._loop)
        future.result(timeout=WARM_UP_TIMEOUT_S)

    def _stop_engine(self):
        self._loop.call_soon_threadsafe(self._stop.set)
        self._engine_thread.join(timeout=SHUTDOWN_WAIT_S)

    def execute(self, requests):
        for request in requests:
            with self._idle:
                self._ongoing += 1
            asyncio.run_coroutine_threadsafe(self._generate(request), self._loop)
        return None

    async def _generate(self, request):
        stream = _Stream(request.get_response_sender(), request.request_id() or "")
        engine_id = uuid.uuid4().hex
        prompt_tokens = generated = 0
        ending = "error"
        try:
            inputs = _read_inputs(request)
            params = self._to_sampling_params(inputs)
            deltas = TextDeltas()
            async for output in self._engine.generate(inputs.prompt, params, engine_id):
                completion = output.outputs[0]
                prompt_tokens = len(output.prompt_token_ids or ())
                reported, generated = generated, len(completion.token_ids)
                if stream.cancelled.is_set() or (
                    not inputs.stream and stream.sender.is_cancelled()
                ):
                    await self._engine.abort(engine_id)
                    ending = "cancelled"
                    if inputs.stream:
                        cancelled = _error("request cancelled", pb_utils.TritonError.CANCELLED)
                    else:  # as NGC's backend: the text so far, as the request's one response
                        prefix = "" if inputs.exclude_input_in_output else inputs.prompt
                        text = prefix + completion.text
                        cancelled = self._response(
                            inputs, text, completion, prompt_tokens, generated
                        )
                    self._queue(stream, cancelled)
                    break
                if inputs.stream:
                    text = deltas.next(completion.text)
                    new_tokens = generated - reported
                elif output.finished:
                    prefix = "" if inputs.exclude_input_in_output else inputs.prompt
                    text, new_tokens = prefix + completion.text, generated
                if inputs.stream or output.finished:
                    response = self._response(inputs, text, completion, prompt_tokens, new_tokens)
                    self._queue(stream, response, final=output.finished)
                if output.finished:
                    ending = f"finish={completion.finish_reason}"
        except self._invalid_request_errors as exc:
            self._queue(
                stream, _error(f"{self.model_name}: {exc}", pb_utils.TritonError.INVALID_ARG)
            )
            ending = "invalid"
        except Exception as exc:
            pb_utils.Logger.log_error(f"{self.model_name}: generation failed: {exc!r}")
            self._queue(stream, _error(f"{self.model_name}: {exc}", pb_utils.TritonError.INTERNAL))
        finally:
            pb_utils.Logger.log_info(
                f"llm request '{stream.triton_id}' ended: {ending} "
                f"prompt_tokens={prompt_tokens} generated_tokens={generated}"
            )
            self._metrics.ended(ending, generated)

    def _to_sampling_params(self, inputs):
        values = coerce_sampling(inputs.sampling, self._sampling_fields)
        values.pop("output_kind", None)
        if isinstance(values.get("structured_outputs"), str):  # a JSON object in a string, as NGC's
            from vllm.sampling_params import StructuredOutputsParams

            values["structured_outputs"] = StructuredOutputsParams(
                **json.loads(values["structured_outputs"])
            )
        # Non-streaming requests still get every step's output: that is where cancellation is seen.
        return self._sampling_params(**values, output_kind=self._output_kind.CUMULATIVE)

    def _response(self, inputs, text, completion, prompt_tokens, new_tokens):
        tensors = [
            pb_utils.Tensor("text_output", np.array([text.encode("utf-8")], dtype=np.object_))
        ]
        if inputs.outputs.finish_reason:
            reason = str(completion.finish_reason).encode("utf-8")
            tensors.append(pb_utils.Tensor("finish_reason", np.array([reason], dtype=np.object_)))
        if inputs.outputs.num_input_tokens:
            count = np.asarray(prompt_tokens, dtype=np.uint32)  # a scalar (shape []), as NGC's
            tensors.append(pb_utils.Tensor("num_input_tokens", count))
        if inputs.outputs.num_output_tokens:
            count = np.array([new_tokens], dtype=np.uint32)
            tensors.append(pb_utils.Tensor("num_output_tokens", count))
        return pb_utils.InferenceResponse(output_tensors=tensors)

    # -- response thread --------------------------------------------------------------------------
    def _queue(self, stream, response, final=True):
        self._responses.put((stream, response, FINAL if final else 0))

    def _send_responses(self):
        while (item := self._responses.get()) is not None:
            stream, response, flags = item
            try:
                stream.sender.send(response, flags=flags)
                if not flags and stream.sender.is_cancelled():
                    stream.cancelled.set()
            except Exception as exc:
                pb_utils.Logger.log_error(f"{self.model_name}: sending a response failed: {exc!r}")
            if flags:
                with self._idle:
                    self._ongoing -= 1
                    self._idle.notify_all()

    def finalize(self):
        self._metrics.close()
        with self._idle:
            if not self._idle.wait_for(lambda: self._ongoing == 0, timeout=SHUTDOWN_WAIT_S):
                pb_utils.Logger.log_warn(f"{self.model_name}: {self._ongoing} requests still open")
        self._stop_engine()
        self._responses.put(None)
        self._response_thread.join(timeout=SHUTDOWN_WAIT_S)
