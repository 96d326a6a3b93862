"""What a reply needs to call tools, and what it did: its rounds of LLM -> call -> result -> LLM.

A reply with tools (:class:`~orchestrator.engine.reply.AgentReply`) streams the model's text through a
:class:`~orchestrator.conversation.tool_calls.ToolCallParser` (:func:`speakable`): the words before a
call go on to the chunker and the TTS as they come, the call never does. Once a call block closes the
LLM stream is closed, the calls run (:class:`~orchestrator.engine.tool_runner.ToolRunner`), and the
model is asked again with the calls and their results (``ToolUse.next_prompt``), up to
``max_rounds`` times. Each round is a :class:`ToolExchange`; the engine stores each as heard
(``ConversationHistory.add_tool_calls`` / ``add_tool_results``) when the reply is committed.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace

from orchestrator.conversation.prompts import PromptFormat
from orchestrator.conversation.tool_calls import (
    CallMalformed,
    CallsParsed,
    ParseEvent,
    SpeakText,
    ToolCallParser,
)
from orchestrator.conversation.tool_guidance import NONE, Guidance
from orchestrator.conversation.tool_specs import ToolCall, ToolResult
from orchestrator.engine.canned_lines import LineAudio
from orchestrator.engine.tool_runner import ToolRunner
from orchestrator.triton.llm_client import LlmDelta

CANCELLED = "error: cancelled, the caller interrupted before the tool answered"


@dataclass
class ToolExchange:
    """One round's calls: the words the reply queued before them (``words``, as the model wrote
    them, then ``filler``, the filler's text when one was said; the chunks before ``end_chunk``
    hold both), and the results, one per call, once they are in."""

    calls: tuple[ToolCall, ...]
    words: str
    end_chunk: int
    results: tuple[ToolResult, ...] = ()
    filler: str = ""

    @property
    def said(self) -> str:
        """What the reply said before the calls, as it wrote it (the prompt's assistant turn)."""
        return f"{self.words} {self.filler}".strip()

    def settled(self) -> tuple[ToolResult, ...]:
        """Every call answered: a call with no result (cancelled) by an error result."""
        answered = {result.call_id for result in self.results}
        missing = tuple(
            ToolResult(call.call_id, call.name, CANCELLED, False)
            for call in self.calls
            if call.call_id not in answered
        )
        return self.results + missing


@dataclass(frozen=True)
class ToolUse:
    """``next_prompt(exchanges)``: the prompt that answers the caller after this reply's rounds so
    far (the history, then each round's words, calls and results). ``filler``: the line said while
    a slow tool runs (None: not synthesised, so none is said); ``ending_lines``: what a built-in
    says when the model said nothing before it."""

    fmt: PromptFormat
    tool_names: frozenset[str]
    runner: ToolRunner
    next_prompt: Callable[[Sequence[ToolExchange]], str]
    first_call_number: int
    filler: LineAudio | None
    filler_after_ms: float
    max_rounds: int
    ending_lines: dict[str, LineAudio] = field(default_factory=dict)
    # The guided decoding of each round (its index): the first may require a call, later ones not.
    guidance: Callable[[int], Guidance] = lambda _: NONE

    def parser(self, first_call_number: int) -> ToolCallParser:
        return ToolCallParser(self.fmt, self.tool_names, first_call_number=first_call_number)


async def speakable(
    deltas: AsyncIterator[LlmDelta],
    parser: ToolCallParser,
    found: list[CallsParsed | CallMalformed],
    guided: Guidance = NONE,
) -> AsyncGenerator[LlmDelta]:
    """The deltas with only their speakable text, up to where a call begins (then it stops: the
    chunker flushes the words before it, and :func:`finish_call` reads the call from the same
    stream). ``guided``: the prompt's prefill is the model's text first."""
    parser.push(guided.prefill)
    if parser.in_call:
        return
    async for delta in deltas:
        events = parser.push(delta.text)
        yield replace(delta, text=_spoken(events))
        found.extend(_calls(events))
        if found or parser.in_call:
            return
    events = parser.flush()
    found.extend(_calls(events))
    text = _spoken(events)
    if text:
        yield LlmDelta(text, tokens=0)


async def finish_call(
    deltas: AsyncIterator[LlmDelta],
    parser: ToolCallParser,
    found: list[CallsParsed | CallMalformed],
    guided: Guidance = NONE,
    on_delta: Callable[[LlmDelta], None] | None = None,
) -> None:
    """Read the call that began from the rest of the stream, into ``found``; ``guided.closer`` ends
    one the constrained output left open (the caller then closes the stream)."""
    async for delta in deltas:
        if on_delta is not None:
            on_delta(delta)
        # Nothing is spoken inside a call.
        found.extend(_calls(parser.push(delta.text)))
        if found:
            return
    if parser.in_call:
        found.extend(_calls(parser.push(guided.closer)))
    if not parser.done:
        found.extend(_calls(parser.flush()))


def _calls(events: Sequence[ParseEvent]) -> list[CallsParsed | CallMalformed]:
    """The parser's events other than words: a call block, parsed or malformed."""
    return [event for event in events if not isinstance(event, SpeakText)]


def _spoken(events: Sequence[object]) -> str:
    return "".join(event.text for event in events if isinstance(event, SpeakText))
