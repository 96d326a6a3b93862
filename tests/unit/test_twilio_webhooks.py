"""Webhooks signed with twilio's RequestValidator: valid passes, tampered or missing gets 403."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from twilio.request_validator import RequestValidator

from callsim.handlers import RecordingHandler
from orchestrator.app import create_app
from orchestrator.settings import Settings
from orchestrator.twilio.outbound_calls import AmdAction, MachinePolicy, amd_action

TOKEN = "12345678901234567890123456789012"
PUBLIC = "https://agent.example.com"
CALL = {
    "CallSid": "CA0123456789abcdef0123456789abcdef",
    "From": "+15551230000",
    "To": "+15559870000",
    "Direction": "inbound",
    "AccountSid": "AC0123456789abcdef0123456789abcdef",
}


@pytest.fixture
def client(tmp_path: Path) -> httpx.AsyncClient:
    settings = Settings(
        twilio_auth_token=TOKEN, public_base_url=PUBLIC, recordings_dir=str(tmp_path)
    )
    app = create_app(settings, RecordingHandler)
    # The app sits behind a proxy: it is reached at http://internal, Twilio signed the public URL.
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://internal")


def signed(path: str, form: dict[str, str], token: str = TOKEN) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(PUBLIC + path, form)}


async def test_valid_signature_gets_connect_stream_twiml(client: httpx.AsyncClient) -> None:
    response = await client.post("/twilio/voice", data=CALL, headers=signed("/twilio/voice", CALL))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    twiml = response.text
    # A stream URL of its own (a one-time grant, see orchestrator/twilio/stream_grants.py).
    assert re.search(
        r'<Connect><Stream url="wss://agent\.example\.com/twilio/media/[\w-]{32}">', twiml
    )
    assert f'<Parameter name="CallSid" value="{CALL["CallSid"]}" />' in twiml
    assert '<Parameter name="From" value="+15551230000" />' in twiml


async def test_tampered_body_is_rejected(client: httpx.AsyncClient) -> None:
    headers = signed("/twilio/voice", CALL)
    tampered = {**CALL, "From": "+15550000000"}
    response = await client.post("/twilio/voice", data=tampered, headers=headers)
    assert response.status_code == 403
    assert "Connect" not in response.text


async def test_wrong_token_missing_signature_and_wrong_url_are_rejected(
    client: httpx.AsyncClient,
) -> None:
    wrong_token = signed("/twilio/voice", CALL, token="x" * 32)
    assert (await client.post("/twilio/voice", data=CALL, headers=wrong_token)).status_code == 403
    assert (await client.post("/twilio/voice", data=CALL)).status_code == 403
    other_path = signed("/twilio/status", CALL)
    assert (await client.post("/twilio/voice", data=CALL, headers=other_path)).status_code == 403
    metrics = (await client.get("/metrics")).text
    assert "cc_webhooks_rejected_total 3.0" in metrics


async def test_status_callback_records_lifecycle(client: httpx.AsyncClient, tmp_path: Path) -> None:
    for status in ("ringing", "in-progress", "completed"):
        form = {**CALL, "CallStatus": status}
        response = await client.post(
            "/twilio/status", data=form, headers=signed("/twilio/status", form)
        )
        assert response.status_code == 204
    lines = (tmp_path / f"{CALL['CallSid']}.lifecycle.jsonl").read_text().splitlines()
    assert [json.loads(line)["CallStatus"] for line in lines] == [
        "ringing",
        "in-progress",
        "completed",
    ]
    form = {**CALL, "CallStatus": "failed"}
    response = await client.post("/twilio/status", data=form)
    assert response.status_code == 403


async def test_signature_covers_the_query_string(client: httpx.AsyncClient) -> None:
    path = "/twilio/voice?campaign=7"
    response = await client.post(path, data=CALL, headers=signed(path, CALL))
    assert response.status_code == 200


async def test_calls_endpoint_needs_the_bearer_token(client: httpx.AsyncClient) -> None:
    response = await client.post("/calls", json={"to": "+15550001111"})
    assert response.status_code == 401


async def test_healthz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}


@pytest.mark.parametrize(
    ("answered_by", "policy", "action"),
    [
        ("human", MachinePolicy.HANG_UP, AmdAction.NONE),
        ("unknown", MachinePolicy.LEAVE_MESSAGE, AmdAction.NONE),
        ("machine_start", MachinePolicy.HANG_UP, AmdAction.HANG_UP),
        ("machine_start", MachinePolicy.LEAVE_MESSAGE, AmdAction.WAIT),
        ("machine_end_beep", MachinePolicy.LEAVE_MESSAGE, AmdAction.LEAVE_MESSAGE),
        ("machine_end_silence", MachinePolicy.LEAVE_MESSAGE, AmdAction.LEAVE_MESSAGE),
        ("machine_end_other", MachinePolicy.HANG_UP, AmdAction.HANG_UP),
        ("fax", MachinePolicy.LEAVE_MESSAGE, AmdAction.HANG_UP),
    ],
)
def test_amd_policy(answered_by: str, policy: MachinePolicy, action: AmdAction) -> None:
    assert amd_action(answered_by, policy) is action
