"""A tool's HTTP webhook, against httpx's MockTransport: what it sends, and each way it fails."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from orchestrator.tools.catalog import Webhook
from orchestrator.tools.webhook import BODY_EXCERPT_CHARS, MAX_BODY_BYTES, ToolFailed, call_webhook

HOOK = Webhook("http://bookings.test/check_availability", timeout_s=0.5)
ARGS = {"date": "tomorrow", "time": "7 pm", "party_size": 4}
SID = "CA00000000000000000000000000000001"

Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


def client_for(handler: Handler, seen: list[httpx.Request] | None = None) -> httpx.AsyncClient:
    async def record(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return await handler(request)

    return httpx.AsyncClient(transport=httpx.MockTransport(record))


async def failure(handler: Handler, hook: Webhook = HOOK) -> str:
    async with client_for(handler) as client:
        with pytest.raises(ToolFailed) as caught:
            await call_webhook(client, hook, "check_availability", ARGS, SID)
    assert caught.value.reason == str(caught.value)
    return caught.value.reason


async def test_it_posts_the_call_as_json_and_returns_the_answer() -> None:
    answer = {"available": True, "alternatives": [], "note": "é"}

    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=answer)

    seen: list[httpx.Request] = []
    async with client_for(handler, seen) as client:
        result = await call_webhook(client, HOOK, "check_availability", ARGS, SID)
    assert result == answer
    [request] = seen
    assert request.method == "POST"
    assert str(request.url) == HOOK.url
    assert request.headers["content-type"] == "application/json"
    body = json.loads(request.content)
    assert body == {"tool": "check_availability", "arguments": ARGS, "call_sid": SID}


@pytest.mark.parametrize("answer", [[1, 2], "ok", 3, None, {}])
async def test_any_json_value_is_an_answer(answer: Any) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, content=json.dumps(answer).encode())

    async with client_for(handler) as client:
        assert await call_webhook(client, HOOK, "t", {}, SID) == answer


async def test_a_slow_webhook_times_out() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200, json={})

    started = asyncio.get_running_loop().time()
    reason = await failure(handler, Webhook(HOOK.url, timeout_s=0.2))
    assert reason == "timed out after 0.2 s"
    assert asyncio.get_running_loop().time() - started < 2


async def test_httpx_s_own_timeout_reads_the_same() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("read timed out", request=request)

    assert await failure(handler) == "timed out after 0.5 s"


async def test_a_connection_error() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    reason = await failure(handler)
    assert reason.startswith("connection failed: ConnectError")
    assert "Connection refused" in reason


async def test_a_real_refused_connection() -> None:
    hook = Webhook("http://127.0.0.1:1/check_availability", timeout_s=2.0)
    async with httpx.AsyncClient() as client:
        with pytest.raises(ToolFailed, match="connection failed"):
            await call_webhook(client, hook, "check_availability", ARGS, SID)


async def test_a_server_error_gives_its_status_and_a_bounded_excerpt() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, text="Internal\n  error: " + "x" * 5000)

    reason = await failure(handler)
    assert reason.startswith("HTTP 500: Internal error: xxx")
    assert len(reason) <= len("HTTP 500: ") + BODY_EXCERPT_CHARS + 1
    assert reason.endswith("…")


async def test_an_error_without_a_body() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404)

    assert await failure(handler) == "HTTP 404"


async def test_a_redirect_is_not_followed() -> None:
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "evil.test":
            return httpx.Response(200, json={"stolen": True})
        return httpx.Response(307, headers={"location": "http://evil.test/collect"})

    async with client_for(handler, seen) as client:
        with pytest.raises(ToolFailed) as caught:
            await call_webhook(client, HOOK, "check_availability", ARGS, SID)
    assert caught.value.reason == "HTTP 307 redirect (not followed)"
    assert [r.url.host for r in seen] == ["bookings.test"]


async def test_a_client_that_follows_redirects_still_does_not_here() -> None:
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "evil.test":
            return httpx.Response(200, json={})
        return httpx.Response(302, headers={"location": "http://evil.test/"})

    async def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return await handler(request)

    transport = httpx.MockTransport(record)
    async with httpx.AsyncClient(transport=transport, follow_redirects=True) as client:
        with pytest.raises(ToolFailed, match="HTTP 302"):
            await call_webhook(client, HOOK, "t", ARGS, SID)
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("content", "excerpt"),
    [(b"<html>Bad gateway</html>", "<html>Bad gateway</html>"), (b"", ""), (b"\xff\xfe{", "")],
)
async def test_a_non_json_answer(content: bytes, excerpt: str) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=content, headers={"content-type": "text/html"})

    reason = await failure(handler)
    assert reason.startswith("the answer is not JSON")
    assert excerpt in reason
    assert len(reason) < BODY_EXCERPT_CHARS + 50


async def test_an_oversized_answer_is_refused() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"[" + b"1," * MAX_BODY_BYTES + b"1]")

    assert "over" in await failure(handler)


async def test_cancelling_abandons_the_request() -> None:
    started = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        started.set()
        await asyncio.sleep(5)
        return httpx.Response(200, json={})

    async with client_for(handler) as client:
        task = asyncio.create_task(call_webhook(client, HOOK, "t", ARGS, SID))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
