"""Caller memory across whole calls: simulated Twilio callers over a real WebSocket, the orchestrator
(a fresh app per call, as after a restart), the real tritonserver (CPU profile: the served LLM writes
the summaries), and a real database: SQLite, and PostgreSQL started by the test session."""

from __future__ import annotations

import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from callsim.call_record import CallRecord
from callsim.harness import agent_turns, call, cpu_call_settings, logged
from callsim.steps import Say
from callsim.twilio_phone import serve_app
from orchestrator.app import conversation_app
from orchestrator.settings import Settings
from serving.launcher import TritonServer

ANA = "+15550100123"
SOMEONE_ELSE = "+15550100456"
TOKEN = "memory-test-bearer-token"

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'caller-memory.sqlite3'}"
    return str(request.getfixturevalue("postgres_url"))


def settings_for(triton: TritonServer, recordings: Path, database_url: str) -> Settings:
    return cpu_call_settings(
        triton.grpc_url,
        recordings,
        memory_enabled=True,
        # A secret of its own: callers of other tests sharing the database are other keys.
        memory_secret=f"memory-test-{uuid.uuid4().hex}",
        memory_database_url=database_url,
        api_bearer_token=TOKEN,
        llm_max_tokens=32,
    )


async def one_call(settings: Settings, caller: str, *said: str) -> tuple[str, CallRecord]:
    recordings = Path(settings.recordings_dir)
    sid = "CA" + uuid.uuid4().hex
    steps: list[Any] = [agent_turns(recordings, sid, 1), logged(recordings, sid, "memory_loaded")]
    for turn, text in enumerate(said, start=2):
        steps += [Say(text), agent_turns(recordings, sid, turn)]
    # The app stops after the call; its shutdown waits until the call is remembered.
    await call(conversation_app(settings), sid, steps, caller=caller)
    return sid, CallRecord.load(recordings, sid)


async def test_a_caller_is_remembered_on_the_next_call_and_erased_on_request(
    triton: TritonServer, tmp_path: Path, database_url: str
) -> None:
    settings = settings_for(triton, tmp_path / "recordings", database_url)

    first, record = await one_call(
        settings, ANA, "Hi, my name is Ana, and I'm allergic to peanuts."
    )
    assert record.of("memory_loaded")[0]["calls"] == []

    _, record = await one_call(settings, ANA, "What time do you open today?")
    (loaded,) = record.of("memory_loaded")
    assert loaded["calls"] == [first], loaded
    assert str(loaded["facts"].get("name", "")).lower().startswith("an"), loaded  # Ana / Anna
    assert any("peanut" in a for a in loaded["facts"]["allergies"]), loaded
    assert "peanut" in loaded["text"] and loaded["tokens"] <= settings.memory_token_budget
    (reply,) = record.of("reply_started")
    assert reply["memory_calls"] == [first]  # the reply's prompt carried that memory

    _, record = await one_call(settings, SOMEONE_ELSE)
    assert record.of("memory_loaded")[0]["calls"] == []

    app = conversation_app(settings)
    async with serve_app(app) as base, httpx.AsyncClient() as client:
        url = f"{base}/callers/{urllib.parse.quote(ANA)}/memory"
        assert (await client.delete(url)).status_code == 401
        response = await client.delete(url, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200 and response.json() == {"erased_calls": 2}

    _, record = await one_call(settings, ANA)
    assert record.of("memory_loaded")[0]["calls"] == []
