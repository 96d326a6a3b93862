"""Tools during a call, on the engine's scripted timeline: the real engine, reply, parser and runner,
a scripted model writing ChatML tool calls, and the business's webhook as an in-process httpx
transport (the one part that cannot exist here)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from engine_fakes import Call, FakeModels, silence, speech, started_call

from orchestrator.engine.services import ConversationServices
from orchestrator.settings import Settings
from orchestrator.tools.catalog import ToolsFileError

pytestmark = [pytest.mark.unit, pytest.mark.timeout(20)]

GREETING = "Hello! How can I help?"
FILLER = "One moment, let me check."
HOST = "tools.test"
PERSONA_TOOLS = Path(__file__).parents[2] / "personas" / "restaurant_host.tools.json"
CHECK = {"date": "2026-12-05", "time": "19:00", "party_size": 2}
BOOK = {"name": "Ada", **CHECK}

Handler = Callable[[str, dict[str, Any]], Awaitable[httpx.Response]]


def call_block(name: str, arguments: dict[str, Any]) -> str:
    return f"<tool_call>\n{json.dumps({'name': name, 'arguments': arguments})}\n</tool_call>"


class Business:
    """The webhook: records each POST; ``gates[tool]`` holds that tool's answer until set."""

    def __init__(self, answers: dict[str, Any] | None = None) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.answers = answers or {
            "check_availability": {"available": True, **CHECK},
            "book_table": {"booked": True, "booking_id": 7, **BOOK},
        }
        self.gates: dict[str, asyncio.Event] = {}
        self.status: dict[str, int] = {}
        self.finished: list[str] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        tool = request.url.path.strip("/")
        self.posts.append((tool, json.loads(request.content)))
        if tool in self.gates:
            await self.gates[tool].wait()
        self.finished.append(tool)
        return httpx.Response(self.status.get(tool, 200), json=self.answers.get(tool, {}))


@contextlib.asynccontextmanager
async def started(
    models: FakeModels, business: Business, tmp_path: Path, **settings: Any
) -> AsyncIterator[Call]:
    tools = json.loads(PERSONA_TOOLS.read_text())
    for tool in tools["tools"]:
        if "webhook" in tool and "timeout_s" in settings:
            tool["webhook"]["timeout_s"] = settings.pop("timeout_s")
    tools_file = tmp_path / "tools.json"
    tools_file.write_text(json.dumps(tools))
    options: dict[str, Any] = {
        "greeting_text": GREETING,
        "llm_prompt_format": "chatml",
        "tools_file": str(tools_file),
        "tools_base_url": f"http://{HOST}",
        "tools_allowed_hosts": [HOST],
        "transfer_number": "+15550001111",
        **settings,
    }
    http = httpx.AsyncClient(transport=httpx.MockTransport(business))
    services = ConversationServices(Settings(**options), models, http=http)
    try:
        async with started_call(services) as call:
            yield call
    finally:
        await http.aclose()


def spoken(call: Call) -> list[str]:
    return [e["text"] for e in call.phone.of("tts_chunk")]


