"""Admission control and the security rules of the edge: call limit, draining, SID-keyed private
files, every Twilio endpoint signed (no start-up without the auth token unless explicitly allowed),
the outbound API behind its token, secrets from the environment."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest
from twilio.request_validator import RequestValidator

from callsim.handlers import RecordingHandler
from orchestrator.app import InsecureSettings, app_from_env, create_app
from orchestrator.settings import Settings, get_settings
from orchestrator.twilio.admission import CallAdmission
from orchestrator.twilio.call_files import call_stem, is_call_sid
from orchestrator.twilio.event_log import CallEventLog, append_lifecycle_event
from orchestrator.twilio.recording import StereoRecorder

TOKEN = "12345678901234567890123456789012"
PUBLIC = "https://agent.example.com"
SID = "CA0123456789abcdef0123456789abcdef"
CALL = {"CallSid": SID, "From": "+15551230000", "To": "+15559870000", "Direction": "inbound"}


def signed(path: str, form: dict[str, str]) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(PUBLIC + path, form)}


def app_client(tmp_path: Path, **overrides: object) -> tuple[httpx.AsyncClient, CallAdmission]:
    settings = Settings(
        twilio_auth_token=TOKEN,
        public_base_url=PUBLIC,
        recordings_dir=str(tmp_path / "recordings"),
        **overrides,  # type: ignore[arg-type]
    )
    app = create_app(settings, RecordingHandler)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://internal")
    return client, app.state.admission


async def test_beyond_the_limit_the_webhook_says_so_and_hangs_up(tmp_path: Path) -> None:
    client, admission = app_client(tmp_path, max_concurrent_calls=2)
    assert admission.try_admit() and admission.try_admit()
    assert not admission.try_admit()
    response = await client.post("/twilio/voice", data=CALL, headers=signed("/twilio/voice", CALL))
    assert response.status_code == 200
    assert "<Say>" in response.text and "<Hangup" in response.text, response.text
    assert "<Connect" not in response.text and "<Stream" not in response.text
    admission.release()
    response = await client.post("/twilio/voice", data=CALL, headers=signed("/twilio/voice", CALL))
    assert "<Connect><Stream" in response.text
    metrics = (await client.get("/metrics")).text
    assert 'cc_calls_refused_total{where="webhook"} 1.0' in metrics


async def test_draining_refuses_new_calls(tmp_path: Path) -> None:
    client, admission = app_client(tmp_path)
    admission.draining = True
    response = await client.post("/twilio/voice", data=CALL, headers=signed("/twilio/voice", CALL))
    assert "<Hangup" in response.text and "<Connect" not in response.text
    assert not admission.try_admit()


async def test_wait_idle() -> None:
    admission = CallAdmission(1)
    assert await admission.wait_idle(0.01)
    assert admission.try_admit()
    assert not await admission.wait_idle(0.01)
    admission.release()
    assert await admission.wait_idle(0.01)


@pytest.mark.parametrize("path", ["/twilio/voice", "/twilio/status", "/twilio/amd"])
async def test_every_twilio_endpoint_requires_a_signature(tmp_path: Path, path: str) -> None:
    client, _ = app_client(tmp_path)
    assert (await client.post(path, data=CALL)).status_code == 403
    other = signed("/elsewhere", CALL)
    assert (await client.post(path, data=CALL, headers=other)).status_code == 403


async def test_the_outbound_api_requires_its_token(tmp_path: Path) -> None:
    client, _ = app_client(tmp_path, api_bearer_token="s3cret-token")
    body = {"to": "+15551230000"}
    assert (await client.post("/calls", json=body)).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert (await client.post("/calls", json=body, headers=wrong)).status_code == 401
    unset, _ = app_client(tmp_path)  # no token configured: the endpoint is off
    assert (await unset.post("/calls", json=body, headers=wrong)).status_code == 401


def test_secrets_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TWILIO_AUTH_TOKEN", "API_BEARER_TOKEN", "TWILIO_ACCOUNT_SID"):
        field = Settings.model_fields[name.lower()]
        assert field.default == "", f"{name} must have no default secret"
    monkeypatch.setenv("CC_TWILIO_AUTH_TOKEN", "from-env")
    monkeypatch.setenv("CC_API_BEARER_TOKEN", "token-from-env")
    settings = Settings()
    assert settings.twilio_auth_token == "from-env"
    assert settings.api_bearer_token == "token-from-env"


@pytest.mark.parametrize(
    "sid",
    [
        "../../etc/passwd",
        "CA../../x",
        "CA" + "0" * 31,
        "CA" + "0" * 33,
        "CA" + "g" * 32,
        "",
        "/tmp/x",
    ],
)
def test_bad_sids_never_name_a_file(tmp_path: Path, sid: str) -> None:
    assert not is_call_sid(sid)
    with pytest.raises(ValueError):
        call_stem(tmp_path, sid, "MZ" + "0" * 32)
    with pytest.raises(ValueError):
        append_lifecycle_event(tmp_path, sid, {"CallStatus": "ringing"})
    assert list(tmp_path.iterdir()) == []


async def test_status_callback_with_a_traversal_sid_writes_nothing(tmp_path: Path) -> None:
    client, _ = app_client(tmp_path)
    form = {"CallSid": "../../evil", "CallStatus": "completed"}
    response = await client.post(
        "/twilio/status", data=form, headers=signed("/twilio/status", form)
    )
    assert response.status_code == 204
    assert not any(tmp_path.rglob("*evil*"))  # noqa: ASYNC240 - a test


def test_recordings_are_owner_only(tmp_path: Path) -> None:
    directory = tmp_path / "recordings"
    stem = call_stem(directory, SID, "MZ" + "1" * 32)
    recorder = StereoRecorder(stem.with_suffix(".wav"))
    recorder.close()
    events = CallEventLog(stem.with_suffix(".jsonl"))
    events.close()
    append_lifecycle_event(directory, SID, {"CallStatus": "completed"})
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    files = list(directory.iterdir())
    assert len(files) == 3
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files), files


def test_without_an_auth_token_the_app_refuses_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(InsecureSettings, match="CC_TWILIO_AUTH_TOKEN is not set"):
        create_app(Settings(recordings_dir=str(tmp_path)), RecordingHandler)
    # As deployed (uvicorn --factory): a clear message and exit, not a traceback.
    monkeypatch.delenv("CC_TWILIO_AUTH_TOKEN", raising=False)
    monkeypatch.setenv("CC_RECORDINGS_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # no .env
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit, match=r"refusing to start: .*CC_TWILIO_ALLOW_UNSIGNED"):
            app_from_env()
    finally:
        get_settings.cache_clear()


async def test_the_development_switch_is_explicit_and_loud(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(recordings_dir=str(tmp_path), twilio_allow_unsigned=True)
    app = create_app(settings, RecordingHandler)
    assert "WITHOUT checking X-Twilio-Signature" in caplog.text
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://internal")
    response = await client.post("/twilio/voice", data=CALL)  # unsigned, accepted
    assert "<Connect><Stream" in response.text
