"""Tools during a real call: the real tritonserver (CPU profile, SmolLM2-135M behind the vLLM backend
stand-in), a real WebSocket call in Twilio's protocol, the demo's booking service over HTTP, and the
local fake of Twilio's REST API for the transfer.

The 135M model cannot decide when to call a tool, so these calls run with ``tool_choice=required``
(every reply's first round calls one, as OpenAI's option) and vLLM's guided decoding (the call is
a declared tool with schema-valid arguments, by construction). What the model chooses is greedy, so
deterministic on one machine; which tool and which arguments are the 135M's, and are not asserted
beyond what guided decoding guarantees.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from callsim.booking_service import BookingService
from callsim.call_record import CallRecord
from callsim.harness import agent_turns, call, cpu_call_settings, local_tool_settings
from callsim.steps import Dtmf, Say, SilenceUntilHangUp
from callsim.twilio_rest_fake import twilio_rest_fake
from callsim.voices import piper_available
from orchestrator.app import conversation_app
from orchestrator.settings import Settings
from orchestrator.tools.catalog import load_tools
from serving.launcher import TritonServer

pytestmark = pytest.mark.skipif(not piper_available(), reason="needs the piper-voice extra")

PERSONAS = Path(__file__).parents[2] / "personas"
TOOLS = PERSONAS / "restaurant_host.tools.json"
STAFF = "+15550002222"
WEDNESDAY = dt.date(2026, 12, 2)  # "today" for the booking service: the caller's Saturday is ahead


def tool_settings(
    triton: TritonServer, recordings: Path, base_url: str, tools: Path = TOOLS, **overrides: Any
) -> Any:
    return cpu_call_settings(
        triton.grpc_url,
        recordings,
        llm_system_prompt_file=str(PERSONAS / "restaurant_host.txt"),
        tools_file=str(tools),
        tool_choice="required",
        **local_tool_settings(base_url, STAFF),
        **overrides,
    )


async def test_a_caller_asking_for_a_table_is_booked_through_the_booking_service(
    triton: TritonServer, tmp_path: Path
) -> None:
    sid = "CA00000000000000000000000000007001"
    service = BookingService(":memory:", today=WEDNESDAY)
    async with service as base_url:
        settings = tool_settings(triton, tmp_path, base_url)
        await call(
            conversation_app(settings),
            sid,
            [
                agent_turns(tmp_path, sid, 1),
                Say("Please book a table for two on Saturday at seven, under the name Ada."),
                agent_turns(tmp_path, sid, 2, timeout_ms=120_000),
            ],
        )
    record = CallRecord.load(tmp_path, sid)
    catalog = load_tools(TOOLS, ["127.0.0.1"], base_url)
    calls = record.of("tool_call")
    assert calls, record.transcript()
    for written in calls:  # guided decoding: a declared tool, arguments valid for its schema
        tool = catalog.get(written["name"])
        assert tool is not None, written
        assert Draft202012Validator(tool.parameters).is_valid(written["arguments"]), written
    results = record.of("tool_result")
    assert [r["call_id"] for r in results] == [c["call_id"] for c in calls[: len(results)]]
    webhooks = [
        r for r in results if catalog.get(r["name"]).handler.__class__.__name__ == "Webhook"
    ]
    assert all(r["ok"] for r in webhooks), results  # the booking service answered each
    turn = record.of("agent_turn")[1]
    assert turn["tool_calls"] and "<tool_call>" not in turn["text"] and "{" not in turn["text"]
    # The booking under the caller's name. Its day, time and party size are the 135M's reading of
    # the caller's words (without the tools file's examples it wrote the tool's name as the
    # guest's, and a party of ten), so only the name is pinned, and not its case: one fresh
    # clone's caller (Piper samples each cache's clip) was booked as "ADA".
    bookings = service.bookings()
    assert [b["name"].casefold() for b in bookings] == ["ada"], json.dumps([calls, results])
    assert bookings[0]["call_sid"] == sid


async def test_a_caller_asking_for_a_person_is_transferred_over_twilio_rest(
    triton: TritonServer, tmp_path: Path
) -> None:
    # Asked for a person with all four tools, the 135M picked book_table: which tool is not its to
    # choose here (see the module docstring). Given only the transfer, the rest is real: its guided
    # call, the line, the REST redirect to <Dial> and the stream's end.
    only_transfer = json.loads(TOOLS.read_text())
    only_transfer["tools"] = [t for t in only_transfer["tools"] if t["name"] == "transfer_call"]
    only_transfer["examples"] = [
        e for e in only_transfer["examples"] if e["call"]["name"] == "transfer_call"
    ]
    tools = tmp_path / "transfer.tools.json"
    tools.write_text(json.dumps(only_transfer))
    sid = "CA00000000000000000000000000007002"
    with twilio_rest_fake() as twilio:
        settings = tool_settings(
            triton,
            tmp_path,
            "",  # no webhook
            tools,
            twilio_account_sid=twilio.account,
            twilio_api_base_url=twilio.url,
        )
        await call(
            conversation_app(settings),
            sid,
            [
                agent_turns(tmp_path, sid, 1),
                Say("Can I speak to a person, please?"),
                SilenceUntilHangUp(timeout_ms=120_000),  # the redirect ends the stream
            ],
        )
        (update,) = twilio.call_updates(sid)
    assert "<Dial>" in update["Twiml"][0] and STAFF in update["Twiml"][0]
    record = CallRecord.load(tmp_path, sid)
    assert [c["name"] for c in record.of("tool_call")] == ["transfer_call"]
    # The transfer line plays to its last mark before the redirect (the filler is no goodbye).
    assert record.of("agent_turn")[-1]["text"].endswith(Settings().transfer_text)
    assert record.of("end")[-1]["reason"] == "transferred", record.transcript()


async def test_a_caller_typing_digits_gets_them_read_back(
    triton: TritonServer, tmp_path: Path
) -> None:
    sid = "CA00000000000000000000000000007003"
    settings = cpu_call_settings(triton.grpc_url, tmp_path)  # no tools: digits are caller input
    await call(
        conversation_app(settings),
        sid,
        [
            agent_turns(tmp_path, sid, 1),
            *(Dtmf(d) for d in "4821#"),
            agent_turns(tmp_path, sid, 2, timeout_ms=120_000),
        ],
    )
    record = CallRecord.load(tmp_path, sid)
    assert [u["text"] for u in record.of("user_turn")] == ["Keypad digits: 4821"]
    assert "4821" in record.of("agent_turn")[1]["text"].replace(" ", ""), record.transcript()
