"""Caller memory and caller sentiment in the real engine, on the fake clock with scripted models and a
real SQLite store: what a call loads and logs, what its prompts carry, what is remembered and erased."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from engine_fakes import Call, FakeModels, silence, speech, started_call

from orchestrator.engine.caller_memory import caller_number
from orchestrator.engine.services import ConversationServices
from orchestrator.settings import Settings

GREETING = "Hello! How can I help?"
ANA = "+14155550100"
SECRET = "a-test-secret-of-enough-bytes"
pytestmark = pytest.mark.timeout(30)


def services_for(models: FakeModels, tmp_path: Path, **settings: Any) -> ConversationServices:
    return ConversationServices(
        Settings(
            greeting_text=GREETING,
            memory_enabled=True,
            memory_secret=SECRET,
            memory_database_url=f"sqlite:///{tmp_path / 'memory.sqlite3'}",
            **settings,
        ),
        models,
    )


def call_from(services: ConversationServices, number: str) -> Any:
    return started_call(services, {"From": number, "Direction": "inbound"})


async def memory_loaded(call: Call, timeout_s: float = 5.0) -> dict[str, Any]:
    """The call's memory_loaded line, once its load (a worker thread, real time) is back."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not call.phone.of("memory_loaded"):
        assert asyncio.get_running_loop().time() < deadline, "caller memory never loaded"
        await asyncio.sleep(0.005)
        await call.settle()
    (loaded,) = call.phone.of("memory_loaded")
    return loaded


async def say(call: Call, turns: int) -> None:
    """One caller turn, answered: ``turns`` agent turns in all (the greeting is the first)."""
    await call.feed(speech(800) + silence(600))
    await call.until(lambda: len(call.phone.of("agent_turn")) == turns)


async def test_a_caller_is_remembered_loaded_next_time_and_forgotten_on_request(
    tmp_path: Path,
) -> None:
    models = FakeModels(
        transcripts=["Hi, my name is Ana and I'm allergic to peanuts.", "What time do you open?"],
        answers=[
            ["Noted, Ana."],
            ["Summary: Ana asked to note her peanut allergy.\nName: Ana\nAllergies: peanuts"],
            ["We open at nine."],
        ],
    )
    services = services_for(models, tmp_path)
    memory = services.memory
    assert memory is not None

    async with call_from(services, ANA) as first:
        loaded = await memory_loaded(first)
        assert loaded["calls"] == [] and loaded["text"] == ""
        await say(first, 2)
    await memory.written()

    async with call_from(services, "+1 (415) 555-0100") as second:  # Ana, another format
        loaded = await memory_loaded(second)
        assert loaded["calls"] == [first.call_sid]
        assert loaded["facts"] == {"name": "Ana", "allergies": ["peanuts"]}
        assert "peanut allergy" in loaded["text"]
        await say(second, 2)
    reply_prompt = models.prompts[-1]
    assert loaded["text"] in reply_prompt  # the reply's system prompt carries the memory

    async with call_from(services, "+447700900123") as stranger:
        loaded = await memory_loaded(stranger)
        assert loaded["calls"] == []

    assert await memory.forget(ANA) == 2  # both of Ana's calls
    async with call_from(services, ANA) as third:
        assert (await memory_loaded(third))["calls"] == []
    await services.aclose()


async def test_a_withheld_number_loads_and_stores_nothing(tmp_path: Path) -> None:
    models = FakeModels(transcripts=["Hello there."], answers=[["Hi."]])
    services = services_for(models, tmp_path)
    async with call_from(services, "anonymous") as call:
        await say(call, 2)
    assert call.phone.of("memory_loaded") == []
    assert services.memory is not None
    await services.memory.written()
    assert len(models.prompts) == 1  # no summary asked for
    await services.aclose()


async def test_two_negative_turns_in_a_row_put_the_acknowledgement_in_the_next_prompt(
    tmp_path: Path,
) -> None:
    instruction = "Acknowledge the frustration and offer a callback."
    models = FakeModels(
        transcripts=[
            "This is the third time I'm calling about my order.",
            "I've been waiting on hold for an hour, this is ridiculous.",
            "Fine. Thanks.",
        ],
        answers=[["I'm sorry."], ["Let me help."], ["You're welcome."]],
    )
    services = ConversationServices(
        Settings(greeting_text=GREETING, sentiment_instruction=instruction), models
    )
    async with call_from(services, ANA) as call:
        await say(call, 2)
        await say(call, 3)
        await say(call, 4)
    phone = call.phone
    labels = [turn["sentiment"]["label"] for turn in phone.of("user_turn")]
    assert labels[:2] == ["negative", "negative"]
    assert instruction not in models.prompts[0]
    assert instruction in models.prompts[1]  # the reply to the second negative turn
    assert instruction not in models.prompts[2]  # once per run of negative turns
    assert len(phone.of("sentiment_acknowledged")) == 1
    (arc,) = phone.of("call_sentiment")
    assert arc["turns"] == 3 and arc["negative_turns"] == 2 and arc["lowest"] < 0
    assert arc["acknowledged"] is True


@pytest.mark.parametrize(
    ("parameters", "number"),
    [
        ({"From": "+14155550100", "To": "+15550100999", "Direction": "inbound"}, "+14155550100"),
        ({"direction": "outbound", "to": "+447700900123"}, "+447700900123"),  # a call we placed
        ({}, None),
    ],
)
def test_the_caller_is_whom_the_call_connects_us_with(
    parameters: dict[str, str], number: str | None
) -> None:
    assert caller_number(parameters) == number
