"""Run a tool on the business's HTTP webhook.

The request is ``POST <hook.url>`` with JSON ``{"tool", "arguments", "call_sid"}``; the answer is
the response's JSON body, whatever it holds (it goes back to the model, bounded by its caller).
``hook.timeout_s`` bounds the whole exchange (connect, send, answer), not each phase. Redirects are
not followed: the URL is the one the tools file fixed, checked against the allowed hosts, and a
``3xx`` is a failure like any other non-``2xx``. A body over :data:`MAX_BODY_BYTES` is refused
unread. Every failure raises :class:`ToolFailed` with a short reason the agent can act on and the
logs can show.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import httpx

from orchestrator.tools.catalog import Webhook

BODY_EXCERPT_CHARS = 200
MAX_BODY_BYTES = 1 << 20


class ToolFailed(Exception):
    """The tool did not answer usefully; ``reason`` says why in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def call_webhook(
    client: httpx.AsyncClient,
    hook: Webhook,
    tool: str,
    arguments: Mapping[str, Any],
    call_sid: str,
) -> Any:
    """POST the call to ``hook`` and return its parsed JSON body; raises :class:`ToolFailed`.

    Safe to cancel (a caller barging in): the request is abandoned and its connection closed; the
    business may still have acted on it, which is why a tool with effects is declared
    ``cancel_on_interruption: false``.
    """
    payload = {"tool": tool, "arguments": dict(arguments), "call_sid": call_sid}
    try:
        async with asyncio.timeout(hook.timeout_s):
            status, body, text = await _post(client, hook, payload)
    except (TimeoutError, httpx.TimeoutException):
        raise ToolFailed(f"timed out after {hook.timeout_s:g} s") from None
    except httpx.RequestError as exc:  # connect, read, protocol, decoding: the request got nowhere
        detail = _short(str(exc))
        name = type(exc).__name__
        raise ToolFailed(
            f"connection failed: {name}: {detail}" if detail else f"connection failed: {name}"
        ) from None
    if not 200 <= status < 300:
        reason = f"HTTP {status}"
        if 300 <= status < 400:
            reason += " redirect (not followed)"
        excerpt = _short(text)
        raise ToolFailed(f"{reason}: {excerpt}" if excerpt else reason)
    try:
        return json.loads(body)
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        raise ToolFailed(f"the answer is not JSON: {_short(text)!r}") from None


async def _post(
    client: httpx.AsyncClient, hook: Webhook, payload: dict[str, Any]
) -> tuple[int, bytes, str]:
    """(status, body, body as text); the body is read up to :data:`MAX_BODY_BYTES`."""
    async with client.stream(
        "POST",
        hook.url,
        json=payload,
        timeout=httpx.Timeout(hook.timeout_s),
        follow_redirects=False,
    ) as response:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise ToolFailed(f"the answer is over {MAX_BODY_BYTES} bytes")
            chunks.append(chunk)
        body = b"".join(chunks)
        text = body.decode(response.encoding or "utf-8", errors="replace")
        return response.status_code, body, text


def _short(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= BODY_EXCERPT_CHARS:
        return text
    return text[:BODY_EXCERPT_CHARS] + "…"
