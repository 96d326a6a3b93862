"""The ``twilio`` REST client, optionally pointed at another base URL than api.twilio.com."""

from __future__ import annotations

from typing import Any

from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

TWILIO_API = "https://api.twilio.com"


class RebasedHttpClient(TwilioHttpClient):  # type: ignore[misc]
    """Sends requests for https://api.twilio.com to ``base_url`` instead (a proxy or a test fake)."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        super().__init__(timeout=timeout)
        self._base_url = base_url.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if url.startswith(TWILIO_API):
            url = self._base_url + url.removeprefix(TWILIO_API)
        return super().request(method, url, *args, **kwargs)


def build_twilio_client(account_sid: str, auth_token: str, api_base_url: str = "") -> Client:
    http_client = RebasedHttpClient(api_base_url) if api_base_url else TwilioHttpClient(timeout=10)
    return Client(account_sid, auth_token, http_client=http_client)
