"""Guided decoding of tool calls: what each choice sends vLLM, checked against the schemas it must
accept and refuse (jsonschema stands in for xgrammar's acceptance)."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from orchestrator.conversation.prompts import PromptFormat
from orchestrator.conversation.tool_calls import CallsParsed, ToolCallParser
from orchestrator.conversation.tool_guidance import (
    NONE,
    ToolChoice,
    guidance,
    one_call_schema,
    structural_tag,
)
from orchestrator.conversation.tool_specs import ToolSpec

pytestmark = pytest.mark.unit

CHECK = ToolSpec(
    "check_availability",
    "Is a table free?",
    {
        "type": "object",
        "properties": {"time": {"type": "string"}, "party_size": {"type": "integer"}},
        "required": ["time", "party_size"],
    },
)
END = ToolSpec("end_call", "Hang up.", {"type": "object", "properties": {}})


def test_one_call_schema_accepts_a_declared_call_and_refuses_the_rest() -> None:
    validator = Draft202012Validator(one_call_schema([CHECK, END]))
    good = {"name": "check_availability", "arguments": {"time": "19:00", "party_size": 2}}
    assert validator.is_valid(good)
    assert validator.is_valid({"name": "end_call", "arguments": {}})
    assert not validator.is_valid({"name": "book_table", "arguments": {}})
    assert not validator.is_valid({**good, "arguments": {"time": "19:00", "party_size": "two"}})
    assert not validator.is_valid({**good, "extra": 1})


def test_auto_sends_a_structural_tag_triggered_by_the_call_marker() -> None:
    guided = guidance(PromptFormat.CHATML, [CHECK, END], ToolChoice.AUTO)
    assert guided.prefill == "" and guided.structured_outputs is not None
    tag = json.loads(json.loads(guided.structured_outputs)["structural_tag"])
    assert tag["triggers"] == ["<tool_call>"]
    begins = [s["begin"] for s in tag["structures"]]
    assert begins[0] == '<tool_call>\n{"name": "check_availability", "arguments": '
    assert tag["structures"][0]["schema"] == CHECK.parameters
    # What the tag lets through parses as the call.
    written = begins[0] + '{"time": "19:00", "party_size": 2}' + tag["structures"][0]["end"]
    (parsed,) = ToolCallParser(PromptFormat.CHATML, ["check_availability"]).push(written)
    assert isinstance(parsed, CallsParsed) and parsed.calls[0].arguments["party_size"] == 2


def test_gemma_auto_is_unguided_its_python_calls_are_only_parsed() -> None:
    assert guidance(PromptFormat.GEMMA, [CHECK], ToolChoice.AUTO) == NONE
    assert guidance(PromptFormat.CHATML, [], ToolChoice.REQUIRED) == NONE


@pytest.mark.parametrize("fmt", list(PromptFormat))
def test_required_prefills_the_marker_and_its_closer_completes_a_parsable_call(
    fmt: PromptFormat,
) -> None:
    guided = guidance(fmt, [CHECK, END], ToolChoice.REQUIRED)
    assert guided.structured_outputs is not None
    key = "parameters" if fmt is PromptFormat.GEMMA else "arguments"
    output = json.dumps({"name": "end_call", key: {}})
    parser = ToolCallParser(fmt, ["check_availability", "end_call"])
    events = parser.push(guided.prefill) + parser.push(output) + parser.push(guided.closer)
    (parsed,) = events
    assert isinstance(parsed, CallsParsed) and parsed.calls[0].name == "end_call"


def test_the_structural_tag_is_valid_json_for_every_tool() -> None:
    tag = json.loads(structural_tag(PromptFormat.CHATML, [CHECK, END]))
    assert [s["end"] for s in tag["structures"]] == ["}\n</tool_call>"] * 2
