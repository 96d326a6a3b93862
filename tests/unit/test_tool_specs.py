"""Tool declarations, argument validation against their JSON Schema, and results cut to a size."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.conversation.tool_specs import (
    TRUNCATED,
    ToolCall,
    ToolResult,
    ToolSpec,
    bounded,
    validate_arguments,
)

BOOK = ToolSpec(
    "book_table",
    "Book a table.",
    {
        "type": "object",
        "properties": {
            "time": {"type": "string", "pattern": "^[0-9]{2}:[0-9]{2}$"},
            "people": {"type": "integer", "minimum": 1, "maximum": 12},
            "names": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["time", "people"],
        "additionalProperties": False,
    },
)


def test_the_types_hold_what_the_brief_says() -> None:
    assert BOOK.cancel_on_interruption
    assert not ToolSpec("pay", "Take a payment.", {"type": "object"}, False).cancel_on_interruption
    call = ToolCall("call1", "book_table", {"time": "19:00", "people": 2})
    result = ToolResult("call1", "book_table", "booked", ok=True)
    assert (call.call_id, result.call_id, result.ok) == ("call1", "call1", True)
    with pytest.raises(AttributeError):
        BOOK.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "parameters", "problem"),
    [
        ("book table", {"type": "object"}, "Python identifier"),
        ("class", {"type": "object"}, "Python identifier"),
        ("", {"type": "object"}, "Python identifier"),
        ("book", {"type": "string"}, "type object"),
        ("book", {}, "type object"),
        (
            "book",
            {"type": "object", "properties": {"n": {"type": "number", "minimum": "1"}}},
            "not a JSON Schema",
        ),
    ],
)
def test_a_bad_declaration_fails_when_it_is_made(
    name: str, parameters: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        ToolSpec(name, "A tool.", parameters)


def test_valid_arguments_have_no_problems() -> None:
    assert validate_arguments(BOOK, {"time": "19:00", "people": 2}) == []
    assert validate_arguments(BOOK, {"time": "19:00", "people": 2, "names": ["Ann"]}) == []


def test_each_problem_is_one_readable_line_saying_where() -> None:
    problems = validate_arguments(
        BOOK, {"time": "7pm", "people": 0, "names": ["Ann", 3], "table": 4}
    )
    assert problems == [
        "Additional properties are not allowed ('table' was unexpected)",
        "names.1: 3 is not of type 'string'",
        "people: 0 is less than the minimum of 1",
        "time: '7pm' does not match '^[0-9]{2}:[0-9]{2}$'",
    ]


def test_missing_and_mistyped_arguments() -> None:
    assert validate_arguments(BOOK, {"people": "two"}) == [
        "'time' is a required property",
        "people: 'two' is not of type 'integer'",
    ]
    assert validate_arguments(ToolSpec("hang_up", "End the call.", {"type": "object"}), {}) == []


def test_bounded_keeps_text_and_writes_anything_else_as_compact_json() -> None:
    assert bounded("Table 4 at 19:00.", 100) == "Table 4 at 19:00."
    assert bounded({"free": [4, 7], "room": "café"}, 100) == '{"free":[4,7],"room":"café"}'
    assert bounded(None, 100) == "null"
    assert bounded(["a", 1.5, True], 100) == '["a",1.5,true]'


def test_bounded_cuts_to_the_limit_and_says_so() -> None:
    text = bounded("x" * 500, 100)
    assert len(text) == 100
    assert text == "x" * (100 - len(TRUNCATED)) + "…(truncated)"
    assert bounded({"rows": list(range(200))}, 40).endswith("…(truncated)")
    assert len(bounded({"rows": list(range(200))}, 40)) == 40
    assert bounded("y" * 40, 40) == "y" * 40
    with pytest.raises(ValueError):
        bounded("anything", len(TRUNCATED))
