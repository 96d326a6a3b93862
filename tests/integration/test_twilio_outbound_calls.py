"""POST /calls and answering-machine handling, with the real ``twilio`` REST client talking to a
local HTTP fake of Twilio's REST endpoint (the only fake in the Twilio edge's tests)."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from twilio.request_validator import RequestValidator

from callsim.handlers import RecordingHandler
from callsim.twilio_rest_fake import ACCOUNT, FakeTwilioApi, twilio_rest_fake
from orchestrator.app import create_app
from orchestrator.settings import Settings

TOKEN = "12345678901234567890123456789012"
PUBLIC = "https://agent.example.com"
BEARER = "let-me-call"


@pytest.fixture
def twilio_api() -> Iterator[FakeTwilioApi]:
    with twilio_rest_fake(ACCOUNT) as fake:
        yield fake


@pytest.fixture
def client(twilio_api: FakeTwilioApi, tmp_path: Path) -> httpx.AsyncClient:
    settings = Settings(
        twilio_account_sid=ACCOUNT,
        twilio_auth_token=TOKEN,
        twilio_api_base_url=twilio_api.url,
        twilio_from_number="+15550001111",
        public_base_url=PUBLIC,
        api_bearer_token=BEARER,
        machine_message="Default message.",
        recordings_dir=str(tmp_path),
    )
    app = create_app(settings, RecordingHandler)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://internal")


async def place(client: httpx.AsyncClient, **body: object) -> str:
    response = await client.post("/calls", json=body, headers={"Authorization": f"Bearer {BEARER}"})
    assert response.status_code == 201, response.text
    return str(response.json()["call_sid"])


async def amd_result(client: httpx.AsyncClient, call_sid: str, answered_by: str) -> str:
    form = {"CallSid": call_sid, "AccountSid": ACCOUNT, "AnsweredBy": answered_by}
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + "/twilio/amd", form)
    response = await client.post(
        "/twilio/amd", data=form, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["action"])


async def test_place_call_with_stream_twiml_and_async_amd(
    client: httpx.AsyncClient, twilio_api: FakeTwilioApi
) -> None:
    call_sid = await place(client, to="+15557654321", parameters={"campaign": "renewals"})
    [(method, path, form, auth)] = twilio_api.requests
    assert (method, path) == ("POST", f"/2010-04-01/Accounts/{ACCOUNT}/Calls.json")
    assert auth == "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
    assert form["To"] == ["+15557654321"] and form["From"] == ["+15550001111"]
    twiml = form["Twiml"][0]
    # A stream URL of its own (a one-time grant, see orchestrator/twilio/stream_grants.py).
    assert re.search(
        r'<Connect><Stream url="wss://agent\.example\.com/twilio/media/[\w-]{32}">', twiml
    )
    assert '<Parameter name="campaign" value="renewals" />' in twiml
    assert form["MachineDetection"] == ["Enable"]
    assert form["AsyncAmd"] == ["true"]
    assert form["AsyncAmdStatusCallback"] == [PUBLIC + "/twilio/amd"]
    assert form["StatusCallback"] == [PUBLIC + "/twilio/status"]
    assert call_sid == f"CA{1:032d}"


async def test_machine_with_hang_up_policy_is_hung_up(
    client: httpx.AsyncClient, twilio_api: FakeTwilioApi
) -> None:
    call_sid = await place(client, to="+15557654321", machine_policy="hang_up")
    assert await amd_result(client, call_sid, "machine_start") == "hang_up"
    method, path, form, _ = twilio_api.requests[-1]
    assert method == "POST"
    assert path == f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{call_sid}.json"
    assert form == {"Status": ["completed"]}


async def test_machine_with_leave_message_policy_speaks_after_the_beep(
    client: httpx.AsyncClient, twilio_api: FakeTwilioApi
) -> None:
    call_sid = await place(
        client, to="+15557654321", machine_policy="leave_message", message="Please call back."
    )
    assert twilio_api.requests[-1][2]["MachineDetection"] == ["DetectMessageEnd"]
    before = len(twilio_api.requests)
    assert await amd_result(client, call_sid, "machine_end_beep") == "leave_message"
    assert len(twilio_api.requests) == before + 1
    _, path, form, _ = twilio_api.requests[-1]
    assert path.endswith(f"/Calls/{call_sid}.json")
    assert form["Twiml"] == [
        '<?xml version="1.0" encoding="UTF-8"?>'
        "<Response><Say>Please call back.</Say><Hangup /></Response>"
    ]


async def test_human_answer_changes_nothing(
    client: httpx.AsyncClient, twilio_api: FakeTwilioApi
) -> None:
    call_sid = await place(client, to="+15557654321", machine_policy="leave_message")
    before = len(twilio_api.requests)
    assert await amd_result(client, call_sid, "human") == "none"
    assert len(twilio_api.requests) == before


async def test_calls_endpoint_rejects_a_wrong_token_without_calling_twilio(
    client: httpx.AsyncClient, twilio_api: FakeTwilioApi
) -> None:
    response = await client.post(
        "/calls", json={"to": "+15557654321"}, headers={"Authorization": "Bearer nope"}
    )
    assert response.status_code == 401
    assert twilio_api.requests == []


async def test_unsigned_amd_callback_is_rejected(
    client: httpx.AsyncClient, twilio_api: FakeTwilioApi
) -> None:
    form = {"CallSid": "CA1", "AnsweredBy": "machine_start"}
    assert (await client.post("/twilio/amd", data=form)).status_code == 403
    assert twilio_api.requests == []
