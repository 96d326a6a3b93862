"""Runs the calls the model writes during a call: each one's arguments checked against its schema, then
its handler (the business's webhook, or a built-in of the call), and the answer bounded for the prompt.

Nothing here raises for a call that goes wrong: an unknown tool, bad arguments, a timeout, an HTTP error
all come back as a :class:`~orchestrator.conversation.tool_specs.ToolResult` with ``ok=False`` and a
short reason, which the model reads and turns into a line for the caller, and the event log keeps.
A built-in does not act here: it says how the call should end (:class:`Ending`), and the engine
ends it so once the reply carrying it has played out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from orchestrator.conversation.tool_specs import ToolCall, ToolResult, bounded, validate_arguments
from orchestrator.conversation.turn_taking import Ending
from orchestrator.tools.catalog import Builtin, ToolCatalog, Webhook
from orchestrator.tools.webhook import ToolFailed, call_webhook

BUILTIN_ENDINGS = {"transfer_call": Ending.TRANSFER, "end_call": Ending.HANG_UP}
BUILTIN_ANSWERS = {
    "transfer_call": "The call is being transferred to a member of staff.",
    "end_call": "The call is ending.",
}
BUILTIN_TIMEOUT_S = 0.0  # a built-in answers at once


@dataclass(frozen=True)
class ToolOutcome:
    """A call's result, how long it took, and, for a built-in, how the call ends."""

    result: ToolResult
    latency_ms: float
    ending: Ending | None = None


class ToolRunner:
    """One per call: the persona's tools and the client their webhooks share."""

    def __init__(
        self, catalog: ToolCatalog, client: httpx.AsyncClient, call_sid: str, max_chars: int
    ) -> None:
        self.catalog = catalog
        self._client = client
        self._call_sid = call_sid
        self._max_chars = max_chars

    def cancel_on_interruption(self, name: str) -> bool:
        tool = self.catalog.get(name)
        return tool.cancel_on_interruption if tool is not None else True

    def timeout_s(self, name: str) -> float:
        """The longest a call to ``name`` can run (what waiting for it to finish may cost)."""
        tool = self.catalog.get(name)
        if tool is None or not isinstance(tool.handler, Webhook):
            return BUILTIN_TIMEOUT_S
        return tool.handler.timeout_s

    async def run(self, call: ToolCall) -> ToolOutcome:
        started = time.perf_counter()
        result, ending = await self._run(call)
        return ToolOutcome(result, 1000.0 * (time.perf_counter() - started), ending)

    async def _run(self, call: ToolCall) -> tuple[ToolResult, Ending | None]:
        tool = self.catalog.get(call.name)
        if tool is None:  # the parser knows the names; a catalog changed under it would land here
            return self._failed(call, f"there is no tool called {call.name}"), None
        problems = validate_arguments(tool.spec, call.arguments)
        if problems:
            return self._failed(call, "invalid arguments: " + "; ".join(problems)), None
        handler = tool.handler
        if isinstance(handler, Builtin):
            ok = ToolResult(call.call_id, call.name, BUILTIN_ANSWERS[handler.kind], True)
            return ok, BUILTIN_ENDINGS[handler.kind]
        try:
            answer = await call_webhook(
                self._client, handler, call.name, call.arguments, self._call_sid
            )
        except ToolFailed as exc:
            return self._failed(call, exc.reason), None
        return ToolResult(call.call_id, call.name, bounded(answer, self._max_chars), True), None

    def _failed(self, call: ToolCall, reason: str) -> ToolResult:
        return ToolResult(
            call.call_id, call.name, bounded(f"error: {reason}", self._max_chars), False
        )
