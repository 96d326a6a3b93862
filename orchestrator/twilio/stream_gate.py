"""The door of ``/twilio/media``: a stream gets in only with a handshake Twilio signed for a stream
URL we issued (:mod:`~orchestrator.twilio.stream_grants`), once, and a ``start`` for the call that
URL was issued to. Every refusal is one log line and one ``cc_streams_rejected{reason}`` count; a
refused stream never reaches a call handler, writes no recording and costs no model request."""

from __future__ import annotations

import logging
from collections.abc import Callable

from orchestrator.twilio.metrics import EdgeMetrics
from orchestrator.twilio.stream_grants import StreamGrant, StreamGrants, StreamRefusal
from orchestrator.twilio.webhooks import signature_is_valid

log = logging.getLogger(__name__)


class StreamGate:
    def __init__(
        self,
        auth_token: str,
        allow_unsigned: bool,
        grant_ttl_s: float,
        metrics: EdgeMetrics,
        clock: Callable[[], float],
    ) -> None:
        self._auth_token = auth_token
        self._allow_unsigned = allow_unsigned
        self._metrics = metrics
        self._grants = StreamGrants(grant_ttl_s, clock)

    def issue(self, stream_url: str, call_sid: str | None) -> StreamGrant:
        """The URL of one stream for ``call_sid``: put it in the call's ``<Connect><Stream>``."""
        return self._grants.issue(stream_url, call_sid)

    def bind(self, grant: StreamGrant, call_sid: str) -> None:
        """Name the call of a grant issued before Twilio gave the call its SID (outbound)."""
        self._grants.bind(grant.token, call_sid)

    def open(self, token: str, signature: str | None) -> StreamGrant | StreamRefusal:
        """Check a handshake to the grant's URL; a valid one spends the grant."""
        grant = self._grants.find(token)
        if isinstance(grant, StreamRefusal):
            return self.refuse(grant, f"stream URL token {token[:8]}...")
        if not self._allow_unsigned:
            if not signature:
                return self.refuse(StreamRefusal.UNSIGNED, f"for call {grant.call_sid}")
            if not _signed_for(self._auth_token, grant.url, signature):
                return self.refuse(StreamRefusal.BAD_SIGNATURE, f"for call {grant.call_sid}")
        self._grants.spend(grant)
        return grant

    def check_start(self, grant: StreamGrant, call_sid: str) -> StreamRefusal | None:
        """None when ``start`` names the call the grant was issued to."""
        if grant.call_sid is not None and call_sid == grant.call_sid:
            return None
        return self.refuse(
            StreamRefusal.WRONG_CALL, f"start for {call_sid!r} on a stream for {grant.call_sid}"
        )

    def refuse(self, reason: StreamRefusal, detail: str) -> StreamRefusal:
        self._metrics.streams_rejected.labels(reason.value).inc()
        log.warning("media stream refused (%s): %s", reason.value, detail[:200])
        return reason


def _signed_for(auth_token: str, stream_url: str, signature: str) -> bool:
    # Twilio signs the URL it was given (wss://...). Its docs do not spell out the scheme of a
    # signed WebSocket URL, so the https:// spelling of the same URL is accepted too.
    https = "https://" + stream_url.removeprefix("wss://")
    return any(signature_is_valid(auth_token, url, {}, signature) for url in (stream_url, https))
