"""Tool calls out of the LLM's streamed text: the words before a call are released to be spoken as they
come, nothing of a call ever is. Pure.

The model writes a call in its prompt format's syntax (:mod:`~orchestrator.conversation.tool_prompt`
says where each convention comes from; :mod:`~orchestrator.conversation.prompts` holds the markers):

- **Gemma**: a fenced ```` ```tool_code ```` block holding Python-style calls, ``name(arg=value, ...)``,
  one a line; also ``print(name(...))`` and ``[a(...), b(...)]``, both seen in Google's examples.
  Parsed with :mod:`ast`, each argument with ``ast.literal_eval`` (plus ``true``/``false``/``null``, a
  model mixing JSON in): only literal values, keyword arguments and known tool names are accepted, and
  nothing the model writes is ever evaluated. Any fenced block is held back, never spoken (code is not
  for the phone): ``python``, ``py`` or no language count as ``tool_code`` (what a model may write
  instead), ``json`` holds JSON calls as below (the other style of Google's guide), any other language
  is malformed.
- **ChatML** (Hermes/Qwen): ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``: a JSON
  object, several one a line, or a list of them (SmolLM2's variant). ``arguments`` may be a JSON string
  (OpenAI's style) or be called ``parameters`` (Google's JSON style).

:class:`ToolCallParser` is fed the deltas (:meth:`~ToolCallParser.push`). Text that could be the start
of the opening marker is held back until a later delta decides, so a marker split across deltas is never
spoken. One call block per stream: once it closes it is parsed, into :class:`CallsParsed` (the calls get
ids ``call1``, ``call2``, ... over the parser's life) or :class:`CallMalformed` (the reason, for the logs
and the model), and whatever the model writes after it is not the caller's to hear (kept in
``ignored``). A stream that ends inside a block (:meth:`~ToolCallParser.flush`) is malformed; one that
ends inside the opening marker (``<tool_c``, a stray backtick) has no call to report, and that text is
not spoken either.
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Collection
from dataclasses import dataclass
from enum import Enum
from typing import Any

from orchestrator.conversation.prompts import TOOL_MARKERS, PromptFormat
from orchestrator.conversation.tool_specs import ToolCall


@dataclass(frozen=True)
class SpeakText:
    """Words of the answer, safe to speak (never part of a call)."""

    text: str


@dataclass(frozen=True)
class CallsParsed:
    calls: tuple[ToolCall, ...]  # in the order written; one in the common case
    raw: str = ""  # the block's text between its markers (logs)


@dataclass(frozen=True)
class CallMalformed:
    reason: str
    raw: str  # what was written of the block


ParseEvent = SpeakText | CallsParsed | CallMalformed
WrittenCall = tuple[str, dict[str, Any]]  # a tool's name and its arguments (JSON values)

_GEMMA_FENCE = "```"
_GEMMA_CALL_LANGUAGES = frozenset(
    {TOOL_MARKERS[PromptFormat.GEMMA].call_open[3:], "python", "py", ""}
)


class CallSyntaxError(ValueError):
    """The text between the markers is not a call in the format's syntax."""


class _State(Enum):
    SPEAKING = "speaking"
    IN_CALL = "in_call"
    DONE = "done"  # a block was closed (or the stream flushed): the rest is not spoken


class ToolCallParser:
    """One per LLM stream. ``tool_names``: the tools declared to the model (any other is malformed).
    ``first_call_number``: where the call ids start (``next_call_number`` of the previous stream's
    parser, for ids unique over the reply's rounds)."""

    def __init__(
        self, fmt: PromptFormat, tool_names: Collection[str], *, first_call_number: int = 1
    ) -> None:
        self._fmt = fmt
        markers = TOOL_MARKERS[fmt]
        # Gemma: any fence opens a block (its language is checked when it closes).
        self._open = _GEMMA_FENCE if fmt is PromptFormat.GEMMA else markers.call_open
        self._close = markers.call_close
        self._tool_names = frozenset(tool_names)
        self._state = _State.SPEAKING
        self._pending = ""  # SPEAKING: text held back (a possible marker start); IN_CALL: the block
        self.next_call_number = first_call_number
        self.ignored = ""  # what followed the block, or a marker's start the stream ended in

    @property
    def done(self) -> bool:
        """The block was closed: the stream can be ended, nothing after it will be spoken."""
        return self._state is _State.DONE

    @property
    def in_call(self) -> bool:
        """Inside a block: the text is held until it closes (the engine may want to say so)."""
        return self._state is _State.IN_CALL

    def push(self, text: str) -> list[ParseEvent]:
        """The next delta of the stream."""
        if self._state is _State.DONE:
            self.ignored += text
            return []
        self._pending += text
        events: list[ParseEvent] = []
        if self._state is _State.SPEAKING:
            start = self._pending.find(self._open)
            if start < 0:
                cut = len(self._pending) - _partial_marker_length(self._pending, self._open)
                if cut:
                    events.append(SpeakText(self._pending[:cut]))
                self._pending = self._pending[cut:]
                return events
            if start:
                events.append(SpeakText(self._pending[:start]))
            self._pending = self._pending[start + len(self._open) :]
            self._state = _State.IN_CALL
        end = self._pending.find(self._close)
        if end >= 0:
            body, self.ignored = self._pending[:end], self._pending[end + len(self._close) :]
            self._pending = ""
            self._state = _State.DONE
            events.append(self._parsed(body))
        return events

    def flush(self) -> list[ParseEvent]:
        """The stream ended: held-back text is spoken unless it begins a marker (then it is dropped,
        into ``ignored``); a block left open is malformed (a call cut by the token cap, or a model that
        never closes it)."""
        pending, self._pending = self._pending, ""
        state, self._state = self._state, _State.DONE
        if state is _State.IN_CALL:
            return [
                CallMalformed(
                    "the stream ended inside the call, before its closing marker", pending
                )
            ]
        if state is _State.SPEAKING and pending:
            if _partial_marker_length(pending, self._open) == len(pending):
                # A marker's start (a cut "<tool_c", a stray backtick) holds no call and no words.
                self.ignored += pending
                return []
            return [SpeakText(pending)]
        return []

    def _parsed(self, body: str) -> CallsParsed | CallMalformed:
        try:
            if self._fmt is PromptFormat.GEMMA:
                written = _gemma_calls(body)
            else:
                written = parse_json_calls(body)
        except CallSyntaxError as exc:
            return CallMalformed(str(exc), body)
        unknown = [name for name, _ in written if name not in self._tool_names]
        if unknown:
            known = ", ".join(sorted(self._tool_names)) or "none"
            return CallMalformed(f"unknown tool {unknown[0]!r} (the tools: {known})", body)
        calls = []
        for name, arguments in written:
            calls.append(ToolCall(f"call{self.next_call_number}", name, arguments))
            self.next_call_number += 1
        return CallsParsed(tuple(calls), body)