async def test_words_before_a_call_are_spoken_the_call_never_and_the_model_answers_from_it(
    tmp_path: Path,
) -> None:
    # The call's marker and arguments arrive split across deltas.
    block = call_block("check_availability", CHECK)
    first = ["Let me check", " that. <tool", block[5:30], block[30:]]
    models = FakeModels(
        transcripts=["Do you have a table tomorrow at seven for two?", "Thanks."],
        answers=[first, ["Yes, we have a table at seven."], ["You're welcome."]],
    )
    business = Business()
    async with started(models, business, tmp_path) as call:
        await call.feed(speech(800) + silence(500))
        await call.until(lambda: len(call.phone.of("agent_turn")) == 2)
        await call.feed(speech(600) + silence(500))
        await call.until(lambda: len(call.phone.of("agent_turn")) == 3)

    assert spoken(call) == [
        "Let me check that.",
        "Yes, we have a table at seven.",
        "You're welcome.",
    ]
    assert business.posts == [
        (
            "check_availability",
            {"tool": "check_availability", "arguments": CHECK, "call_sid": call.call_sid},
        )
    ]
    (called,) = call.phone.of("tool_call")
    assert (called["name"], called["arguments"], called["call_id"]) == (
        "check_availability",
        CHECK,
        "call1",
    )
    (result,) = call.phone.of("tool_result")
    assert result["ok"] and '"available":true' in result["content"]
    assert not call.phone.of("tool_filler")  # the answer came first
    (answer_audio,) = call.phone.of("tool_answer_audio")  # after the words before the call
    assert answer_audio["reply_id"] == called["reply_id"] and answer_audio["t"] >= result["t"]
    # The model was asked again with its call and the result, and the history keeps both.
    after_tool, next_turn = models.prompts[1], models.prompts[2]
    for prompt in (after_tool, next_turn):
        assert '<tool_call>\n{"name": "check_availability"' in prompt
        assert "<tool_response>" in prompt and '"available":true' in prompt
    assert "Yes, we have a table at seven." in next_turn
    turn = call.phone.of("agent_turn")[1]
    assert turn["text"] == "Let me check that. Yes, we have a table at seven."
    assert turn["tool_calls"] == ["call1"] and turn["complete"]


async def test_a_slow_tool_gets_the_filler_after_the_words_before_it_have_played(
    tmp_path: Path,
) -> None:
    models = FakeModels(
        transcripts=["Is there a table tomorrow at seven for two?"],
        answers=[[call_block("check_availability", CHECK)], ["Yes, at seven."]],
    )
    business = Business()
    business.gates["check_availability"] = gate = asyncio.Event()
    async with started(models, business, tmp_path, tool_filler_ms=700) as call:
        await call.feed(speech(800) + silence(500))
        await call.until(lambda: bool(business.posts))
        turn_over = call.clock.now
        await call.until(lambda: bool(call.phone.of("tool_filler")))
        filler_at = call.phone.of("tool_filler")[0]["t"]
        gate.set()
        await call.until(lambda: len(call.phone.of("agent_turn")) == 2)

    assert 0.3 <= filler_at - turn_over <= 0.8  # 700 ms after the turn ended (on the call's clock)
    turn = call.phone.of("agent_turn")[1]
    assert turn["text"] == f"{FILLER} Yes, at seven."
    # The model knows it said the filler before the result came.
    assert f"{FILLER}\n<tool_call>" in models.prompts[1]


@pytest.mark.parametrize("cancel", [True, False], ids=["lookup-cancelled", "booking-kept"])
async def test_a_caller_barging_in_during_a_tool_is_heard_and_cancels_it_only_if_allowed(
    tmp_path: Path, cancel: bool
) -> None:
    tool, arguments = ("check_availability", CHECK) if cancel else ("book_table", BOOK)
    models = FakeModels(
        transcripts=["Book a table for Ada tomorrow at seven for two.", "Actually, wait."],
        answers=[["Sure. " + call_block(tool, arguments)], ["Of course, I'm listening."]],
    )
    if not cancel:  # the booking answers while the reply is held: its answer is generated, unheard
        models.answers.insert(1, ["Your table is booked."])
    business = Business()
    business.gates[tool] = gate = asyncio.Event()
    async with started(models, business, tmp_path, tool_filler_ms=5_000) as call:
        await call.feed(speech(800) + silence(500))
        await call.until(lambda: bool(business.posts))
        await call.feed(speech(700))  # the caller talks while the tool runs
        if not cancel:
            gate.set()  # the booking finishes although the caller cut in
        await call.feed(silence(500))
        await call.until(lambda: len(call.phone.of("agent_turn")) == 3)

    (result,) = call.phone.of("tool_result") or [None]
    assert (result is not None) == (not cancel)  # a cancelled lookup never answered
    assert business.finished == ([] if cancel else ["book_table"])
    assert call.phone.of("user_turn")[-1]["text"] == "Actually, wait."
    assert call.phone.of("agent_turn")[2]["text"] == "Of course, I'm listening."
    answer_prompt = models.prompts[-1]
    assert f'"name": "{tool}"' in answer_prompt  # the call is in the history either way
    if cancel:
        assert "cancelled, the caller interrupted" in answer_prompt
    else:
        assert '"booked":true' in answer_prompt
        assert "Your table is booked." not in answer_prompt  # never heard


