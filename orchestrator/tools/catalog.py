"""A persona's tools file, read and checked once at start.

The file (JSON) sits beside the persona (``personas/restaurant_host.tools.json`` beside
``personas/restaurant_host.txt``)::

    {"filler": "One moment, let me check.",
     "tools": [
        {"name": "check_availability", "description": "...",
         "parameters": {"type": "object", ...},
         "webhook": {"url": "{base_url}/check_availability", "timeout_s": 3.0},
         "cancel_on_interruption": true},
        {"name": "transfer_call", "builtin": "transfer_call", "description": "...",
         "parameters": {"type": "object", ...}}]}

Each tool runs either an HTTP webhook of the business or a built-in of the call
(``transfer_call``, ``end_call``). A webhook's URL is fixed here, its host must be on the allowlist
the settings give (the caller's words never choose a URL), and ``{base_url}`` in it is replaced by
the ``base_url`` passed in. Anything wrong raises :class:`ToolsFileError` naming the file, the tool
and the problem, so a bad file stops the service at start, not in a call.
"""

from __future__ import annotations

import json
import keyword
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, TypeAlias, cast

import httpx
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from orchestrator.conversation.tool_specs import ToolCall, ToolSpec, validate_arguments

BuiltinKind = Literal["transfer_call", "end_call"]
BUILTINS: tuple[BuiltinKind, ...] = ("transfer_call", "end_call")
NAME_PATTERN = re.compile(r"[a-z_][a-z0-9_]{0,63}")
MAX_TIMEOUT_S = 30.0
DEFAULT_FILLER = "One moment, please."

_TOP_KEYS = frozenset({"filler", "tools", "examples"})
_EXAMPLE_KEYS = frozenset({"caller", "call"})
_TOOL_KEYS = frozenset(
    {"name", "description", "parameters", "webhook", "builtin", "cancel_on_interruption"}
)
_WEBHOOK_KEYS = frozenset({"url", "timeout_s"})


class ToolsFileError(ValueError):
    """The tools file is unreadable or wrong; the message names the file, the tool and the problem."""


@dataclass(frozen=True)
class Webhook:
    """POST JSON to ``url`` (host on the allowlist), give up after ``timeout_s`` seconds."""

    url: str
    timeout_s: float


@dataclass(frozen=True)
class Builtin:
    """A tool the call itself runs: hand the caller to a person, or hang up."""

    kind: BuiltinKind


ToolHandler: TypeAlias = Webhook | Builtin


@dataclass(frozen=True)
class CatalogTool:
    """``parameters``: the JSON Schema (type object) of the arguments, checked at load.
    ``cancel_on_interruption``: a caller barging in cancels the running call (a lookup); ``False``
    for an effect that must not be left half done (a booking)."""

    name: str
    description: str
    parameters: Mapping[str, Any]
    cancel_on_interruption: bool
    handler: ToolHandler

    @cached_property
    def spec(self) -> ToolSpec:
        """The tool as the model sees it (the conversation core renders and checks calls by it);
        built once: ToolSpec checks its schema, a few ms for the persona's four tools."""
        return ToolSpec(
            name=self.name,
            description=self.description,
            parameters=self.parameters,
            cancel_on_interruption=self.cancel_on_interruption,
        )


@dataclass(frozen=True)
class ToolExample:
    """What a caller says and the call it should get: shown to the model in the tools' declaration
    (a small model copies arguments from examples far better than from a schema)."""

    caller: str
    call: ToolCall


@dataclass(frozen=True)
class ToolCatalog:
    """``filler``: what the agent says while a tool runs. ``tools`` in the file's order;
    ``examples`` checked against them."""

    filler: str
    tools: tuple[CatalogTool, ...]
    examples: tuple[ToolExample, ...] = ()

    def names(self) -> tuple[str, ...]:
        return tuple(tool.name for tool in self.tools)

    def get(self, name: str) -> CatalogTool | None:
        """The tool called ``name``; None for a name the file does not declare (a model's guess)."""
        for tool in self.tools:
            if tool.name == name:
                return tool
        return None

    def specs(self) -> tuple[ToolSpec, ...]:
        return tuple(tool.spec for tool in self.tools)


