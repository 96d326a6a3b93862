"""The conversation engine on a scripted timeline: the real engine, turn-taking and reply shell, with
a clock the test moves, scripted models and a phone that plays audio on that clock. No server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from engine_fakes import (
    TTS_MS_PER_CHAR,
    Call,
    FakeClock,
    FakeModels,
    FakePhone,
    silence,
    speech,
    started_call,
)

from orchestrator.conversation.turn_taking import CannedLine
from orchestrator.engine.conversation import ConversationEngine
from orchestrator.engine.services import ConversationServices
from orchestrator.settings import Settings
from orchestrator.triton.request import TritonRequestError

GREETING = "Hello! How can I help?"
pytestmark = pytest.mark.timeout(20)


@contextlib.asynccontextmanager
async def started(models: FakeModels, **settings: Any) -> AsyncIterator[Call]:
    """A call whose greeting has been heard in full; stopped on the way out."""
    services = ConversationServices(Settings(greeting_text=GREETING, **settings), models)
    async with started_call(services) as call:
        yield call


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
    stages += ("tts_first_audio_ms", "held_ms", "first_byte_ms")
    assert sum(timings[s] for s in stages) == pytest.approx(timings["end_to_end_ms"])
    assert 200 <= timings["endpointing_ms"] <= 260  # the pause, on the fake clock
    assert timings["end_of_turn_ms"] >= 250  # a question: the short end-of-turn silence
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


async def test_a_resumed_turn_is_transcribed_again_and_timed_from_its_own_pause() -> None:
    """The caller pauses (a transcription starts) and goes on: that transcription is cancelled, the
    whole turn is transcribed at the next pause, and the reply's STT time is that one's."""
    first, second = asyncio.Event(), asyncio.Event()
    models = FakeModels(
        transcripts=["I'd like a table for two, please."],
        answers=[["Sure."]],
        stt_gates=[first, second],
    )
    async with started(models) as call:
        await call.feed(speech(600) + silence(300) + speech(600) + silence(300))
        first.set()
        await call.feed(silence(200))
        second.set()
        await call.until(lambda: call.phone.of("turn_timings"))

    assert any(r.endswith("-u2") for r in models.cancelled), models.cancelled
    (timings,) = call.phone.of("turn_timings")
    assert 270 <= timings["stt_ms"] <= 340  # from the second pause: 100 + 200 ms of waiting
    assert timings["speculation"]["transcriptions_cancelled"] == 1
    texts = [e["text"] for e in call.phone.of("user_turn")]
    assert texts == ["I'd like a table for two, please."]


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


async def test_a_hang_up_mid_reply_still_commits_what_was_heard() -> None:
    models = FakeModels(
        transcripts=["Tell me a story."],
        answers=[["Once upon a time, a dragon ", "lived in a very tall tower by the sea."]],
        llm_gates=[asyncio.Event()],  # still generating when the caller hangs up
    )
    async with started(models) as call:
        await call.feed(speech(800) + silence(500))
        await call.until(lambda: call.phone.sent_ms > 1500)  # the greeting + part of the story

    story = call.phone.of("agent_turn")[1]
    assert story["interrupted"] and not story["complete"]
    assert story["text"] and "Once upon a time, a dragon".startswith(story["text"])


async def test_the_reply_is_prepared_in_the_silence_and_sent_once_the_turn_is_over() -> None:
    models = FakeModels(transcripts=["What time do you open?"], answers=[["We open at nine."]])
    # An end-of-turn silence well past the pause (the models here answer at once).
    async with started(models, turn_end_short_ms=600) as call:
        greeting_ms = call.phone.sent_ms
        await call.feed(speech(800) + silence(300))  # the pause: transcribed, reply prepared
        assert any(r.endswith("-tts0") for r in models.requests)
        assert call.phone.sent_ms == greeting_ms
        assert "What time do you open?" in models.prompts[-1]  # not yet in the history
        assert call.phone.of("user_turn") == []
        await call.until(lambda: len(call.phone.of("agent_turn")) == 2)

    (timings,) = call.phone.of("turn_timings")
    assert timings["held_ms"] > 0  # its audio waited for the end of the turn
    assert (
        timings["speculation"]["replies_started"] == timings["speculation"]["replies_adopted"] == 1
    )
    assert call.phone.of("agent_turn")[1]["text"] == "We open at nine."


async def test_a_caller_who_goes_on_gets_one_answer_to_the_whole_sentence() -> None:
    models = FakeModels(
        transcripts=["I'd like a table and", "I'd like a table and a high chair."],
        answers=[["Sure, a table."], ["Of course, a table and a high chair."]],
    )
    async with started(models) as call:
        greeting_ms = call.phone.sent_ms
        await call.feed(speech(700) + silence(500))  # mid-thought: the reply waits, held
        await call.feed(speech(600) + silence(300))  # ... and the caller goes on
        await call.until(lambda: len(call.phone.of("agent_turn")) == 2)
        first_reply_sent = call.phone.sent_ms - greeting_ms

    phone = call.phone
    assert [e["text"] for e in phone.of("user_turn")] == ["I'd like a table and a high chair."]
    assert phone.of("agent_turn")[1]["text"] == "Of course, a table and a high chair."
    assert phone.of("reply_cancelled") and first_reply_sent > 0
    # Nothing of the cancelled speculation reached the caller or the history.
    assert "Sure, a table." not in models.prompts[-1]
    (timings,) = phone.of("turn_timings")
    speculation = timings["speculation"]
    assert speculation["replies_started"] == 2 and speculation["replies_cancelled"] == 1
    assert speculation["wasted_llm_tokens"] == 3 and speculation["wasted_tts_ms"] > 0


async def test_warm_up_synthesises_the_canned_lines_and_has_the_llm_answer_once() -> None:
    models = FakeModels(answers=[["Hi there."]])
    settings = Settings(greeting_text=GREETING, required_models=["silero_vad", "stt", "llm", "tts"])
    services = ConversationServices(settings, models)
    await asyncio.wait_for(services.warm_up(), 2.0)
    assert [r for r in models.requests if r.startswith("line-")]  # the canned lines
    assert (
        "warm-up" in models.requests and "warm-up" in models.cancelled
    )  # first token, then closed
    assert services.canned.get(CannedLine.GREETING).text == GREETING


async def test_a_looping_answer_is_cut_at_the_repeat_and_its_generation_stopped() -> None:
    loop = "I'm a food delivery service. "
    models = FakeModels(
        transcripts=["Are you open tomorrow?"],
        answers=[["Sorry, ", loop, loop, loop, loop]],
    )
    async with started(models) as call:
        await call.feed(speech(800) + silence(500))
        await call.until(lambda: len(call.phone.of("agent_turn")) == 2)

    reply = call.phone.of("agent_turn")[1]
    assert reply["text"] == "Sorry, I'm a food delivery service."
    assert any(r.endswith("-llm") for r in models.cancelled)  # the LLM was told to stop


async def test_fifty_replies_cancelled_before_audio_leave_nothing_behind() -> None:
    """A caller who keeps going on mid-thought: each pause starts a transcription and a speculative
    reply (its LLM stream held open), each new word cancels both. The call holds only what the core
    still names."""
    rounds = 50
    models = FakeModels(
        transcripts=[f"I'd like a table and {i}," for i in range(rounds)] + ["That is all."],
        answers=[["Sure, ", "a table."] for _ in range(rounds)] + [["Of course."]],
        llm_gates=[asyncio.Event() for _ in range(rounds)],  # never opened: cancelled mid-answer
    )
    async with started(models) as call:
        greeting_ms = call.phone.sent_ms
        for _ in range(rounds):  # mid-thought: the reply waits, held; then the caller goes on
            await call.feed(speech(300) + silence(300))
            await call.until(lambda: len(call.phone.of("reply_started")) > len(cancelled(call)))
        waiting = call.engine.holding()
        await call.feed(speech(300) + silence(300))
        await call.until(lambda: len(call.phone.of("agent_turn")) == 2)
        answered = call.engine.holding()
        spoken_ms = call.phone.sent_ms - greeting_ms

    started_ids = [e["reply_id"] for e in call.phone.of("reply_started")]
    speculative = started_ids[:rounds]
    assert all(e["speculative"] for e in call.phone.of("reply_started")[:rounds])
    assert [e["reply_id"] for e in cancelled(call)] == speculative
    assert sum(r.endswith("-llm") for r in models.cancelled) == rounds
    # While the last speculation waited: its reply and its utterance, nothing of the 49 before.
    assert waiting.replies == (speculative[-1],) and len(waiting.utterances) == 1
    # Once answered and heard: no reply, at most the answered utterance; only the answer was sent.
    assert answered.replies == () and len(answered.utterances) <= 1
    assert call.phone.of("agent_turn")[1]["text"] == "Of course."
    assert spoken_ms == pytest.approx(len("Of course.") * TTS_MS_PER_CHAR, abs=1.0)


def cancelled(call: Call) -> list[dict[str, Any]]:
    return call.phone.of("reply_cancelled")


async def test_a_released_reply_cut_before_its_audio_leaves_nothing_behind() -> None:
    """The turn is over and its reply released, but the caller speaks again before any audio: the
    reply is cancelled, and the call keeps nothing of it (its marks included)."""
    gate = asyncio.Event()
    models = FakeModels(
        transcripts=["What time do you open?", "And on Sunday?"],
        answers=[["We open at nine."], ["Sundays at ten."]],
    )
    async with started(models) as call:
        models.tts_gate = gate  # the greeting is out; the answers' audio waits
        await call.feed(speech(600) + silence(600))  # a question: confirmed, released
        first = call.phone.of("reply_started")[0]["reply_id"]
        await call.feed(speech(400))  # the caller goes on before any audio
        assert first not in call.engine.holding().replies
        gate.set()
        await call.feed(silence(600))
        await call.until(lambda: len(call.phone.of("agent_turn")) == 2)
        assert call.engine.holding().replies == ()

    assert [e["reply_id"] for e in call.phone.of("reply_cancelled")] == [first]
    assert call.phone.of("agent_turn")[1]["text"] == "Sundays at ten."


# ---- the audio end-of-turn model ------------------------------------------------------------------


async def test_the_voice_is_heard_at_the_pause_and_both_done_ends_the_turn_sooner() -> None:
    models = FakeModels(
        transcripts=["What time do you open?"], answers=[["At nine."]], turn_ends=[0.95]
    )
    async with started(models, turn_detector_enabled=True) as call:
        await call.feed(speech(800) + silence(500))
        await call.until(lambda: len(call.phone.of("agent_turn")) == 2)

    # What the model heard: the caller's voice and the pause's silence, up to the pause.
    (audio,) = models.turn_end_audio
    loud = np.flatnonzero(np.abs(audio) > 0.01)
    assert 0.7 <= loud.size / 16_000 <= 0.9
    assert 0.15 <= (audio.size - 1 - loud[-1]) / 16_000 <= 0.3
    (heard,) = call.phone.of("turn_end_heard")
    assert heard["utterance_id"] == 2 and heard["probability"] == 0.95
    (user_turn,) = call.phone.of("user_turn")
    assert user_turn["turn_end_audio"] == 0.95
    (timings,) = call.phone.of("turn_timings")
    assert 100 <= timings["end_of_turn_ms"] < 250  # both done: sooner than the words alone


async def test_a_failing_audio_model_leaves_the_turn_to_the_words() -> None:
    models = FakeModels(
        transcripts=["What time do you open?"],
        answers=[["At nine."]],
        turn_ends=[TritonRequestError("turn_detector: unavailable")],
    )
    async with started(models, turn_detector_enabled=True) as call:
        await call.feed(speech(800) + silence(500))
        await call.until(lambda: len(call.phone.of("agent_turn")) == 2)

    (heard,) = call.phone.of("turn_end_heard")
    assert heard["probability"] is None  # logged, and the call went on
    (user_turn,) = call.phone.of("user_turn")
    assert "turn_end_audio" not in user_turn
    (timings,) = call.phone.of("turn_timings")
    assert 250 <= timings["end_of_turn_ms"] < 400


async def test_the_caller_going_on_cancels_the_pauses_audio_request() -> None:
    models = FakeModels(
        transcripts=["I'd like a table", "I'd like a table for two, please."],
        answers=[["Sure."]],
        turn_ends=[0.9],  # the second pause's; the first pause's verdict never comes
        turn_end_gates=[asyncio.Event()],
    )
    async with started(models, turn_detector_enabled=True) as call:
        await call.feed(speech(600) + silence(300) + speech(600) + silence(500))
        await call.until(lambda: len(call.phone.of("agent_turn")) == 2)

    assert any(r.endswith("-u2-eot") for r in models.cancelled), models.cancelled
    texts = [e["text"] for e in call.phone.of("user_turn")]
    assert texts == ["I'd like a table for two, please."]


# ---- keypad digits --------------------------------------------------------------------------------


async def test_keypad_digits_are_the_callers_turn_and_are_answered() -> None:
    models = FakeModels(answers=[["You entered four two seven one."]])
    async with started(models) as call:
        for digit in "4271#":
            await call.engine.on_dtmf(digit)
            await call.feed(silence(100))
        await call.until(lambda: len(call.phone.of("agent_turn")) == 2)

    assert [e["text"] for e in call.phone.of("user_turn")] == ["Keypad digits: 4271"]
    assert "Keypad digits: 4271" in models.prompts[-1]
    assert call.phone.of("agent_turn")[1]["text"] == "You entered four two seven one."


async def test_a_digit_over_the_agent_is_a_barge_in() -> None:
    models = FakeModels(
        transcripts=["Tell me about the menu."],
        answers=[["We serve pasta, pizza and salads, and a dessert of the day every evening."]],
    )
    async with started(models) as call:
        await call.feed(speech(800) + silence(500))
        await call.until(lambda: call.phone.sent_ms > 2500)
        await call.engine.on_dtmf("0")
        await call.until(lambda: len(call.phone.of("agent_turn")) == 2)

    assert call.phone.clears == 1 and call.phone.of("barge_in")
    reply = call.phone.of("agent_turn")[1]
    assert reply["interrupted"] and reply["text"]
    assert "We serve pasta, pizza".startswith(reply["text"])  # what was heard, up to the key
