"""The tools the agent may use during a call, the calls it writes and what comes back. Pure.

A :class:`ToolSpec` declares a tool the way the LLM sees it (:mod:`~orchestrator.conversation.tool_prompt`
renders it into the system prompt): a name the model writes, a description, and its arguments as a JSON
Schema object (JSON Schema 2020-12, what OpenAI-style tool definitions and Hermes/Qwen chat templates
carry). The model's call, parsed out of its text by :mod:`~orchestrator.conversation.tool_calls`, is a
:class:`ToolCall`; :func:`validate_arguments` checks its arguments against the schema before anything
runs, and what the tool answered goes back to the model as a :class:`ToolResult`, cut to a size the
prompt can afford by :func:`bounded`.
"""

from __future__ import annotations

import json
import keyword
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

TRUNCATED = "…(truncated)"


@dataclass(frozen=True)
class ToolSpec:
    """``name`` must be a Python identifier: Gemma writes its call as ``name(argument=value)``.
    ``parameters`` is the JSON Schema of the arguments object (``{"type": "object", ...}``); it is
    checked here, so a bad declaration fails when the tools are set up, not in a call.
    ``cancel_on_interruption``: a caller barging in cancels the running call (a lookup); ``False`` for a
    tool whose effect must not be left half done (a booking), whose result is kept."""

    name: str
    description: str
    parameters: Mapping[str, Any]
    cancel_on_interruption: bool = True

    def __post_init__(self) -> None:
        if not self.name.isidentifier() or keyword.iskeyword(self.name):
            raise ValueError(f"a tool's name must be a Python identifier, not {self.name!r}")
        if self.parameters.get("type") != "object":
            raise ValueError(f"{self.name}: parameters must be a JSON Schema of type object")
        try:
            Draft202012Validator.check_schema(self.parameters)
        except SchemaError as exc:
            raise ValueError(
                f"{self.name}: parameters are not a JSON Schema: {exc.message}"
            ) from None


@dataclass(frozen=True)
class ToolCall:
    """One call the model wrote. ``call_id`` ("call1", "call2", ...) ties the result to it."""

    call_id: str
    name: str
    arguments: Mapping[str, Any]  # JSON values


@dataclass(frozen=True)
class ToolResult:
    """What the tool answered (``ok``), or why it did not (``ok=False``: ``content`` says what went
    wrong, in words the model can pass on to the caller)."""

    call_id: str
    name: str
    content: str
    ok: bool


def validate_arguments(spec: ToolSpec, arguments: Mapping[str, Any]) -> list[str]:
    """What is wrong with ``arguments`` for ``spec``, one readable line per problem (where, then what);
    empty when they are valid."""
    validator = Draft202012Validator(spec.parameters)
    errors = sorted(
        validator.iter_errors(dict(arguments)),
        key=lambda error: [str(part) for part in error.absolute_path],
    )
    problems: list[str] = []
    for error in errors:
        where = ".".join(str(part) for part in error.absolute_path)
        message = str(error.message)
        problems.append(f"{where}: {message}" if where else message)
    return problems


def bounded(content: object, max_chars: int) -> str:
    """``content`` as the text the model reads: a string as it is, anything else as compact JSON; cut
    to at most ``max_chars`` characters, the cut marked with ``…(truncated)``."""
    if max_chars <= len(TRUNCATED):
        raise ValueError(f"max_chars must be more than {len(TRUNCATED)}")
    if isinstance(content, str):
        text = content
    else:
        text = json.dumps(content, ensure_ascii=False, separators=(",", ":"), default=str)
    if len(text) <= max_chars:
        return text
    return text[: max_chars - len(TRUNCATED)] + TRUNCATED
