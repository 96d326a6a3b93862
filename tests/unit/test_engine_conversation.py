"""The conversation engine on a scripted timeline: the real engine, turn-taking and reply shell, with
a clock the test moves, scripted models and a phone that plays audio on that clock. No server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from engine_fakes import Call, FakeClock, FakeModels, FakePhone, silence, speech

from orchestrator.engine.conversation import ConversationEngine
from orchestrator.engine.services import ConversationServices
from orchestrator.settings import Settings

GREETING = "Hello! How can I help?"
pytestmark = pytest.mark.timeout(20)


@contextlib.asynccontextmanager
async def started(models: FakeModels) -> AsyncIterator[Call]:
    """A call whose greeting has been heard in full; stopped on the way out."""
    services = ConversationServices(Settings(greeting_text=GREETING), models)
    clock = FakeClock()
    call = Call(ConversationEngine(services, clock), clock, FakePhone(clock))
    await call.start()
    try:
        await call.until(lambda: call.phone.of("agent_turn"))
        yield call
    finally:
        await call.stop()
    assert call.tasks() == []


async def test_a_turn_is_transcribed_answered_played_and_committed() -> None:
    models = FakeModels(transcripts=["What time do you open?"], answers=[["We open ", "at nine."]])
    async with started(models) as call:
        assert call.phone.of("agent_turn")[0]["text"] == GREETING
        await call.feed(speech(800) + silence(500))
        await call.until(lambda: len(call.phone.of("agent_turn")) == 2)

    phone = call.phone
    assert [e["text"] for e in phone.of("user_turn")] == ["What time do you open?"]
    reply = phone.of("agent_turn")[1]
    assert (reply["text"], reply["complete"], reply["interrupted"]) == (
        "We open at nine.",
        True,
        False,
    )
    (timings,) = phone.of("turn_timings")
    stages = ("endpointing_ms", "stt_ms", "reply_start_ms", "llm_ttft_ms", "llm_first_phrase_ms")
    stages += ("tts_first_audio_ms", "first_byte_ms")
    assert sum(timings[s] for s in stages) == pytest.approx(timings["end_to_end_ms"])
    assert 400 <= timings["endpointing_ms"] <= 500  # the end-of-turn silence, on the fake clock
    assert models.cancelled == []


async def test_barge_in_cancels_the_reply_keeps_what_was_heard_and_answers() -> None:
    models = FakeModels(
        transcripts=["Tell me a story.", "Stop, when do you open?"],
        answers=[
            ["Once upon a time, a dragon ", "lived in a very tall tower by the sea."],
            ["At nine."],
        ],
        llm_gates=[asyncio.Event()],  # the story is still generating when the caller cuts in
    )
    async with started(models) as call:
        await call.feed(speech(800) + silence(500))
        await call.until(lambda: call.phone.sent_ms > 1500)  # the greeting + part of the story
        await call.feed(speech(700) + silence(500))  # the caller talks over the agent
        await call.until(lambda: len(call.phone.of("agent_turn")) == 3)

    phone = call.phone
    assert phone.clears == 1 and phone.of("barge_in")
    story = phone.of("agent_turn")[1]
    assert story["interrupted"] and not story["complete"]
    assert story["text"] and "Once upon a time,".startswith(story["text"])
    # The story's LLM stream was cancelled while it was generating.
    assert any(r.endswith("-r3-llm") for r in models.cancelled), models.cancelled
    assert [e["text"] for e in phone.of("user_turn")][-1] == "Stop, when do you open?"
    assert phone.of("agent_turn")[2]["text"] == "At nine."


async def test_noise_over_the_agent_pauses_then_resumes_from_the_first_unheard_word() -> None:
    models = FakeModels(
        transcripts=["Tell me about the menu.", ""],
        answers=[["We serve pasta, pizza and salads, and a dessert of the day every evening."]],
    )
    async with started(models) as call:
        await call.feed(speech(800) + silence(500))
        await call.until(lambda: call.phone.sent_ms > 2500)
        await call.feed(speech(500) + silence(500))  # noise long enough to clear, but no words
        await call.until(lambda: len(call.phone.of("agent_turn")) == 2)

    phone = call.phone
    assert phone.clears == 1 and phone.of("reply_resumed")
    reply = phone.of("agent_turn")[1]
    assert reply["complete"] and not reply["interrupted"]
    assert reply["text"].startswith("We serve pasta")
    assert models.cancelled == []


async def test_each_utterance_keeps_its_own_stage_times() -> None:
    """The first transcript arrives after the second utterance ended: the reply's STT time is the
    second utterance's own (before, it was measured to whichever transcript came first)."""
    first, second = asyncio.Event(), asyncio.Event()
    models = FakeModels(
        transcripts=["I'd like a table.", "For two, please."],
        answers=[["Sure."]],
        stt_gates=[first, second],
    )
    async with started(models) as call:
        await call.feed(speech(600) + silence(480) + speech(600) + silence(480))
        first.set()
        await call.feed(silence(200))
        second.set()
        await call.until(lambda: call.phone.of("turn_timings"))

    (timings,) = call.phone.of("turn_timings")
    assert 200 <= timings["stt_ms"] <= 300
    texts = [e["text"] for e in call.phone.of("user_turn")]
    assert texts == ["I'd like a table.", "For two, please."]


async def test_start_returns_before_the_canned_lines_are_synthesised() -> None:
    models = FakeModels(tts_gate=asyncio.Event())
    services = ConversationServices(Settings(greeting_text=GREETING), models)
    clock = FakeClock()
    call = Call(ConversationEngine(services, clock), clock, FakePhone(clock))
    await asyncio.wait_for(call.start(), 1.0)  # the TTS is held: start must not wait for it
    assert call.phone.sent_ms == 0
    assert models.tts_gate is not None
    models.tts_gate.set()
    await call.until(lambda: call.phone.of("agent_turn"))
    assert call.phone.of("agent_turn")[0]["text"] == GREETING
    await call.stop()


async def test_stop_cancels_the_reply_and_every_task_of_the_call() -> None:
    models = FakeModels(
        transcripts=["Tell me a story."],
        answers=[["Once upon a time, a dragon ", "lived."]],
        llm_gates=[asyncio.Event()],
    )
    async with started(models) as call:
        await call.feed(speech(800) + silence(500))
        await call.until(lambda: any(r.endswith("-llm") for r in models.requests))
    # started() asserts no task of the call is left.
    assert any(r.endswith("-llm") for r in models.cancelled)
