"""Alerts end to end (docs/alerts.md): rules created over HTTP, spans sent over OTLP to a real
collector evaluating every second, transitions recorded once and delivered once per target
(retried after a 500), silences that record but do not send, and bad rules refused with a 400
that names the problem."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conftest import RunningCollector, start_collector, wait_until
from support.spans import Run, traces_request
from support.webhooks import Receiver


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    running = start_collector(tmp_path_factory.mktemp("alerts"), env={"FLIGHTLOG_ALERT_INTERVAL_S": "1"})
    yield running
    running.stop()


def call(collector: RunningCollector, method: str, path: str, key: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, collector.url + path, headers={"Authorization": f"Bearer {key}"}, timeout=60,
                         **kwargs)


def send(collector: RunningCollector, runs: list[Run]) -> None:
    resp = collector.post("/v1/traces", traces_request(runs), "application/x-protobuf")
    assert resp.status_code == 200, resp.text
    collector.drain()


def rule(collector: RunningCollector, **body: Any) -> dict[str, Any]:
    resp = call(collector, "POST", "/api/alerts/rules", collector.admin_key, json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def state(collector: RunningCollector, rule_id: str) -> dict[str, Any]:
    resp = call(collector, "GET", f"/api/alerts/rules/{rule_id}", collector.read_key)
    assert resp.status_code == 200, resp.text
    return resp.json()


def history(collector: RunningCollector, rule_id: str) -> list[dict[str, Any]]:
    resp = call(collector, "GET", "/api/alerts/history", collector.read_key, params={"rule_id": rule_id})
    assert resp.status_code == 200, resp.text
    return resp.json()["events"]


def evaluated_after(collector: RunningCollector, rule_id: str, at: str) -> None:
    """Wait for an evaluation that started after ``at`` (so a transition would have been made)."""
    wait_until(lambda: (state(collector, rule_id)["last_evaluation"] or {}).get("at", "") > at, timeout=30,
               what="a later evaluation")


def test_an_error_rate_regression_fires_once_resolves_once_and_is_delivered_once(live: RunningCollector) -> None:
    hook = Receiver(fail_first=1)
    try:
        resp = call(live, "PUT", "/api/admin/notifications", live.admin_key, json={
            "targets": [{"url": hook.url}], "ui_url": "http://127.0.0.1:8501"})
        assert resp.status_code == 200, resp.text
        created = rule(live, name="regress-bot errors", metric="error_rate", scope={"agent": "regress-bot"},
                       window="15m", op="above", threshold=0.5, min_samples=3)
        assert created["state"] == "ok" and created["transitions"] == 0
        send(live, [Run(agent="regress-bot", failed=True), Run(agent="regress-bot", failed=True),
                    Run(agent="regress-bot")])
        firing = wait_until(lambda: state(live, created["id"])["state"] == "firing" and state(live, created["id"]),
                            timeout=60, what="the rule to fire")
        assert firing["transitions"] == 1
        wait_until(lambda: hook.delivered("alert.firing"), timeout=60, what="the firing webhook (after a 500)")
        assert len(hook.attempts("alert.firing")) == 2, "the first delivery got a 500 and was retried"
        body = hook.delivered("alert.firing")[0]["body"]
        assert body["alert"]["value"] == pytest.approx(2 / 3) and body["alert"]["samples"] == 3
        assert body["alert"]["threshold"] == 0.5 and body["alert"]["scope"] == {"agent": "regress-bot"}
        assert body["link"] == "http://127.0.0.1:8501/monitoring?range=15m&bucket=hour&agent=regress-bot"

        send(live, [Run(agent="regress-bot") for _ in range(7)])  # 2 failed of 10: 0.2
        wait_until(lambda: state(live, created["id"])["state"] == "ok", timeout=60, what="the rule to resolve")
        wait_until(lambda: hook.delivered("alert.resolved"), timeout=60, what="the resolved webhook")
        evaluated_after(live, created["id"], state(live, created["id"])["since"])
        evaluated_after(live, created["id"], state(live, created["id"])["last_evaluation"]["at"])

        assert len(hook.delivered("alert.firing")) == 1 and len(hook.delivered("alert.resolved")) == 1
        events = history(live, created["id"])
        assert [(e["kind"], e["seq"], e["samples"], e["notified"]) for e in events] == [
            ("resolved", 2, 10, True), ("firing", 1, 3, True)]
        assert events[0]["value"] == pytest.approx(0.2) and events[1]["value"] == pytest.approx(2 / 3)
        assert events[1]["actor"].startswith("collector-") and events[1]["threshold"] == 0.5
        deliveries = call(live, "GET", "/api/admin/notifications/deliveries", live.admin_key).json()["deliveries"]
        alert_rows = [d for d in deliveries if d["event"].startswith("alert.")]
        assert sorted(d["event"] for d in alert_rows) == ["alert.firing", "alert.resolved"]
        assert all(d["status"] == "delivered" for d in alert_rows)
    finally:
        call(live, "PUT", "/api/admin/notifications", live.admin_key, json={"targets": []})
        hook.shutdown()
