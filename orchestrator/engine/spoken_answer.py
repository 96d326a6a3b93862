"""An LLM answer as the caller will hear it: deltas -> phrase chunks -> what the answer guard lets
through. Shared by the reply (which speaks the chunks) and the tests that ask the served model."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import replace

from orchestrator.conversation.answer_guard import AnswerGuard
from orchestrator.conversation.phrase_chunker import PhraseChunker, TextChunk
from orchestrator.triton.llm_client import LlmDelta


async def spoken_chunks(
    deltas: AsyncIterator[LlmDelta],
    chunker: PhraseChunker,
    guard: AnswerGuard,
    on_delta: Callable[[LlmDelta], None] | None = None,
) -> AsyncGenerator[TextChunk]:
    """The chunks to speak. Ends early when the guard ends the answer: the caller then closes
    ``deltas``, which stops the generation."""
    finish: str | None = None
    async for delta in deltas:
        if on_delta is not None:
            on_delta(delta)
        finish = delta.finish_reason or finish
        for chunk in chunker.push(delta.text):
            guarded = guard.take(chunk.text)
            if guarded.text:
                yield replace(chunk, text=guarded.text)
            if guarded.done:
                return
    for chunk in chunker.flush():
        guarded = guard.take_last(chunk.text, cut_by_length=finish == "length")
        if guarded.text:
            yield replace(chunk, text=guarded.text)