@pytest.mark.parametrize("failure", ["bad argument", "timeout", "http error"])
async def test_a_failing_tool_ends_in_a_spoken_line_and_a_logged_reason(
    tmp_path: Path, failure: str
) -> None:
    arguments = {**CHECK, "party_size": "lots"} if failure == "bad argument" else CHECK
    models = FakeModels(
        transcripts=["A table tomorrow at seven?", "Never mind."],
        answers=[
            [call_block("check_availability", arguments)],
            ["Sorry, I couldn't check that just now."],
            ["Alright."],
        ],
    )
    business = Business()
    settings: dict[str, Any] = {}
    if failure == "timeout":
        settings["timeout_s"] = 0.05
        business.gates["check_availability"] = asyncio.Event()  # never answers
    if failure == "http error":
        business.status["check_availability"] = 500
    async with started(models, business, tmp_path, tool_filler_ms=60_000, **settings) as call:
        await call.feed(speech(800) + silence(500))
        for _ in range(200):  # the timeout runs on the real clock
            if len(call.phone.of("agent_turn")) == 2:
                break
            await asyncio.sleep(0.01)
            await call.feed(silence(20))
        await call.until(lambda: len(call.phone.of("agent_turn")) == 2)
        await call.feed(speech(600) + silence(500))  # and the call goes on
        await call.until(lambda: len(call.phone.of("agent_turn")) == 3)

    (result,) = call.phone.of("tool_result")
    assert not result["ok"]
    reason = {"bad argument": "invalid arguments", "timeout": "timed out", "http error": "HTTP 500"}
    assert reason[failure] in result["content"]
    assert business.posts == ([] if failure == "bad argument" else business.posts)
    assert call.phone.of("agent_turn")[1]["text"] == "Sorry, I couldn't check that just now."
    assert reason[failure] in models.prompts[1]  # the model read why
    assert call.phone.of("agent_turn")[2]["text"] == "Alright."


async def test_transfer_says_its_line_then_redirects_the_call(tmp_path: Path) -> None:
    models = FakeModels(
        transcripts=["Can I speak to a person?"],
        answers=[["Of course, one moment. " + call_block("transfer_call", {"reason": "a person"})]],
    )
    async with started(models, Business(), tmp_path) as call:
        await call.feed(speech(800) + silence(500))
        await call.until(lambda: bool(call.phone.transferred_to))

    assert call.phone.transferred_to == ["+15550001111"] and not call.phone.hung_up
    turn = call.phone.of("agent_turn")[1]
    assert turn["text"] == "Of course, one moment." and turn["complete"]  # played to its last mark
    assert call.phone.ended_at is not None and call.phone.ended_at >= turn["t"]
    assert call.phone.of("tool_result")[0]["name"] == "transfer_call"
    assert len(models.prompts) == 1  # nothing is asked after a transfer


async def test_a_transfer_the_model_wrote_no_words_for_gets_the_transfer_line(
    tmp_path: Path,
) -> None:
    models = FakeModels(
        transcripts=["Get me the manager."], answers=[[call_block("transfer_call", {})]]
    )
    async with started(models, Business(), tmp_path) as call:
        await call.feed(speech(800) + silence(500))
        await call.until(lambda: bool(call.phone.transferred_to))
    assert call.phone.of("agent_turn")[1]["text"] == Settings().transfer_text


async def test_end_call_plays_the_goodbye_to_its_last_mark_then_hangs_up(tmp_path: Path) -> None:
    models = FakeModels(
        transcripts=["That's all, thanks."],
        answers=[["Thank you for calling, goodbye! " + call_block("end_call", {})]],
    )
    async with started(models, Business(), tmp_path) as call:
        await call.feed(speech(800) + silence(500))
        await call.until(lambda: call.phone.hung_up)
        goodbye = call.phone.of("agent_turn")[1]
    assert goodbye["text"] == "Thank you for calling, goodbye!" and goodbye["complete"]
    assert call.phone.ended_at is not None and call.phone.ended_at >= goodbye["t"]
    assert not call.phone.transferred_to


