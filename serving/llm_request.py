"""The request side of Triton's vLLM-backend contract, as pure functions (no Triton, no vLLM).

Used by the CPU stand-in backend (serving/vllm_cpu_backend/model.py) so that it reads a request exactly
as NGC's vLLM backend does (``src/utils/request.py`` of triton-inference-server/vllm_backend):

- ``text_input``: the raw prompt (the orchestrator applies the chat template);
- ``stream`` (default false): one response per engine step, ``text_output`` holding only the new text;
- ``exclude_input_in_output``: defaults to true when streaming and false otherwise; streaming with it
  false is an error;
- ``sampling_parameters``: a JSON object of vLLM ``SamplingParams`` fields; numbers may come as strings
  (the vLLM backend's samples send ``{"max_tokens": "32"}``), which are converted by the field's type;
- ``return_finish_reason``, ``return_num_input_tokens``, ``return_num_output_tokens``: add those outputs.
"""

from __future__ import annotations

import json
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union, get_args, get_origin

# The request the CPU stand-in backend serves itself when it loads (its warm-up): a prompt of a few
# dozen tokens (a prefill, then decode steps), greedy. Also the benchmarks' in-process warm-up.
WARM_UP_PROMPT = (
    "You answer the phone for a small business. Greet the caller in one short, friendly sentence "
    "and ask how you can help them today."
)
WARM_UP_TOKENS = 8


class LlmRequestError(ValueError):
    """The request breaks the contract; the message says how (sent back as INVALID_ARG)."""


@dataclass(frozen=True)
class RequestedOutputs:
    finish_reason: bool = False
    num_input_tokens: bool = False
    num_output_tokens: bool = False


@dataclass(frozen=True)
class GenerateInputs:
    prompt: str
    stream: bool
    exclude_input_in_output: bool
    sampling: dict[str, Any]
    outputs: RequestedOutputs


def parse_inputs(
    text_input: bytes | str,
    stream: bool | None,
    exclude_input_in_output: bool | None,
    sampling_parameters: bytes | str | None,
    outputs: RequestedOutputs,
) -> GenerateInputs:
    """Validate the raw tensor values of one request (``None`` = optional input absent)."""
    prompt = text_input.decode("utf-8") if isinstance(text_input, bytes) else str(text_input)
    streaming = bool(stream)
    exclude = streaming if exclude_input_in_output is None else bool(exclude_input_in_output)
    if streaming and not exclude:
        raise LlmRequestError("when streaming, exclude_input_in_output = false is not allowed")
    return GenerateInputs(
        prompt, streaming, exclude, parse_sampling_json(sampling_parameters), outputs
    )


def parse_sampling_json(raw: bytes | str | None) -> dict[str, Any]:
    """The ``sampling_parameters`` JSON as a dict ({} when absent)."""
    if raw is None:
        return {}
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LlmRequestError(f"sampling_parameters is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise LlmRequestError("sampling_parameters must be a JSON object")
    return value


def scalar_field_types(annotations: Mapping[str, Any]) -> dict[str, type]:
    """Public fields of a dataclass-like type -> the scalar type a string value converts to.

    ``float``, ``int | None``, ``Optional[int]`` (objects or, under ``from __future__ import annotations``,
    strings) give float, int, int; other annotations (lists, dicts, unions of several types) give
    ``object``: the value is passed as it came.
    """
    return {
        name: _scalar_type(annotation)
        for name, annotation in annotations.items()
        if not name.startswith("_")
    }


_SCALARS: dict[str, type] = {"int": int, "float": float, "bool": bool, "str": str}


def _scalar_type(annotation: Any) -> type:
    if isinstance(annotation, str):
        text = annotation.replace(" ", "")
        if text.startswith("Optional[") and text.endswith("]"):
            text = text[len("Optional[") : -1]
        members = [m for m in text.split("|") if m != "None"]
        return _SCALARS.get(members[0], object) if len(members) == 1 else object
    if get_origin(annotation) in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        annotation = members[0] if len(members) == 1 else object
    return annotation if annotation in (int, float, bool, str) else object


def coerce_sampling(params: Mapping[str, Any], fields: Mapping[str, type]) -> dict[str, Any]:
    """Reject unknown keys; turn string numbers/booleans into the field's type."""
    unknown = sorted(set(params) - set(fields))
    if unknown:
        raise LlmRequestError(f"unknown sampling parameters {unknown}")
    coerced: dict[str, Any] = {}
    for key, value in params.items():
        target = fields[key]
        if isinstance(value, str) and target is not str and target is not object:
            coerced[key] = _convert_string(key, value, target)
        else:
            coerced[key] = value
    return coerced


def _convert_string(key: str, value: str, target: type) -> Any:
    if target is bool:
        lowered = value.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        raise LlmRequestError(f"sampling parameter {key!r}: {value!r} is not a boolean")
    try:
        return target(value)
    except ValueError:
        raise LlmRequestError(
            f"sampling parameter {key!r}: {value!r} is not a {target.__name__}"
        ) from None


class TextDeltas:
    """Turns the cumulative text of successive engine outputs into the new part of each."""

    def __init__(self) -> None:
        self._sent = 0

    def next(self, cumulative_text: str) -> str:
        delta = cumulative_text[self._sent :]
        self._sent = len(cumulative_text)
        return delta
