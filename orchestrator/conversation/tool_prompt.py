"""The tools in the LLM's prompt: their declaration (appended to the system prompt), the calls the model
wrote and the tools' answers, in the prompt format's own convention. Pure.

The model is raw text in, text out behind Triton's vLLM backend, so nothing but the prompt tells it
about tools, and the orchestrator reads its calls out of the streamed text
(:mod:`~orchestrator.conversation.tool_calls`). Each format uses the convention its models were shown:

- **Gemma 3** has no tool tokens; Google's function-calling guide
  (https://ai.google.dev/gemma/docs/capabilities/function-calling) declares the functions in the prompt
  with an instruction saying how to call them, a Python-style call ``name(param=value, ...)`` being one
  of its two documented styles. The call is fenced as a ```` ```tool_code ```` block and the answer
  comes back as a ```` ```tool_output ```` block in a user turn, the fences of Google's Gemma
  function-calling examples (the Gemma cookbook's and Philipp Schmid's "Gemma 3 function calling" guide):
  the fence gives the parser an unambiguous start, so the words before it can be spoken as they come.
  The declarations are JSON Schema objects, as in Google's guide.
- **ChatML** (the CPU profile's SmolLM2): the Hermes convention that Qwen2.5's chat template made the
  common one (https://github.com/NousResearch/Hermes-Function-Calling, Qwen2.5's
  ``tokenizer_config.json``): the signatures as JSON, one a line, inside ``<tools></tools>`` in the
  system prompt; a call is ``<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>``; the
  answers come back in a user turn inside ``<tool_response></tool_response>`` (Qwen's template writes
  its tool role so, and SmolLM2's has none). Qwen writes a block per call; here several calls share
  one block, a JSON object a line, since the parser takes one block per generation.

The instruction is written for a phone call: a tool only when the answer needs it, at most a few words
before the call (they are spoken while the tool runs), nothing after it (it would not be heard).

:func:`render_calls` and :func:`render_results` (the blocks' text) are here too, defined in
:mod:`~orchestrator.conversation.prompts`: it writes the history's tool turns with them, and importing
them from here would be a cycle (this module needs its ``PromptFormat``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from orchestrator.conversation.prompts import (
    TOOL_MARKERS,
    PromptFormat,
    render_calls,
    render_results,
)
from orchestrator.conversation.tool_specs import ToolCall, ToolSpec

__all__ = ["render_calls", "render_results", "tool_declaration", "tools_preamble"]


def tool_declaration(fmt: PromptFormat, tool: ToolSpec) -> str:
    """One tool as one line of JSON: Google's ``{"name", "description", "parameters"}`` for Gemma, the
    OpenAI-style ``{"type": "function", "function": {...}}`` of Qwen's template for ChatML."""
    function = {
        "name": tool.name,
        "description": tool.description,
        "parameters": dict(tool.parameters),
    }
    if fmt is PromptFormat.CHATML:
        return json.dumps({"type": "function", "function": function}, ensure_ascii=False)
    return json.dumps(function, ensure_ascii=False)


def tools_preamble(
    fmt: PromptFormat,
    tools: Sequence[ToolSpec],
    examples: Sequence[tuple[str, ToolCall]] = (),
) -> str:
    """The tools and how to call them, to append to the system prompt (after a blank line), then
    ``examples`` (what a caller says, the call it gets) written as the model would write them;
    empty when there are none."""
    if not tools:
        return ""
    preamble = _declaration(fmt, tools)
    if not examples:
        return preamble
    shown = "\n".join(f"Caller: {caller}\n{render_calls(fmt, [call])}" for caller, call in examples)
    return f"{preamble}\n\nExamples of calls (what a caller says, then your call):\n{shown}"


def _declaration(fmt: PromptFormat, tools: Sequence[ToolSpec]) -> str:
    declarations = "\n".join(tool_declaration(fmt, tool) for tool in tools)
    markers = TOOL_MARKERS[fmt]
    if fmt is PromptFormat.GEMMA:
        return (
            "You have access to functions, declared here as JSON:\n"
            f"{declarations}\n\n"
            "Call a function only when you need it to answer the caller. To call one, say at most a "
            "few words first, then write the call in Python syntax, with named arguments, in a "
            f"{markers.call_open} block, and write nothing after it:\n"
            f"{markers.call_open}\n"
            'function_name(argument="value", number=2)\n'
            f"{markers.call_close}\n"
            "To call several at once, write one call a line in the same block. "
            f"The function's answer comes back in a {markers.result_open} block; answer the caller "
            "from it."
        )
    return (
        "# Tools\n\n"
        "You may call functions, but only when you need one to answer the caller. The function "
        "signatures are within <tools></tools> XML tags:\n"
        f"<tools>\n{declarations}\n</tools>\n\n"
        "To call one, say at most a few words first, then write a JSON object with the function's "
        f"name and arguments within {markers.call_open}{markers.call_close} XML tags, and write "
        "nothing after it:\n"
        f"{markers.call_open}\n"
        '{"name": <function-name>, "arguments": <args-json-object>}\n'
        f"{markers.call_close}\n"
        "To call several at once, write one JSON object a line within the same tags. "
        f"The function's answer comes back within {markers.result_open}{markers.result_close} XML "
        "tags; answer the caller from it."
    )
