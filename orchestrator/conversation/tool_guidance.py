"""Guided decoding for tool calls: vLLM's structured outputs, sent through the vLLM backend's
``sampling_parameters`` (``"structured_outputs"``, a JSON string of vLLM's ``StructuredOutputsParams``),
so that a call the model writes is well formed and its arguments fit the tool's schema by
construction. Pure.

- ``auto`` (the model decides whether to call): a **structural tag** (xgrammar's, through vLLM). The
  text is free until the model writes the call marker (the trigger); from there it can only write
  ``{"name": <a declared tool>, "arguments": <that tool's schema>}`` and the closing marker. Only for
  ChatML, whose calls are JSON: Gemma writes Python-style calls, which a JSON schema cannot constrain,
  so Gemma's are only parsed and checked (a 27B model writes them reliably; a bad one is refused).
- ``required`` (OpenAI's ``tool_choice="required"``, for a model too small to decide, the CPU
  profile's 135M): the assistant turn is **prefilled** with the call marker and the output constrained
  to a JSON object calling one of the tools; the closing marker is added after it. The model still
  chooses which tool and the arguments.

:func:`guidance` says, for one round, what to append to the prompt, what to send, and what closes the
call when the model's constrained output ends.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from orchestrator.conversation.prompts import TOOL_MARKERS, PromptFormat
from orchestrator.conversation.tool_specs import ToolSpec


class ToolChoice(Enum):
    AUTO = "auto"
    REQUIRED = "required"


@dataclass(frozen=True)
class Guidance:
    prefill: str = ""  # appended to the prompt: the model's output continues it
    structured_outputs: str | None = None  # JSON of vLLM's StructuredOutputsParams
    closer: str = ""  # the end of the call, when the constrained output stops before it
    max_tokens: int | None = None  # the round's token cap (None: the answer's own)


NONE = Guidance()


def guidance(fmt: PromptFormat, tools: Sequence[ToolSpec], choice: ToolChoice) -> Guidance:
    if not tools:
        return NONE
    markers = TOOL_MARKERS[fmt]
    if choice is ToolChoice.REQUIRED:
        # Gemma's JSON style (a ```json block, "parameters"): the parser reads it like tool_code.
        if fmt is PromptFormat.GEMMA:
            opener, arguments = "```json\n", "parameters"
        else:
            opener, arguments = f"{markers.call_open}\n", "arguments"
        # No per-request whitespace flag: vLLM's xgrammar backend reads disable_any_whitespace from
        # the engine's structured_outputs_config only (v1/structured_output/backend_xgrammar.py).
        params = {"json": one_call_schema(tools, arguments)}
        return Guidance(opener, json.dumps(params), f"\n{markers.call_close}")
    if fmt is PromptFormat.GEMMA:
        return NONE
    return Guidance(structured_outputs=json.dumps({"structural_tag": structural_tag(fmt, tools)}))


def one_call_schema(tools: Sequence[ToolSpec], arguments: str = "arguments") -> dict[str, object]:
    """A JSON object calling exactly one of ``tools`` with arguments that fit its schema."""
    return {
        "anyOf": [
            {
                "type": "object",
                "properties": {"name": {"const": tool.name}, arguments: dict(tool.parameters)},
                "required": ["name", arguments],
                "additionalProperties": False,
            }
            for tool in tools
        ]
    }


def structural_tag(fmt: PromptFormat, tools: Sequence[ToolSpec]) -> str:
    """vLLM's ``structural_tag`` (xgrammar): free text, and once the call marker is written, one
    call to a declared tool with schema-valid arguments, then the closing marker."""
    markers = TOOL_MARKERS[fmt]
    structures = [
        {
            "begin": f'{markers.call_open}\n{{"name": "{tool.name}", "arguments": ',
            "schema": dict(tool.parameters),
            "end": f"}}\n{markers.call_close}",
        }
        for tool in tools
    ]
    return json.dumps(
        {"type": "structural_tag", "structures": structures, "triggers": [markers.call_open]}
    )
