"""The vLLM-backend request contract (serving/llm_request.py) and engine-argument overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from serving.llm_engine_args import apply_overrides, load_model_json, unknown_engine_args
from serving.llm_request import (
    LlmRequestError,
    RequestedOutputs,
    TextDeltas,
    coerce_sampling,
    parse_inputs,
    scalar_field_types,
)
from serving.paths import MODEL_REPOSITORY, PROJECT_ROOT

LLM_VERSION_DIR = MODEL_REPOSITORY / "llm" / "1"
ENGINE_ARGS = json.loads((PROJECT_ROOT / "serving" / "vllm_engine_args.json").read_text())


class FakeSamplingParams:
    max_tokens: int | None
    temperature: float
    stop: str | list[str] | None
    ignore_eos: bool
    _private: int


FIELDS = scalar_field_types(FakeSamplingParams.__annotations__)


def test_exclude_input_defaults_follow_the_vllm_backend() -> None:
    streamed = parse_inputs(b"hi", True, None, None, RequestedOutputs())
    whole = parse_inputs(b"hi", None, None, None, RequestedOutputs())

    assert streamed.stream and streamed.exclude_input_in_output
    assert not whole.stream and not whole.exclude_input_in_output


def test_streaming_with_the_input_in_the_output_is_an_error() -> None:
    with pytest.raises(LlmRequestError, match="exclude_input_in_output"):
        parse_inputs("hi", True, False, None, RequestedOutputs())


@pytest.mark.parametrize(("raw", "message"), [("{oops", "not valid JSON"), ("[1]", "JSON object")])
def test_bad_sampling_json_is_rejected(raw: str, message: str) -> None:
    with pytest.raises(LlmRequestError, match=message):
        parse_inputs("hi", False, None, raw, RequestedOutputs())


def test_string_values_are_converted_by_the_field_type() -> None:
    values = {"max_tokens": "32", "temperature": "0.5", "ignore_eos": "true", "stop": ["x"]}

    assert coerce_sampling(values, FIELDS) == {
        "max_tokens": 32,
        "temperature": 0.5,
        "ignore_eos": True,
        "stop": ["x"],
    }


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"max_tokenz": 3}, "unknown sampling parameters"),
        ({"_private": 1}, "unknown sampling parameters"),
        ({"max_tokens": "many"}, "not a int"),
        ({"ignore_eos": "yes"}, "not a boolean"),
    ],
)
def test_bad_sampling_values_are_rejected(values: dict[str, object], message: str) -> None:
    with pytest.raises(LlmRequestError, match=message):
        coerce_sampling(values, FIELDS)


def test_text_deltas_are_the_new_suffixes() -> None:
    deltas = TextDeltas()

    assert [deltas.next(t) for t in ["He", "Hello", "Hello", "Hello!"]] == ["He", "llo", "", "!"]


def test_overrides_replace_and_null_removes() -> None:
    merged = apply_overrides(
        {"model": "big", "quantization": "awq_marlin", "max_model_len": 8192},
        json.dumps({"model": "/small", "quantization": None}),
    )

    assert merged == {"model": "/small", "max_model_len": 8192}


def test_production_model_json_uses_only_engine_args_of_the_image_s_vllm() -> None:
    """serving/vllm_engine_args.json comes from scripts/extract_vllm_engine_args.py (that vLLM's source)."""
    model_json = load_model_json(LLM_VERSION_DIR)

    assert unknown_engine_args(model_json, ENGINE_ARGS["fields"]) == []
    assert model_json["enable_prefix_caching"] is True
    assert "gemma-3-27b-it" in model_json["model"]


def test_the_cpu_overrides_are_engine_args_too() -> None:
    from serving.llm_cpu_profile import CPU_ENGINE_ARGS

    assert unknown_engine_args(CPU_ENGINE_ARGS, ENGINE_ARGS["fields"]) == []


def test_a_typo_would_be_caught(tmp_path: Path) -> None:
    (tmp_path / "model.json").write_text('{"model": "m", "max_model_lenght": 10}')

    assert unknown_engine_args(load_model_json(tmp_path), ENGINE_ARGS["fields"]) == [
        "max_model_lenght"
    ]
