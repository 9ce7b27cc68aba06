"""A local webhook target for notification tests: records every POST, answers 500 to the first
``fail_first`` of them (so a test sees the retry)."""

from __future__ import annotations

import http.server
import json
import threading
from typing import Any


class Receiver(http.server.ThreadingHTTPServer):
    """A webhook target on a free loopback port; ``delivered(event)`` are the bodies it accepted."""

    def __init__(self, fail_first: int = 0) -> None:
        self.received: list[dict[str, Any]] = []
        self.fail_first = fail_first
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    failing = outer.fail_first > 0
                    outer.fail_first -= 1 if failing else 0
                    outer.received.append({"body": body, "failed": failing,
                                           "event_id": self.headers.get("X-Flightlog-Event-Id")})
                self.send_response(500 if failing else 200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"

    def delivered(self, event: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.received if not r["failed"] and r["body"].get("event", r["body"].get(
                "flightlog", {}).get("event")) == event]

    def attempts(self, event: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.received if r["body"].get("event", r["body"].get(
                "flightlog", {}).get("event")) == event]
