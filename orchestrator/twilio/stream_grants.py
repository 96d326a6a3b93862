"""Which media streams we let in: only the ones we asked Twilio to open, each once.

Twilio signs a stream's WebSocket handshake like a webhook (``X-Twilio-Signature``: the stream URL,
no parameters). A signature over one fixed URL would be the same for every call, so a captured
handshake could be replayed at will; instead every ``<Connect><Stream>`` we answer with names a URL
of its own, ``/twilio/media/<token>``, minted for that call (a *grant*). The handshake must be signed
for exactly that URL and spends the grant; the stream's ``start`` must then carry the call SID the
grant was issued for. Pure bookkeeping: the app does the I/O and the signature check.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum


class StreamRefusal(Enum):
    """Why a stream was refused (the ``reason`` label of ``cc_streams_rejected``)."""

    NO_GRANT = "no_grant"  # a URL we never issued (or issued long ago)
    UNSIGNED = "unsigned"
    BAD_SIGNATURE = "bad_signature"  # a wrong token, or signed for another URL
    REPLAYED = "replayed"  # the grant was already spent by an earlier handshake
    NO_START = "no_start"  # no valid ``start`` in time
    WRONG_CALL = "wrong_call"  # ``start`` names a call the grant was not issued for


@dataclass
class StreamGrant:
    token: str
    url: str  # as we wrote it in the TwiML: what Twilio signs
    call_sid: str | None  # None until an outbound call's SID is known
    expires_at: float


class StreamGrants:
    """Grants issued and not yet spent (bounded, oldest dropped first), and spent ones remembered
    until they would have expired, so that a replay is told apart from a made-up URL."""

    def __init__(self, ttl_s: float, clock: Callable[[], float], max_grants: int = 10_000) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._max = max_grants
        self._open: OrderedDict[str, StreamGrant] = OrderedDict()
        self._spent: OrderedDict[str, float] = OrderedDict()  # token -> when to forget it

    def issue(self, stream_url: str, call_sid: str | None) -> StreamGrant:
        """A new grant for one stream to ``stream_url/<token>``."""
        self._expire()
        token = secrets.token_urlsafe(24)
        grant = StreamGrant(
            token, f"{stream_url.rstrip('/')}/{token}", call_sid, self._clock() + self._ttl_s
        )
        self._open[token] = grant
        while len(self._open) > self._max:
            self._open.popitem(last=False)
        return grant

    def bind(self, token: str, call_sid: str) -> None:
        """Name the call of a grant issued before its SID existed (an outbound call)."""
        grant = self._open.get(token)
        if grant is not None:
            grant.call_sid = call_sid

    def find(self, token: str) -> StreamGrant | StreamRefusal:
        """The open grant for ``token``, or why there is none."""
        self._expire()
        grant = self._open.get(token)
        if grant is not None:
            return grant
        return StreamRefusal.REPLAYED if token in self._spent else StreamRefusal.NO_GRANT

    def spend(self, grant: StreamGrant) -> None:
        """The grant's one handshake has come: no other may use it."""
        if self._open.pop(grant.token, None) is not None:
            self._spent[grant.token] = grant.expires_at
            while len(self._spent) > self._max:
                self._spent.popitem(last=False)

    def __len__(self) -> int:
        return len(self._open)

    def _expire(self) -> None:
        # One TTL for all: both dicts are in expiry order.
        now = self._clock()
        while self._open and next(iter(self._open.values())).expires_at <= now:
            self._open.popitem(last=False)
        while self._spent and next(iter(self._spent.values())) <= now:
            self._spent.popitem(last=False)
