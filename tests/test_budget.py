"""Tests for budgets and alerts (flightlog.collector.audit.budgets): alerts at 80% and 100% reach a
local webhook exactly once per crossing (retried after a failure), and the SDK-facing
``GET /api/budget/remaining`` reports what is left."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import pytest

from conftest import RunningCollector, start_collector, wait_until
from flightlog.collector.audit.budgets import fraction, post_webhook
from test_retention import admin


class Hook:
    """A loopback webhook that fails its first request with 503, then accepts."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.attempts = 0
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                hook.attempts += 1
                if hook.attempts == 1:
                    self.send_response(503)
                    self.end_headers()
                    return
                hook.received.append(body)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    yield server
    server.close()


def _llm_call(collector: RunningCollector, tokens: int, *, user: str = "u-7", agent: str = "spender") -> None:
    now = time.time_ns()
    span = {"traceId": f"{now:032x}"[-32:], "spanId": f"{now:016x}"[-16:], "name": "chat", "kind": 3,
            "startTimeUnixNano": str(now), "endTimeUnixNano": str(now + 1000),
            "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                           {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
                           {"key": "gen_ai.agent.name", "value": {"stringValue": agent}},
                           {"key": "user.id", "value": {"stringValue": user}},
                           {"key": "gen_ai.usage.input_tokens", "value": {"intValue": str(tokens)}},
                           {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "0"}}]}
    body = {"resourceSpans": [{"resource": {}, "scopeSpans": [{"scope": {"name": "t"}, "spans": [span]}]}]}
    assert collector.post("/v1/traces", json.dumps(body).encode(), "application/json").status_code == 200
    collector.drain()


@pytest.mark.parametrize("budget, tokens, cost, expected", [
    ({"max_tokens": 100, "max_cost_usd": 0}, 80, 5.0, 0.8),
    ({"max_tokens": 0, "max_cost_usd": 2.0}, 10**6, 1.0, 0.5),
    ({"max_tokens": 100, "max_cost_usd": 1.0}, 50, 1.5, 1.5),
    ({"max_tokens": 0, "max_cost_usd": 0}, 50, 1.5, 0.0),
])
def test_fraction_takes_the_tighter_limit(budget: dict, tokens: int, cost: float, expected: float) -> None:
    assert fraction(budget, tokens, cost) == pytest.approx(expected)


def test_post_webhook_retries_after_a_503(hook: Hook) -> None:
    status, attempts = post_webhook(hook.url, {"x": 1})
    assert status == "delivered 200" and attempts == 2 and hook.received == [{"x": 1}]


def test_alerts_fire_once_per_threshold_crossing(tmp_path, hook: Hook) -> None:  # type: ignore[no-untyped-def]
    collector = start_collector(tmp_path / "c")
    try:
        admin(collector, "PUT", "/api/admin/budgets",
              {"scope": "user", "subject": "u-7", "max_tokens": 100, "webhook_url": hook.url})
        _llm_call(collector, 50)

        def alerts() -> list[dict]:
            return collector.get("/api/audit/budget-alerts", key=collector.admin_key).json()["alerts"]

        left = collector.get("/api/budget/remaining", key=collector.ingest_key, user="u-7").json()
        assert left["budgets"][0]["tokens_remaining"] == 50 and not left["exhausted"]

        _llm_call(collector, 35)  # 85%
        wait_until(lambda: len(hook.received) == 1, timeout=40, what="the 80% alert")
        assert hook.received[0]["threshold_pct"] == 80 and hook.received[0]["subject"] == "u-7"
        assert hook.attempts == 2  # the first delivery was refused with 503 and retried

        _llm_call(collector, 10)  # 95%: no new crossing
        _llm_call(collector, 20)  # 115%
        wait_until(lambda: len(hook.received) == 2, timeout=40, what="the 100% alert")
        assert hook.received[1]["threshold_pct"] == 100
        _llm_call(collector, 20)
        wait_until(lambda: all(a["webhook"].startswith("delivered") for a in alerts()) and len(alerts()) == 2,
                   timeout=20, what="both alerts recorded as delivered")
        assert admin(collector, "POST", "/api/admin/budgets/check") == {"alerts": []}  # nothing new to send
        assert len(hook.received) == 2
        left = collector.get("/api/budget/remaining", key=collector.ingest_key, user="u-7").json()
        assert left["exhausted"] and left["budgets"][0]["tokens_remaining"] == 0
        other = collector.get("/api/budget/remaining", key=collector.ingest_key, user="someone-else").json()
        assert other["budgets"] == [] and not other["exhausted"]
        changes = collector.get("/api/audit/governance", key=collector.admin_key).json()["changes"]
        assert [c["action"] for c in changes] == ["budget.set"]
    finally:
        collector.stop()


def test_budget_routes_need_an_admin_key(tmp_path) -> None:  # type: ignore[no-untyped-def]
    collector = start_collector(tmp_path / "c")
    try:
        resp = httpx.put(collector.url + "/api/admin/budgets", json={"scope": "project", "max_tokens": 1},
                         headers={"Authorization": f"Bearer {collector.read_key}"})
        assert resp.status_code == 403
        bad = httpx.put(collector.url + "/api/admin/budgets", json={"scope": "agent", "max_tokens": 1},
                        headers={"Authorization": f"Bearer {collector.admin_key}"})
        assert bad.status_code == 400
    finally:
        collector.stop()
