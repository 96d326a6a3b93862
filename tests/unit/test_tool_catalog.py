"""A persona's tools file: what loads, and the clear error for each thing wrong in it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from orchestrator.tools.catalog import (
    Builtin,
    ToolCatalog,
    ToolsFileError,
    Webhook,
    load_tools,
)
from serving.paths import PROJECT_ROOT

HOSTS = ["127.0.0.1", "Bookings.Example.com"]

LOOKUP: dict[str, Any] = {
    "name": "check_availability",
    "description": "Check a table.",
    "parameters": {
        "type": "object",
        "properties": {"time": {"type": "string"}},
        "required": ["time"],
    },
    "webhook": {"url": "{base_url}/check", "timeout_s": 3},
}
HANG_UP: dict[str, Any] = {
    "name": "end_call",
    "builtin": "end_call",
    "description": "Hang up.",
    "parameters": {"type": "object"},
}


def write(tmp_path: Path, content: Any) -> Path:
    path = tmp_path / "host.tools.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def load(tmp_path: Path, *tools: dict[str, Any], **top: Any) -> ToolCatalog:
    data = {"filler": "One moment.", "tools": list(tools), **top}
    return load_tools(write(tmp_path, data), HOSTS, base_url="http://127.0.0.1:8080")


def error(tmp_path: Path, *tools: dict[str, Any], **top: Any) -> str:
    with pytest.raises(ToolsFileError) as caught:
        load(tmp_path, *tools, **top)
    message = str(caught.value)
    assert str(tmp_path / "host.tools.json") in message  # every error names the file
    return message


def changed(tool: dict[str, Any], **changes: Any) -> dict[str, Any]:
    tool = copy.deepcopy(tool)
    for key, value in changes.items():
        if value is None:
            tool.pop(key, None)
        else:
            tool[key] = value
    return tool


def test_the_persona_tools_file_loads() -> None:
    path = PROJECT_ROOT / "personas" / "restaurant_host.tools.json"
    catalog = load_tools(path, ["127.0.0.1"], base_url="http://127.0.0.1:1")
    assert catalog.names() == ("check_availability", "book_table", "transfer_call", "end_call")
    assert catalog.filler
    check, book = catalog.get("check_availability"), catalog.get("book_table")
    assert check is not None and book is not None
    assert check.handler == Webhook("http://127.0.0.1:1/check_availability", 3.0)
    assert check.cancel_on_interruption and not book.cancel_on_interruption
    assert isinstance(book.handler, Webhook)
    assert book.handler.url == "http://127.0.0.1:1/book_table"
    transfer, end = catalog.get("transfer_call"), catalog.get("end_call")
    assert transfer is not None and end is not None
    assert transfer.handler == Builtin("transfer_call") and end.handler == Builtin("end_call")
    assert "reason" in transfer.parameters["properties"]
    assert not end.parameters.get("properties")
    assert not end.parameters.get("required")
    for tool in catalog.tools:
        assert tool.description and tool.parameters["type"] == "object"


def test_a_catalog_holds_the_file_s_tools_in_order(tmp_path: Path) -> None:
    catalog = load(tmp_path, LOOKUP, HANG_UP)
    assert catalog.filler == "One moment."
    assert catalog.names() == ("check_availability", "end_call")
    lookup = catalog.get("check_availability")
    assert lookup is not None
    assert lookup.handler == Webhook("http://127.0.0.1:8080/check", 3.0)
    assert lookup.cancel_on_interruption  # a webhook's default
    assert lookup.parameters["required"] == ["time"]
    end = catalog.get("end_call")
    assert end is not None and not end.cancel_on_interruption  # a builtin's default
    assert catalog.get("nope") is None


def test_cancel_on_interruption_can_be_set_either_way(tmp_path: Path) -> None:
    catalog = load(
        tmp_path,
        changed(LOOKUP, cancel_on_interruption=False),
        changed(HANG_UP, cancel_on_interruption=True),
    )
    assert [t.cancel_on_interruption for t in catalog.tools] == [False, True]
    assert "'cancel_on_interruption' must be true or false" in error(
        tmp_path, changed(LOOKUP, cancel_on_interruption="yes")
    )


def test_the_filler_has_a_default_and_must_be_text(tmp_path: Path) -> None:
    path = write(tmp_path, {"tools": [HANG_UP]})
    assert load_tools(path, HOSTS).filler
    assert "'filler' must be a non-empty string" in error(tmp_path, HANG_UP, filler=" ")


def test_an_empty_tools_list_is_an_empty_catalog(tmp_path: Path) -> None:
    assert load(tmp_path).tools == ()


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "absent.tools.json"
    with pytest.raises(ToolsFileError, match=r"absent\.tools\.json: cannot read the tools file"):
        load_tools(path, HOSTS)


def test_invalid_json_says_where(tmp_path: Path) -> None:
    path = write(tmp_path, '{"tools": [\n  {"name": "x",}\n]}')
    with pytest.raises(ToolsFileError, match=r"host.tools.json: not valid JSON: .*line 2"):
        load_tools(path, HOSTS)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ([], "the tools file must be a JSON object"),
        ({"filler": "x"}, "missing key 'tools'"),
        ({"tools": {}}, "'tools' must be a list"),
        ({"tools": [], "tool": []}, "unknown key(s) 'tool'"),
        ({"tools": ["end_call"]}, "tool #1: must be a JSON object"),
    ],
)
def test_the_file_s_shape(tmp_path: Path, content: Any, problem: str) -> None:
    with pytest.raises(ToolsFileError) as caught:
        load_tools(write(tmp_path, content), HOSTS)
    assert problem in str(caught.value)


@pytest.mark.parametrize("key", ["description", "parameters"])
def test_a_missing_key_is_named_with_its_tool(tmp_path: Path, key: str) -> None:
    message = error(tmp_path, changed(LOOKUP, **{key: None}))
    assert f"tool 'check_availability': missing key '{key}'" in message


def test_a_missing_name_is_named_by_position(tmp_path: Path) -> None:
    assert "tool #2: missing key 'name'" in error(tmp_path, HANG_UP, changed(LOOKUP, name=None))


def test_an_unknown_key_in_a_tool(tmp_path: Path) -> None:
    message = error(tmp_path, changed(LOOKUP, cancel_on_interuption=True))
    assert "tool 'check_availability': unknown key(s) 'cancel_on_interuption'" in message


@pytest.mark.parametrize(
    "name",
    ["Check", "1check", "check-availability", "check availability", "", "a" * 65, 7, "class"],
)
def test_a_bad_name(tmp_path: Path, name: Any) -> None:
    message = error(tmp_path, changed(LOOKUP, name=name))
    assert f"tool #1: name {name!r} must match [a-z_][a-z0-9_]{{0,63}}" in message


def test_names_at_the_limits_are_fine(tmp_path: Path) -> None:
    names = ["_", "a" * 64, "book_table_2"]
    catalog = load(tmp_path, *(changed(HANG_UP, name=n) for n in names))
    assert catalog.names() == tuple(names)


def test_a_duplicate_name(tmp_path: Path) -> None:
    message = error(tmp_path, LOOKUP, changed(HANG_UP, name="check_availability"))
    assert "tool 'check_availability': duplicate name" in message


def test_an_empty_description(tmp_path: Path) -> None:
    message = error(tmp_path, changed(LOOKUP, description="  "))
    assert "tool 'check_availability': 'description' must be a non-empty string" in message


@pytest.mark.parametrize(
    ("parameters", "problem"),
    [
        ("object", "'parameters' must be a JSON Schema object"),
        ({"type": "obj"}, "'parameters' is not a valid JSON Schema: 'obj' is not valid"),
        (
            {"type": "object", "properties": {"time": {"type": 5}}},
            "'parameters' is not a valid JSON Schema",
        ),
        ({"type": "object", "required": "time"}, "'parameters' is not a valid JSON Schema"),
        ({"type": "string"}, "'parameters' must be a JSON Schema of type 'object'"),
        ({"properties": {}}, "'parameters' must be a JSON Schema of type 'object'"),
    ],
)
def test_bad_parameters(tmp_path: Path, parameters: Any, problem: str) -> None:
    message = error(tmp_path, changed(LOOKUP, parameters=parameters))
    assert f"tool 'check_availability': {problem}" in message


def test_neither_webhook_nor_builtin(tmp_path: Path) -> None:
    message = error(tmp_path, changed(LOOKUP, webhook=None))
    assert "tool 'check_availability': needs exactly one of 'webhook' or 'builtin'" in message


def test_both_webhook_and_builtin(tmp_path: Path) -> None:
    message = error(tmp_path, changed(LOOKUP, builtin="end_call"))
    assert "tool 'check_availability': needs exactly one of 'webhook' or 'builtin'" in message


def test_an_unknown_builtin(tmp_path: Path) -> None:
    message = error(tmp_path, changed(HANG_UP, builtin="send_sms"))
    assert "tool 'end_call': unknown builtin 'send_sms' (known: transfer_call, end_call)" in message


@pytest.mark.parametrize(
    ("webhook", "problem"),
    [
        ("http://127.0.0.1/check", "'webhook' must be a JSON object"),
        ({"timeout_s": 3}, "webhook: missing key 'url'"),
        ({"url": "{base_url}/check"}, "webhook: missing key 'timeout_s'"),
        ({"url": 5, "timeout_s": 3}, "webhook: 'url' must be a string"),
        ({"url": "{base_url}/c", "timeout_s": 3, "method": "GET"}, "unknown key(s) 'method'"),
        ({"url": "ftp://127.0.0.1/check", "timeout_s": 3}, "must be http:// or https://"),
        ({"url": "file:///etc/passwd", "timeout_s": 3}, "must be http:// or https://"),
        ({"url": "/check", "timeout_s": 3}, "must be http:// or https://"),
        ({"url": "http://127.0.0.1:99999/c", "timeout_s": 3}, "bad port in URL"),
        ({"url": "http://127.0.0.1:x/c", "timeout_s": 3}, "bad URL"),
        (
            {"url": "https://evil.example.com/c", "timeout_s": 3},
            "host 'evil.example.com' of 'https://evil.example.com/c' is not on the allowed hosts",
        ),
        (
            {"url": "https://bookings.example.com.evil.net/c", "timeout_s": 3},
            "is not on the allowed hosts",
        ),
        (
            {"url": "https://bookings.example.com@evil.net/c", "timeout_s": 3},
            "host 'evil.net'",
        ),
        ({"url": "http://localhost/c", "timeout_s": 3}, "host 'localhost'"),
    ],
)
def test_bad_webhooks(tmp_path: Path, webhook: Any, problem: str) -> None:
    message = error(tmp_path, changed(LOOKUP, webhook=webhook))
    assert "tool 'check_availability': " in message
    assert problem in message


@pytest.mark.parametrize("timeout", [0, -1, 30.5, "3", None, True, float("inf")])
def test_a_timeout_out_of_range(tmp_path: Path, timeout: Any) -> None:
    hook = {"url": "{base_url}/check", "timeout_s": timeout}
    message = error(tmp_path, changed(LOOKUP, webhook=hook))
    assert "tool 'check_availability': webhook: 'timeout_s' must be a number in (0, 30]" in message


def test_timeouts_at_the_limits(tmp_path: Path) -> None:
    hooks = [{"url": "{base_url}/check", "timeout_s": t} for t in (0.001, 30)]
    catalog = load(
        tmp_path, *(changed(LOOKUP, name=f"t{i}", webhook=h) for i, h in enumerate(hooks))
    )
    assert [t.handler for t in catalog.tools] == [
        Webhook("http://127.0.0.1:8080/check", 0.001),
        Webhook("http://127.0.0.1:8080/check", 30.0),
    ]


def test_allowed_hosts_match_case_insensitively_on_any_port(tmp_path: Path) -> None:
    hooks = [
        {"url": "HTTPS://BOOKINGS.example.COM:8443/check", "timeout_s": 2},
        {"url": "http://127.0.0.1:9/check", "timeout_s": 2},
    ]
    catalog = load(
        tmp_path, *(changed(LOOKUP, name=f"t{i}", webhook=h) for i, h in enumerate(hooks))
    )
    assert len(catalog.tools) == 2


def test_no_allowed_hosts_refuses_every_webhook(tmp_path: Path) -> None:
    path = write(tmp_path, {"tools": [LOOKUP]})
    with pytest.raises(ToolsFileError, match=r"not on the allowed hosts \(none\)"):
        load_tools(path, [], base_url="http://127.0.0.1:8080")
    assert load_tools(write(tmp_path, {"tools": [HANG_UP]}), []).names() == ("end_call",)


def test_the_base_url_is_required_when_a_url_uses_it(tmp_path: Path) -> None:
    path = write(tmp_path, {"tools": [LOOKUP]})
    with pytest.raises(ToolsFileError, match=r"uses \{base_url\} but no base URL is set"):
        load_tools(path, HOSTS)
    catalog = load_tools(path, HOSTS, base_url="http://127.0.0.1:8080/")
    assert catalog.tools[0].handler == Webhook("http://127.0.0.1:8080/check", 3.0)


def test_the_catalog_is_immutable(tmp_path: Path) -> None:
    catalog = load(tmp_path, LOOKUP)
    with pytest.raises(AttributeError):
        catalog.filler = "x"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        catalog.tools[0].name = "x"  # type: ignore[misc]


def test_examples_are_checked_against_the_tools(tmp_path: Path) -> None:
    good = {
        "caller": "A table at seven?",
        "call": {"name": "check_availability", "arguments": {"time": "19:00"}},
    }
    (example,) = load(tmp_path, LOOKUP, examples=[good]).examples
    assert example.caller == "A table at seven?" and example.call.arguments == {"time": "19:00"}
    unknown = {**good, "call": {"name": "book_table", "arguments": {}}}
    assert "example #1: calls 'book_table', which is not a declared tool" in error(
        tmp_path, LOOKUP, examples=[unknown]
    )
    bad = {**good, "call": {"name": "check_availability", "arguments": {"time": 7}}}
    assert "arguments do not fit check_availability: time: 7 is not of type" in error(
        tmp_path, LOOKUP, examples=[bad]
    )
    assert "'caller' must be" in error(tmp_path, LOOKUP, examples=[{**good, "caller": ""}])
    assert "unknown key(s) 'answer'" in error(tmp_path, LOOKUP, examples=[{**good, "answer": "x"}])