def _partial_marker_length(text: str, marker: str) -> int:
    """Length of the longest end of ``text`` that begins ``marker`` (and is not all of it)."""
    for size in range(min(len(marker) - 1, len(text)), 0, -1):
        if marker.startswith(text[-size:]):
            return size
    return 0


def _gemma_calls(body: str) -> tuple[WrittenCall, ...]:
    """The calls of a Gemma fence's body (``tool_code\\n...``), by its language."""
    language, _, code = body.partition("\n")
    language = language.strip().lower()
    if language == "json":  # Google's other documented style: {"name": ..., "parameters": {...}}
        return parse_json_calls(code)
    if language not in _GEMMA_CALL_LANGUAGES:
        raise CallSyntaxError(f"a ```{language} block is not a tool_code block")
    return parse_python_calls(code)


def _reject_constant(name: str) -> object:
    raise CallSyntaxError(f"{name} is not a JSON value")


_JSON = json.JSONDecoder(parse_constant=_reject_constant)


def parse_json_calls(body: str) -> tuple[WrittenCall, ...]:
    """``{"name": ..., "arguments": {...}}``, several one a line, or a list of them."""
    values: list[object] = []
    index, text = 0, body.strip()
    while index < len(text):
        try:
            value, index = _JSON.raw_decode(text, index)
        except json.JSONDecodeError as exc:
            raise CallSyntaxError(f"not JSON: {exc.msg} at character {exc.pos}") from None
        values.extend(value if isinstance(value, list) else [value])
        while index < len(text) and text[index] in " \t\r\n,":
            index += 1
    if not values:
        raise CallSyntaxError("no call")
    return tuple(_json_call(value) for value in values)


def _json_call(item: object) -> WrittenCall:
    if not isinstance(item, dict):
        raise CallSyntaxError("a call must be a JSON object with a name and arguments")
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise CallSyntaxError("the call has no name")
    arguments = item.get("arguments", item.get("parameters", {}))
    if isinstance(arguments, str):
        try:
            arguments = _JSON.decode(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            raise CallSyntaxError(f"{name}: arguments are not JSON") from None
    if not isinstance(arguments, dict):
        raise CallSyntaxError(f"{name}: arguments must be a JSON object")
    return name, arguments


_LITERAL_NAMES: dict[str, object] = {
    "True": True,
    "False": False,
    "None": None,
    "true": True,  # a model mixing JSON into Python
    "false": False,
    "null": None,
}


def parse_python_calls(code: str) -> tuple[WrittenCall, ...]:
    """``name(a=1, b="x")`` (one a line), ``print(name(...))`` or ``[name(...), ...]``."""
    try:
        module = ast.parse(code.strip(), mode="exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise CallSyntaxError(f"not a Python call: {getattr(exc, 'msg', exc)}") from None
    calls: list[WrittenCall] = []
    for statement in module.body:
        if not isinstance(statement, ast.Expr):
            raise CallSyntaxError("only calls may be written, no statements or assignments")
        value = statement.value
        nodes = value.elts if isinstance(value, ast.List) else [value]
        calls.extend(_python_call(node) for node in nodes)
    if not calls:
        raise CallSyntaxError("no call")
    return tuple(calls)


def _python_call(node: ast.expr) -> WrittenCall:
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "print"
        and len(node.args) == 1
        and not node.keywords
    ):
        node = node.args[0]
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise CallSyntaxError("a call must be name(argument=value, ...)")
    name = node.func.id
    if node.args:
        raise CallSyntaxError(f"{name}: arguments must be passed by name")
    arguments: dict[str, Any] = {}
    for keyword in node.keywords:
        if keyword.arg is None:
            raise CallSyntaxError(f"{name}: ** arguments are not allowed")
        if keyword.arg in arguments:
            raise CallSyntaxError(f"{name}: {keyword.arg} is given twice")
        arguments[keyword.arg] = _literal(name, keyword.value)
    return name, arguments


def _literal(name: str, node: ast.expr) -> object:
    if isinstance(node, ast.Name) and node.id in _LITERAL_NAMES:
        return _LITERAL_NAMES[node.id]
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise CallSyntaxError(f"{name}: arguments must be literal values") from None
    return _as_json(name, value)


def _as_json(name: str, value: object) -> object:
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CallSyntaxError(f"{name}: {value} is not a JSON number")
        return value
    if isinstance(value, list | tuple):
        return [_as_json(name, item) for item in value]
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {key: _as_json(name, item) for key, item in value.items()}
    raise CallSyntaxError(f"{name}: {type(value).__name__} is not a JSON value")