def load_tools(path: Path, allowed_hosts: Sequence[str], base_url: str = "") -> ToolCatalog:
    """Read and check ``path``. ``allowed_hosts``: the hosts a webhook may reach (case-insensitive,
    exact, any port). ``base_url`` replaces ``{base_url}`` in webhook URLs."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ToolsFileError(f"{path}: cannot read the tools file: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ToolsFileError(
            f"{path}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    return parse_tools(data, path, allowed_hosts, base_url)


def parse_tools(
    data: Any, path: Path | str, allowed_hosts: Sequence[str], base_url: str = ""
) -> ToolCatalog:
    """Check the decoded file ``data``; ``path`` names it in errors. See :func:`load_tools`."""
    if not isinstance(data, dict):
        raise ToolsFileError(f"{path}: the tools file must be a JSON object")
    _no_unknown_keys(data, _TOP_KEYS, f"{path}")
    filler = data.get("filler", DEFAULT_FILLER)
    if not isinstance(filler, str) or not filler.strip():
        raise ToolsFileError(f"{path}: 'filler' must be a non-empty string")
    if "tools" not in data:
        raise ToolsFileError(f"{path}: missing key 'tools'")
    raw_tools = data["tools"]
    if not isinstance(raw_tools, list):
        raise ToolsFileError(f"{path}: 'tools' must be a list")
    hosts = frozenset(host.lower() for host in allowed_hosts)
    tools: list[CatalogTool] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_tools):
        tool = _parse_tool(raw, index, path, hosts, base_url)
        if tool.name in seen:
            raise ToolsFileError(f"{path}: tool {tool.name!r}: duplicate name")
        seen.add(tool.name)
        tools.append(tool)
    raw_examples = data.get("examples", [])
    if not isinstance(raw_examples, list):
        raise ToolsFileError(f"{path}: 'examples' must be a list")
    by_name = {tool.name: tool for tool in tools}
    examples = tuple(
        _parse_example(raw, index, path, by_name) for index, raw in enumerate(raw_examples)
    )
    return ToolCatalog(filler=filler.strip(), tools=tuple(tools), examples=examples)


def _parse_example(
    raw: Any, index: int, path: Path | str, tools: Mapping[str, CatalogTool]
) -> ToolExample:
    where = f"{path}: example #{index + 1}"
    if not isinstance(raw, dict):
        raise ToolsFileError(f"{where}: must be a JSON object with 'caller' and 'call'")
    _no_unknown_keys(raw, _EXAMPLE_KEYS, where)
    caller, call = raw.get("caller"), raw.get("call")
    if not isinstance(caller, str) or not caller.strip():
        raise ToolsFileError(f"{where}: 'caller' must be what a caller says (a non-empty string)")
    if not isinstance(call, dict) or not isinstance(call.get("arguments", {}), dict):
        raise ToolsFileError(f'{where}: \'call\' must be {{"name": ..., "arguments": {{...}}}}')
    tool = tools.get(call.get("name", ""))
    if tool is None:
        raise ToolsFileError(f"{where}: calls {call.get('name')!r}, which is not a declared tool")
    arguments = call.get("arguments", {})
    problems = validate_arguments(tool.spec, arguments)
    if problems:
        raise ToolsFileError(f"{where}: arguments do not fit {tool.name}: {'; '.join(problems)}")
    return ToolExample(caller.strip(), ToolCall(f"example{index + 1}", tool.name, arguments))


def _parse_tool(
    raw: Any, index: int, path: Path | str, hosts: frozenset[str], base_url: str
) -> CatalogTool:
    where = f"{path}: tool #{index + 1}"
    if not isinstance(raw, dict):
        raise ToolsFileError(f"{where}: must be a JSON object")
    if "name" not in raw:
        raise ToolsFileError(f"{where}: missing key 'name'")
    name = raw["name"]
    if not isinstance(name, str) or NAME_PATTERN.fullmatch(name) is None or keyword.iskeyword(name):
        raise ToolsFileError(
            f"{where}: name {name!r} must match [a-z_][a-z0-9_]{{0,63}} (and not be a Python keyword)"
        )
    where = f"{path}: tool {name!r}"
    _no_unknown_keys(raw, _TOOL_KEYS, where)
    for key in ("description", "parameters"):
        if key not in raw:
            raise ToolsFileError(f"{where}: missing key {key!r}")
    description = raw["description"]
    if not isinstance(description, str) or not description.strip():
        raise ToolsFileError(f"{where}: 'description' must be a non-empty string")
    parameters = _parse_parameters(raw["parameters"], where)
    has_webhook, has_builtin = "webhook" in raw, "builtin" in raw
    if has_webhook == has_builtin:
        raise ToolsFileError(f"{where}: needs exactly one of 'webhook' or 'builtin'")
    handler: ToolHandler
    if has_webhook:
        handler = _parse_webhook(raw["webhook"], where, hosts, base_url)
    else:
        kind = raw["builtin"]
        if kind not in BUILTINS:
            raise ToolsFileError(
                f"{where}: unknown builtin {kind!r} (known: {', '.join(BUILTINS)})"
            )
        handler = Builtin(kind=cast(BuiltinKind, kind))
    cancel = raw.get("cancel_on_interruption", isinstance(handler, Webhook))
    if not isinstance(cancel, bool):
        raise ToolsFileError(f"{where}: 'cancel_on_interruption' must be true or false")
    return CatalogTool(
        name=name,
        description=description.strip(),
        parameters=parameters,
        cancel_on_interruption=cancel,
        handler=handler,
    )


def _parse_parameters(parameters: Any, where: str) -> dict[str, Any]:
    if not isinstance(parameters, dict):
        raise ToolsFileError(f"{where}: 'parameters' must be a JSON Schema object")
    try:
        Draft202012Validator.check_schema(parameters)
    except SchemaError as exc:
        raise ToolsFileError(
            f"{where}: 'parameters' is not a valid JSON Schema: {exc.message}"
        ) from None
    if parameters.get("type") != "object":
        raise ToolsFileError(f"{where}: 'parameters' must be a JSON Schema of type 'object'")
    return parameters


def _parse_webhook(raw: Any, where: str, hosts: frozenset[str], base_url: str) -> Webhook:
    if not isinstance(raw, dict):
        raise ToolsFileError(f"{where}: 'webhook' must be a JSON object with 'url' and 'timeout_s'")
    _no_unknown_keys(raw, _WEBHOOK_KEYS, f"{where}: webhook")
    for key in ("url", "timeout_s"):
        if key not in raw:
            raise ToolsFileError(f"{where}: webhook: missing key {key!r}")
    url = raw["url"]
    if not isinstance(url, str):
        raise ToolsFileError(f"{where}: webhook: 'url' must be a string")
    if "{base_url}" in url and not base_url:
        raise ToolsFileError(f"{where}: webhook: {url!r} uses {{base_url}} but no base URL is set")
    url = url.replace("{base_url}", base_url.rstrip("/"))
    # httpx parses it, not urllib: the host checked is the host httpx will connect to.
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ToolsFileError(f"{where}: webhook: bad URL {url!r}: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ToolsFileError(
            f"{where}: webhook: URL {url!r} must be http:// or https:// with a host"
        )
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise ToolsFileError(f"{where}: webhook: bad port in URL {url!r}")
    if parsed.host.lower() not in hosts:
        allowed = ", ".join(sorted(hosts)) or "none"
        raise ToolsFileError(
            f"{where}: webhook: host {parsed.host!r} of {url!r} is not on the allowed hosts ({allowed})"
        )
    timeout = raw["timeout_s"]
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or not 0 < timeout <= MAX_TIMEOUT_S
    ):
        raise ToolsFileError(
            f"{where}: webhook: 'timeout_s' must be a number in (0, {MAX_TIMEOUT_S:g}], not {timeout!r}"
        )
    return Webhook(url=url, timeout_s=float(timeout))


def _no_unknown_keys(raw: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ToolsFileError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))} (known: {', '.join(sorted(known))})"
        )
