"""A local HTTP stand-in for Twilio's REST endpoint (api.twilio.com): it answers ``Calls.json``
(create) and ``Calls/<sid>.json`` (update) as Twilio does and records every request, so the real
``twilio`` client can be pointed at it (``CC_TWILIO_API_BASE_URL``). The only part of Twilio that
cannot exist here."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

ACCOUNT = "AC0123456789abcdef0123456789abcdef"


@dataclass
class FakeTwilioApi:
    """``requests``: (method, path, form fields, Authorization header), in order."""

    account: str = ACCOUNT
    url: str = ""
    requests: list[tuple[str, str, dict[str, list[str]], str]] = field(default_factory=list)
    next_sid: int = 0

    def call_updates(self, call_sid: str) -> list[dict[str, list[str]]]:
        """The forms of the updates of ``call_sid`` (a redirect's ``Twiml``, a ``Status``)."""
        path = f"/2010-04-01/Accounts/{self.account}/Calls/{call_sid}.json"
        return [form for _, request_path, form, _ in self.requests if request_path == path]


@contextlib.contextmanager
def twilio_rest_fake(account: str = ACCOUNT) -> Iterator[FakeTwilioApi]:
    fake = FakeTwilioApi(account)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            fake.requests.append(
                (self.command, self.path, parse_qs(body), self.headers.get("Authorization", ""))
            )
            prefix = f"/2010-04-01/Accounts/{fake.account}/Calls"
            if self.path == prefix + ".json":
                fake.next_sid += 1
                sid = f"CA{fake.next_sid:032d}"
                status = 201
            elif self.path.startswith(prefix + "/"):
                sid = self.path.removeprefix(prefix + "/").removesuffix(".json")
                status = 200
            else:
                self.send_error(404)
                return
            payload = json.dumps({"sid": sid, "account_sid": fake.account, "status": "queued"})
            data = payload.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
