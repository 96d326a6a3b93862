"""The orchestrator's HTTP/WebSocket surface toward Twilio, plus ops endpoints.

``create_app(settings, ...)`` builds the FastAPI app; run it with
``uvicorn --factory orchestrator.app:app_from_env``.

| route | what |
|---|---|
| ``POST /twilio/voice`` | inbound call webhook (signed): TwiML ``<Connect><Stream>`` to ``/twilio/media`` |
| ``POST /twilio/status`` | call status callback (signed): lifecycle events to ``<CallSid>.lifecycle.jsonl`` |
| ``POST /twilio/amd`` | async answering-machine-detection callback (signed) |
| ``POST /calls`` | place an outbound call (``Authorization: Bearer <api_bearer_token>``) |
| ``WS /twilio/media/<token>`` | Twilio Media Streams (signed handshake, one per answered call), one ``MediaStreamSession`` each |
| ``GET /healthz``, ``/readyz``, ``/metrics`` | process up; Triton + models ready and warm; Prometheus |
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response, WebSocket
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from twilio.rest import Client

from orchestrator import params
from orchestrator.call_handler import HandlerFactory, StopReason
from orchestrator.engine.caller_memory import MemorySettingsError
from orchestrator.engine.conversation import ConversationEngine
from orchestrator.engine.services import ConversationServices
from orchestrator.logging_setup import call_sid_var, configure_logging
from orchestrator.memory.store import MemoryStoreError
from orchestrator.settings import Settings, get_settings
from orchestrator.triton.readiness import check_triton
from orchestrator.twilio.admission import CallAdmission, install_sigterm_drain
from orchestrator.twilio.call_control import CallControl
from orchestrator.twilio.call_files import is_call_sid
from orchestrator.twilio.event_log import append_lifecycle_event
from orchestrator.twilio.metrics import EdgeMetrics
from orchestrator.twilio.outbound_calls import MachinePolicy, OutboundCallRequest, OutboundCalls
from orchestrator.twilio.rest import build_twilio_client
from orchestrator.twilio.session import MediaStreamSession
from orchestrator.twilio.stream_gate import StreamGate
from orchestrator.twilio.stream_grants import StreamRefusal
from orchestrator.twilio.transport import close_websocket, pump_websocket, receive_start
from orchestrator.twilio.webhooks import (
    MEDIA_STREAM_PATH,
    connect_stream_twiml,
    media_stream_url,
    public_url,
    say_and_hang_up_twiml,
    signature_is_valid,
)

log = logging.getLogger(__name__)

# Inbound-call webhook fields passed on to the stream's handler as <Parameter>s.
FORWARDED_CALL_FIELDS = ("CallSid", "From", "To", "Direction", "CallerName")
# WebSocket close code for a stream refused after its handshake (policy violation).
POLICY_VIOLATION = 1008


class InsecureSettings(ValueError):
    """The phone endpoints would accept anyone: refuse to start."""


def check_twilio_security(settings: Settings) -> None:
    """Without the auth token nothing Twilio sends can be verified; only an explicit development
    switch lets the app start that way, and it says so loudly."""
    if settings.twilio_allow_unsigned:
        log.warning(
            "CC_TWILIO_ALLOW_UNSIGNED is set: webhooks and media streams are accepted WITHOUT "
            "checking X-Twilio-Signature. Anyone who can reach this server can place calls into "
            "it. For local development only."
        )
    elif not settings.twilio_auth_token:
        raise InsecureSettings(
            "CC_TWILIO_AUTH_TOKEN is not set, so Twilio's signatures cannot be checked and anyone "
            "could open a call. Set it to your Twilio auth token (or, for local development only, "
            "set CC_TWILIO_ALLOW_UNSIGNED=true)."
        )


class PlaceCallBody(BaseModel):
    to: str = Field(min_length=2, description="E.164 number to call")
    machine_policy: MachinePolicy = MachinePolicy.HANG_UP
    message: str | None = None
    parameters: dict[str, str] = Field(default_factory=dict)


def create_app(
    settings: Settings,
    handler_factory: HandlerFactory,
    twilio_client: Client | None = None,
    clock: Callable[[], float] = time.monotonic,
    warm_up: Callable[[], Coroutine[Any, Any, None]] | None = None,
    on_shutdown: Callable[[], Coroutine[Any, Any, None]] | None = None,
) -> FastAPI:
    """``warm_up`` runs once at start-up (lifespan); /readyz says not ready until it is done.
    ``on_shutdown`` runs once at shutdown, after the last call (lifespan).
    Raises :class:`InsecureSettings` without a Twilio auth token (unless explicitly allowed)."""
    check_twilio_security(settings)
    admission = CallAdmission(settings.max_concurrent_calls)
    warming: list[asyncio.Task[None]] = []

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Under uvicorn (lifespan on): the first SIGTERM drains calls before uvicorn shuts down.
        if settings.shutdown_drain_s > 0:
            install_sigterm_drain(admission, settings.shutdown_drain_s)
        if warm_up is not None:
            warming.append(asyncio.create_task(warm_up(), name="warm-up"))
        try:
            yield
        finally:
            for task in warming:
                task.cancel()
            if on_shutdown is not None:
                await on_shutdown()

    def warm() -> bool:
        if warm_up is None:
            return True
        return bool(warming) and warming[0].done() and not warming[0].cancelled()

    app = FastAPI(title="Client Caller orchestrator", lifespan=lifespan)
    metrics = EdgeMetrics.create()
    recordings_dir = Path(settings.recordings_dir)
    session_options = params.session_options(settings)
    if twilio_client is None and settings.twilio_account_sid and settings.twilio_auth_token:
        twilio_client = build_twilio_client(
            settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_api_base_url
        )
    call_control = CallControl(twilio_client) if twilio_client is not None else None
    outbound_calls = (
        OutboundCalls(twilio_client, settings.twilio_from_number, settings.machine_message)
        if twilio_client is not None
        else None
    )
    gate = StreamGate(
        settings.twilio_auth_token,
        settings.twilio_allow_unsigned,
        settings.stream_grant_ttl_s,
        metrics,
        clock,
    )
    app.state.metrics = metrics
    app.state.admission = admission

    async def verified_form(request: Request) -> dict[str, str] | None:
        form = {key: str(value) for key, value in (await request.form()).items()}
        url = public_url(request, settings.public_base_url)
        signature = request.headers.get("X-Twilio-Signature")
        if settings.twilio_allow_unsigned or signature_is_valid(
            settings.twilio_auth_token, url, form, signature
        ):
            return form
        metrics.webhooks_rejected.inc()
        log.warning(
            "rejected %s: %s X-Twilio-Signature for %s (CallSid %s)",
            request.url.path,
            "bad" if signature else "missing",
            url,
            form.get("CallSid"),
        )
        return None

    def forbidden() -> Response:
        return PlainTextResponse("invalid signature", status_code=403)

    @app.post("/twilio/voice")
    async def incoming_call(request: Request) -> Response:
        form = await verified_form(request)
        if form is None:
            return forbidden()
        call_sid_var.set(form.get("CallSid"))
        if not admission.has_room():
            metrics.calls_refused.labels("webhook").inc()
            log.warning(
                "call refused: %s (%d of %d calls active)",
                "draining" if admission.draining else "at capacity",
                admission.active,
                admission.max_calls,
            )
            return Response(say_and_hang_up_twiml(settings.busy_text), media_type="application/xml")
        parameters = {name: form[name] for name in FORWARDED_CALL_FIELDS if form.get(name)}
        log.info("incoming call from %s to %s", form.get("From"), form.get("To"))
        grant = gate.issue(media_stream_url(request, settings.public_base_url), form.get("CallSid"))
        twiml = connect_stream_twiml(grant.url, parameters)
        return Response(twiml, media_type="application/xml")

    @app.post("/twilio/status")
    async def call_status(request: Request) -> Response:
        form = await verified_form(request)
        if form is None:
            return forbidden()
        call_sid = form.get("CallSid", "")
        status = form.get("CallStatus", "unknown")
        call_sid_var.set(call_sid)
        metrics.call_status_events.labels(status).inc()
        log.info("call status %s", status)
        if is_call_sid(call_sid):  # it names a file
            received_at = datetime.now(UTC).isoformat()
            append_lifecycle_event(recordings_dir, call_sid, {"received_at": received_at, **form})
        return Response(status_code=204)

    @app.post("/twilio/amd")
    async def answering_machine_result(request: Request) -> Response:
        form = await verified_form(request)
        if form is None:
            return forbidden()
        call_sid_var.set(form.get("CallSid"))
        if outbound_calls is None:
            log.error("AMD result but no Twilio REST client is configured")
            return Response(status_code=503)
        action = await outbound_calls.on_amd_result(
            form.get("CallSid", ""), form.get("AnsweredBy", "unknown")
        )
        return JSONResponse({"action": action.value})

    @app.post("/calls")
    async def place_call(body: PlaceCallBody, request: Request) -> Response:
        if not bearer_authorised(settings, request):
            log.warning("rejected POST /calls: bad or missing bearer token")
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        if outbound_calls is None or not settings.twilio_from_number:
            return JSONResponse({"error": "Twilio REST client not configured"}, status_code=503)
        base = settings.public_base_url.rstrip("/") or str(request.base_url).rstrip("/")
        # The call's SID comes back from Twilio with the call; its stream cannot start before.
        grant = gate.issue(media_stream_url(request, settings.public_base_url), None)
        call_sid = await outbound_calls.place(
            OutboundCallRequest(body.to, body.machine_policy, body.message, body.parameters),
            grant.url,
            base,
        )
        gate.bind(grant, call_sid)
        return JSONResponse({"call_sid": call_sid}, status_code=201)

    @app.websocket(MEDIA_STREAM_PATH)
    async def media_stream_without_token(websocket: WebSocket) -> None:
        gate.refuse(StreamRefusal.NO_GRANT, "no stream token in the URL")
        await websocket.close(code=POLICY_VIOLATION)  # before accept(): HTTP 403

    @app.websocket(MEDIA_STREAM_PATH + "/{token}")
    async def media_stream(websocket: WebSocket, token: str) -> None:
        grant = gate.open(token, websocket.headers.get("X-Twilio-Signature"))
        if isinstance(grant, StreamRefusal):
            await websocket.close(code=POLICY_VIOLATION)  # before accept(): HTTP 403
            return
        call_sid_var.set(grant.call_sid)
        await websocket.accept()
        # No call slot until the stream says which call it is: idle sockets hold none.
        opening = await receive_start(websocket, settings.stream_start_timeout_s)
        if opening is None:
            gate.refuse(StreamRefusal.NO_START, f"within {settings.stream_start_timeout_s} s")
            await close_websocket(websocket, POLICY_VIOLATION, "no start")
            return
        if gate.check_start(grant, opening.start.call_sid) is not None:
            await close_websocket(websocket, POLICY_VIOLATION, "wrong call")
            return
        if not admission.try_admit():
            metrics.calls_refused.labels("stream").inc()
            log.warning("media stream refused: %d calls active", admission.active)
            await close_websocket(websocket, 1013, "at capacity, try again later")
            return

        async def close_transport() -> None:
            await close_websocket(websocket)

        session = MediaStreamSession(
            handler_factory,
            session_options,
            websocket.send_text,
            close_transport,
            metrics,
            clock,
            call_control,
        )
        try:
            reason = await pump_websocket(websocket, session, opening.messages)
            refused = reason is StopReason.REFUSED
            await close_websocket(websocket, POLICY_VIOLATION if refused else 1000)
        finally:
            admission.release()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> Response:
        readiness = await check_triton(
            settings.triton_url, settings.required_models, settings.readiness_timeout_s
        )
        ready = readiness.ready and warm()
        body = {
            "ready": ready,
            "warm": warm(),
            "triton": settings.triton_url,
            "server_ready": readiness.server_ready,
            "models": readiness.models,
            "error": readiness.error,
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def bearer_authorised(settings: Settings, request: Request) -> bool:
    """The request carries ``Authorization: Bearer <api_bearer_token>`` (never, when it is empty)."""
    expected = f"Bearer {settings.api_bearer_token}"
    given = request.headers.get("Authorization", "")
    return bool(settings.api_bearer_token) and secrets.compare_digest(given, expected)


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory``: settings from the environment / .env, logging set up, and
    every call conducted by the conversation engine."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    try:
        return conversation_app(settings)
    except (InsecureSettings, MemorySettingsError, MemoryStoreError) as error:
        raise SystemExit(f"refusing to start: {error}") from None


def conversation_app(settings: Settings, **kwargs: Any) -> FastAPI:
    """The orchestrator with the conversation engine as every call's handler."""
    services = ConversationServices(settings)
    app = create_app(
        settings,
        lambda: ConversationEngine(services),
        warm_up=services.warm_up,
        on_shutdown=services.aclose,
        **kwargs,
    )
    services.metrics.register_into(app.state.metrics.registry)
    app.state.conversation = services

    @app.delete("/callers/{number}/memory")
    async def forget_caller(number: str, request: Request) -> Response:
        """Erase everything memory keeps for the caller ``number`` (E.164, URL-encoded ``+``)."""
        if not bearer_authorised(settings, request):
            log.warning("rejected DELETE caller memory: bad or missing bearer token")
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        if services.memory is None:
            return JSONResponse({"error": "caller memory is off"}, status_code=404)
        try:
            erased = await services.memory.forget(number)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        log.info("caller memory erased on request: %d calls", erased)
        return JSONResponse({"erased_calls": erased})

    return app