async def test_a_malformed_call_is_logged_and_the_apology_said_instead_of_silence(
    tmp_path: Path,
) -> None:
    models = FakeModels(
        transcripts=["A table please."], answers=[["<tool_call>\n{not json}\n</tool_call>"]]
    )
    async with started(models, Business(), tmp_path) as call:
        await call.feed(speech(800) + silence(500))
        await call.until(lambda: len(call.phone.of("agent_turn")) == 2)
    (refused,) = call.phone.of("tool_call_refused")
    assert "not JSON" in refused["reason"]
    assert call.phone.of("agent_turn")[1]["text"] == Settings().apology_text


def test_a_transfer_tool_without_a_number_fails_at_start(tmp_path: Path) -> None:
    settings = Settings(
        tools_file=str(PERSONA_TOOLS),
        tools_base_url=f"http://{HOST}",
        tools_allowed_hosts=[HOST],
        transfer_number="",
    )
    with pytest.raises(ToolsFileError, match="CC_TRANSFER_NUMBER"):
        ConversationServices(settings, FakeModels())


def test_the_tools_are_declared_in_the_system_prompt(tmp_path: Path) -> None:
    settings = Settings(
        llm_prompt_format="chatml",
        tools_file=str(PERSONA_TOOLS),
        tools_base_url=f"http://{HOST}",
        tools_allowed_hosts=[HOST],
        transfer_number="+15550001111",
    )
    services = ConversationServices(settings, FakeModels())
    assert "<tools>" in services.system_prompt and '"name": "book_table"' in services.system_prompt


async def test_calls_are_guided_by_a_structural_tag_and_required_prefills_the_marker(
    tmp_path: Path,
) -> None:
    # Required: the prompt ends in the call marker, the model writes only the JSON (constrained),
    # and the closing marker is added; the answer after the result is free again.
    models = FakeModels(
        transcripts=["A table for two tomorrow at seven?"],
        answers=[[json.dumps({"name": "check_availability", "arguments": CHECK})], ["Yes."]],
    )
    business = Business()
    async with started(models, business, tmp_path, tool_choice="required") as call:
        await call.feed(speech(800) + silence(500))
        await call.until(lambda: len(call.phone.of("agent_turn")) == 2)

    assert [tool for tool, _ in business.posts] == ["check_availability"]
    assert models.prompts[0].endswith("<|im_start|>assistant\n<tool_call>\n")
    required, after = (json.loads(s) if s else None for s in models.structured_outputs)
    assert required is not None
    assert {"check_availability", "book_table"} <= {
        option["properties"]["name"]["const"] for option in required["json"]["anyOf"]
    }
    assert after is not None and "structural_tag" in after  # auto from the second round on
    assert call.phone.of("agent_turn")[1]["text"] == "Yes."


async def test_the_filler_comes_while_the_model_is_still_writing_a_slow_call(
    tmp_path: Path,
) -> None:
    block = call_block("check_availability", CHECK)
    writing = asyncio.Event()
    models = FakeModels(
        transcripts=["A table tomorrow at seven for two?"],
        answers=[[block[:20], block[20:]], ["Yes."]],
        llm_gates=[writing],  # the model stalls inside the call
    )
    business = Business()
    async with started(models, business, tmp_path, tool_filler_ms=700) as call:
        await call.feed(speech(800) + silence(500))
        await call.until(lambda: bool(call.phone.of("tool_filler")))
        assert business.posts == []  # the call is not even written yet
        writing.set()
        await call.until(lambda: len(call.phone.of("agent_turn")) == 2)
    assert call.phone.of("agent_turn")[1]["text"] == f"{FILLER} Yes."
    assert len(call.phone.of("tool_filler")) == 1
