"""Tool calls parsed out of the LLM's stream: the words before a call are spoken, nothing of the call."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.conversation.prompts import PromptFormat
from orchestrator.conversation.tool_calls import (
    CallMalformed,
    CallsParsed,
    ParseEvent,
    SpeakText,
    ToolCallParser,
)
from orchestrator.conversation.tool_prompt import render_calls
from orchestrator.conversation.tool_specs import ToolCall

GEMMA, CHATML = PromptFormat.GEMMA, PromptFormat.CHATML
TOOLS = ("check_table", "book_table")
WORDS = "Let me check that. "
AFTER = " Anything else? <tool_call> ```tool_code"
BLOCKS = {
    GEMMA: '```tool_code\ncheck_table(time="19:00", people=2)\n```',
    CHATML: '<tool_call>\n{"name": "check_table", "arguments": {"time": "19:00", "people": 2}}\n</tool_call>',
}
CHECK = ToolCall("call1", "check_table", {"time": "19:00", "people": 2})


def run(fmt: PromptFormat, deltas: Sequence[str], tools: Sequence[str] = TOOLS) -> list[ParseEvent]:
    parser = ToolCallParser(fmt, tools)
    events = [event for delta in deltas for event in parser.push(delta)]
    return events + parser.flush()


def spoken(events: Sequence[ParseEvent]) -> str:
    return "".join(event.text for event in events if isinstance(event, SpeakText))


def calls_of(events: Sequence[ParseEvent]) -> list[CallsParsed | CallMalformed]:
    return [event for event in events if not isinstance(event, SpeakText)]


def only_call(fmt: PromptFormat, block: str, tools: Sequence[str] = TOOLS) -> CallsParsed:
    [event] = calls_of(run(fmt, [block], tools))
    assert isinstance(event, CallsParsed), event
    return event


def only_malformed(fmt: PromptFormat, block: str, tools: Sequence[str] = TOOLS) -> CallMalformed:
    events = run(fmt, [WORDS, block, AFTER], tools)
    assert spoken(events) == WORDS
    [event] = calls_of(events)
    assert isinstance(event, CallMalformed), event
    return event


@pytest.mark.parametrize("fmt", [GEMMA, CHATML])
def test_a_call_mid_stream_split_anywhere_speaks_the_words_before_and_nothing_of_the_call(
    fmt: PromptFormat,
) -> None:
    text = WORDS + BLOCKS[fmt] + AFTER
    splits = [[text[:i], text[i:]] for i in range(len(text) + 1)]
    splits += [
        [text[:i], text[i:j], text[j:]] for i in range(len(text)) for j in range(i, len(text))
    ]
    splits.append(list(text))  # a character a delta
    for deltas in splits:
        parser = ToolCallParser(fmt, TOOLS)
        events = [event for delta in deltas for event in parser.push(delta)]
        assert parser.done
        assert parser.flush() == []
        assert spoken(events) == WORDS, deltas
        assert [type(e) for e in events if not isinstance(e, SpeakText)] == [CallsParsed], deltas
        assert isinstance(events[-1], CallsParsed)
        assert events[-1].calls == (CHECK,)
        assert parser.ignored == AFTER


OPENS = {GEMMA: "```", CHATML: "<tool_call>"}


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([GEMMA, CHATML]),
    st.text(alphabet="ab <>`_/tol.\n", max_size=30),
    st.booleans(),
    st.lists(st.integers(0, 200), max_size=6),
)
def test_any_words_any_split_only_the_words_are_spoken(
    fmt: PromptFormat, words: str, with_call: bool, cuts: list[int]
) -> None:
    """Words full of marker-like characters, then a call or not, split anywhere."""
    opening = OPENS[fmt]
    if (words + opening).find(opening) != len(words):
        return  # the words hold a marker themselves (or run into the call's): not a call's words
    text = words + (BLOCKS[fmt] if with_call else "")
    points = sorted({min(cut, len(text)) for cut in cuts})
    deltas = [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]
    parser = ToolCallParser(fmt, TOOLS)
    events = [event for delta in deltas for event in parser.push(delta)] + parser.flush()
    if with_call:
        assert spoken(events) == words
        [call] = calls_of(events)
        assert isinstance(call, CallsParsed)
        assert call.calls == (CHECK,)
    else:
        assert spoken(events) + parser.ignored == words
        assert len(parser.ignored) < len(opening)
        assert calls_of(events) == []


@pytest.mark.parametrize("fmt", [GEMMA, CHATML])
def test_words_are_released_as_they_come_holding_back_only_a_possible_marker(
    fmt: PromptFormat,
) -> None:
    parser = ToolCallParser(fmt, TOOLS)
    assert parser.push("Sure, ") == [SpeakText("Sure, ")]
    marker_start = BLOCKS[fmt][:2]
    assert parser.push("one moment" + marker_start) == [SpeakText("one moment")]
    assert not parser.in_call
    assert parser.push(BLOCKS[fmt][2:12]) == []
    assert parser.in_call


@pytest.mark.parametrize(
    ("fmt", "text"),
    [
        (GEMMA, "Use `code` or ``this``, then ` and `` at the end"),
        (CHATML, "Tags like <b> and <tool> and < tool_call> are words, and so is <a>"),
    ],
)
def test_text_that_only_looks_like_a_marker_is_spoken(fmt: PromptFormat, text: str) -> None:
    events = run(fmt, list(text))
    assert spoken(events) == text
    assert calls_of(events) == []


@pytest.mark.parametrize(
    ("fmt", "text", "tail"),
    [(CHATML, "At the end: <tool_c", "<tool_c"), (GEMMA, "A stray ``", "``")],
)
def test_a_stream_ending_inside_the_opening_marker_does_not_speak_it(
    fmt: PromptFormat, text: str, tail: str
) -> None:
    parser = ToolCallParser(fmt, TOOLS)
    events = [event for delta in text for event in parser.push(delta)] + parser.flush()
    assert events[-1] != SpeakText(tail)
    assert spoken(events) == text.removesuffix(tail)
    assert calls_of(events) == []
    assert parser.ignored == tail


@pytest.mark.parametrize("fmt", [GEMMA, CHATML])
def test_an_answer_without_a_call_is_spoken_whole(fmt: PromptFormat) -> None:
    text = "We have a table at seven. Shall I book it?"
    parser = ToolCallParser(fmt, TOOLS)
    assert spoken([e for d in text.split(" ") for e in parser.push(d + " ")]) == text + " "
    assert parser.flush() == []
    assert not parser.done or parser.ignored == ""


def test_several_calls_in_one_block_get_ids_over_the_parser_s_life() -> None:
    gemma = only_call(
        GEMMA,
        '```tool_code\ncheck_table(time="19:00")\nbook_table(time="19:00", name="Ann")\n```',
    )
    assert gemma.calls == (
        ToolCall("call1", "check_table", {"time": "19:00"}),
        ToolCall("call2", "book_table", {"time": "19:00", "name": "Ann"}),
    )
    listed = only_call(GEMMA, '```tool_code\n[check_table(time="6"), book_table(time="7")]\n```')
    assert [call.name for call in listed.calls] == ["check_table", "book_table"]
    lines = '{"name": "check_table", "arguments": {}}\n{"name": "book_table", "arguments": {}}'
    for body in (lines, f"[{lines.replace(chr(10), ', ')}]"):
        chatml = only_call(CHATML, f"<tool_call>\n{body}\n</tool_call>")
        assert [(c.call_id, c.name) for c in chatml.calls] == [
            ("call1", "check_table"),
            ("call2", "book_table"),
        ]
    parser = ToolCallParser(GEMMA, TOOLS, first_call_number=3)
    [event] = parser.push('```tool_code\ncheck_table(time="1")\nbook_table()\n```')
    assert isinstance(event, CallsParsed)
    assert [call.call_id for call in event.calls] == ["call3", "call4"]
    assert parser.next_call_number == 5


@pytest.mark.parametrize("fmt", [GEMMA, CHATML])
def test_a_second_block_after_the_first_is_not_spoken_nor_parsed(fmt: PromptFormat) -> None:
    events = run(fmt, [WORDS, BLOCKS[fmt], "\n", BLOCKS[fmt], " Done."])
    assert spoken(events) == WORDS
    assert [type(e) for e in calls_of(events)] == [CallsParsed]


@pytest.mark.parametrize("fmt", [GEMMA, CHATML])
def test_an_unknown_tool_is_malformed(fmt: PromptFormat) -> None:
    event = only_malformed(fmt, BLOCKS[fmt], tools=["book_table"])
    assert "unknown tool 'check_table'" in event.reason
    assert "check_table" in event.raw


@pytest.mark.parametrize(
    ("block", "reason"),
    [
        ("<tool_call>\n{name: check_table}\n</tool_call>", "not JSON"),
        ("<tool_call>\n\n</tool_call>", "no call"),
        ('<tool_call>\n"check_table"\n</tool_call>', "a JSON object"),
        ('<tool_call>\n{"arguments": {}}\n</tool_call>', "no name"),
        ('<tool_call>{"name": "check_table", "arguments": [1]}</tool_call>', "a JSON object"),
        ('<tool_call>{"name": "check_table", "arguments": "{x"}</tool_call>', "not JSON"),
        ('<tool_call>{"name": "check_table", "arguments": {"n": NaN}}</tool_call>', "NaN"),
    ],
)
def test_malformed_json_calls(block: str, reason: str) -> None:
    assert reason in only_malformed(CHATML, block).reason


def test_json_call_variants() -> None:
    stringly = (
        '<tool_call>{"name": "check_table", "arguments": "{\\"time\\": \\"7\\"}"}</tool_call>'
    )
    assert only_call(CHATML, stringly).calls[0].arguments == {"time": "7"}
    google = '<tool_call>{"name": "check_table", "parameters": {"time": "7"}}</tool_call>'
    assert only_call(CHATML, google).calls[0].arguments == {"time": "7"}
    bare = '<tool_call>{"name": "book_table"}</tool_call>'
    assert only_call(CHATML, bare).calls[0].arguments == {}


@pytest.mark.parametrize(
    ("code", "arguments"),
    [
        ("check_table()", {}),
        ('check_table(time="7", people=2, ratio=0.5, late=False, note=None)', None),
        ("check_table(times=['6', \"7\"], pair=(1, 2), where={'room': 'garden'})", None),
        ("check_table(n=-3, big=1e3, ok=True, also=true, nothing=null, no=false)", None),
        ('print(check_table(time="7"))', {"time": "7"}),
        ('check_table(\n    time="7",\n)', {"time": "7"}),
    ],
)
def test_gemma_arguments_are_python_literals_read_as_json_values(
    code: str, arguments: dict[str, object] | None
) -> None:
    [call] = only_call(GEMMA, f"```tool_code\n{code}\n```").calls
    expected = {
        'check_table(time="7", people=2, ratio=0.5, late=False, note=None)': {
            "time": "7",
            "people": 2,
            "ratio": 0.5,
            "late": False,
            "note": None,
        },
        "check_table(times=['6', \"7\"], pair=(1, 2), where={'room': 'garden'})": {
            "times": ["6", "7"],
            "pair": [1, 2],
            "where": {"room": "garden"},
        },
        "check_table(n=-3, big=1e3, ok=True, also=true, nothing=null, no=false)": {
            "n": -3,
            "big": 1000.0,
            "ok": True,
            "also": True,
            "nothing": None,
            "no": False,
        },
    }
    assert call.arguments == (arguments if arguments is not None else expected[code])


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("check_table(time=seven)", "literal values"),  # a name
        ("check_table(time=[seven])", "literal values"),
        ("check_table(n=1 + 2)", "literal values"),  # an expression
        ("check_table(n=2 * 3)", "literal values"),
        ("check_table(t=__import__('os').system('x'))", "literal values"),
        ("check_table(t=open('/etc/passwd').read())", "literal values"),
        ("check_table(t=f'{x}')", "literal values"),
        ("check_table(t=lambda: 1)", "literal values"),
        ("check_table(t=[i for i in range(9)])", "literal values"),
        ("check_table(n=1+2j)", "complex"),
        ("check_table(n=b'x')", "bytes"),
        ("check_table(n={1, 2})", "set"),
        ("check_table(n={1: 2})", "dict"),
        ("check_table(n=1e999)", "JSON number"),
        ('check_table("7")', "by name"),
        ("check_table(**{'time': '7'})", "**"),
        ("os.system('rm -rf /')", "name(argument=value"),
        ("check_table(time='7')(again=1)", "name(argument=value"),
        ("print(1)", "name(argument=value"),
        ("import os", "no statements"),
        ("x = check_table()", "no statements"),
        ("check_table(time='7'", "not a Python call"),
        ("", "no call"),
    ],
)
def test_gemma_calls_other_than_literal_keyword_calls_are_rejected(code: str, reason: str) -> None:
    event = only_malformed(GEMMA, f"```tool_code\n{code}\n```")
    assert reason in event.reason, event.reason


def test_a_gemma_fence_of_another_language_is_malformed_and_never_spoken() -> None:
    event = only_malformed(GEMMA, '```yaml\ntime: "7"\n```')
    assert "not a tool_code block" in event.reason
    for language in ("python", "py", "", "Python"):
        block = f'```{language}\ncheck_table(time="7")\n```'
        assert only_call(GEMMA, block).calls[0].name == "check_table"


def test_a_gemma_json_fence_holds_json_calls_google_s_other_style() -> None:
    block = '```json\n{"name": "check_table", "parameters": {"time": "7"}}\n```'
    assert only_call(GEMMA, block).calls == (ToolCall("call1", "check_table", {"time": "7"}),)
    assert "not JSON" in only_malformed(GEMMA, '```json\n{"time": "7"\n```').reason


@pytest.mark.parametrize("fmt", [GEMMA, CHATML])
def test_a_block_left_open_when_the_stream_ends_is_malformed(fmt: PromptFormat) -> None:
    block = BLOCKS[fmt]
    parser = ToolCallParser(fmt, TOOLS)
    events = parser.push(WORDS + block[: len(block) - 3])
    assert spoken(events) == WORDS
    assert parser.in_call
    [event] = parser.flush()
    assert isinstance(event, CallMalformed)
    assert "closing marker" in event.reason
    assert parser.done
    assert parser.push("more") == []
    assert parser.flush() == []


@pytest.mark.parametrize("fmt", [GEMMA, CHATML])
def test_text_after_the_block_is_kept_aside_not_spoken(fmt: PromptFormat) -> None:
    parser = ToolCallParser(fmt, TOOLS)
    parser.push(BLOCKS[fmt] + " I have")
    assert parser.done
    assert parser.push(" booked it.") == []
    assert parser.flush() == []
    assert parser.ignored == " I have booked it."


@pytest.mark.parametrize("fmt", [GEMMA, CHATML])
def test_the_rendered_calls_parse_back_to_the_same_calls(fmt: PromptFormat) -> None:
    calls = (
        ToolCall(
            "call1", "check_table", {"time": "7 o'clock", "note": 'say "hi"\n\\ ok é', "n": 2}
        ),
        ToolCall(
            "call2", "book_table", {"who": ["Ann", None, True], "at": {"h": 19, "m": 0.5}, "z": -1}
        ),
    )
    assert only_call(fmt, render_calls(fmt, calls)).calls == calls
