"""Two collectors on one store (the ClickHouse HTTP harness: real chDB behind ClickHouse's HTTP
interface), both evaluating every second: each transition of a rule is decided by one of them,
recorded once and delivered once per webhook target (docs/decisions/0025-alert-transitions-decided-once.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conftest import RunningCollector, start_collector, wait_until
from flightlog.storage import open_store
from support.harness import Harness, start_harness
from support.spans import Run, traces_request
from support.webhooks import Receiver

FAST = {"FLIGHTLOG_ALERT_INTERVAL_S": "1"}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Harness, RunningCollector, RunningCollector]]:
    root = tmp_path_factory.mktemp("alerts-cluster")
    harness = start_harness(root / "server")
    first = second = None
    try:
        env = {**FAST, "FLIGHTLOG_DSN": harness.dsn("flightlog")}
        first = start_collector(root / "first", env=env)
        second = start_collector(root / "second", env=env, wait_for_keys=False)
        second.ingest_key, second.read_key, second.admin_key = first.ingest_key, first.read_key, first.admin_key
        yield harness, first, second
    finally:
        for running in (second, first):
            if running is not None:
                running.stop()
        harness.stop()


def call(collector: RunningCollector, method: str, path: str, key: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, collector.url + path, headers={"Authorization": f"Bearer {key}"}, timeout=60,
                         **kwargs)


def test_each_transition_is_decided_once_and_delivered_once_by_two_collectors(pair) -> None:
    harness, first, second = pair
    hook = Receiver()
    try:
        assert call(first, "PUT", "/api/admin/notifications", first.admin_key,
                    json={"targets": [{"url": hook.url}, {"url": hook.url + "/slack", "format": "slack"}]}
                    ).status_code == 200
        made = call(second, "POST", "/api/alerts/rules", first.admin_key, json={
            "name": "pair-bot errors", "metric": "error_rate", "scope": {"agent": "pair-bot"}, "window": "15m",
            "threshold": 0.5, "min_samples": 2})
        assert made.status_code == 200, made.text
        rule_id = made.json()["id"]

        def rule() -> dict[str, Any]:
            return call(first, "GET", f"/api/alerts/rules/{rule_id}", first.read_key).json()

        assert first.post("/v1/traces", traces_request([Run(agent="pair-bot", failed=True)] * 2),
                          "application/x-protobuf").status_code == 200
        first.drain()
        wait_until(lambda: rule()["state"] == "firing", timeout=60, what="the rule to fire")
        assert second.post("/v1/traces", traces_request([Run(agent="pair-bot")] * 8),
                           "application/x-protobuf").status_code == 200
        second.drain()
        wait_until(lambda: rule()["state"] == "ok", timeout=60, what="the rule to resolve")
        wait_until(lambda: len(hook.delivered("alert.resolved")) == 2, timeout=60, what="both targets told")
        since = rule()["since"]
        for _ in range(3):  # several more rounds of both collectors: nothing more is decided or sent
            at = rule()["last_evaluation"]["at"]
            wait_until(lambda at=at: rule()["last_evaluation"]["at"] > at, timeout=30, what="another evaluation")
        assert rule()["since"] == since and rule()["transitions"] == 2
        assert len(hook.delivered("alert.firing")) == 2 and len(hook.delivered("alert.resolved")) == 2
        assert len({r["event_id"] for r in hook.received}) == 2  # one id per transition, per target once
        store = open_store(harness.dsn("flightlog"), migrate=False)
        try:
            rows = store.query_rows("SELECT Seq, Kind, Actor FROM alert_events WHERE RuleId = {r:String}"
                                    " AND Seq > 0 ORDER BY Seq", {"r": rule_id})
            claims = store.query_rows("SELECT Seq, uniqExact(Claimant) FROM alert_claims WHERE RuleId = {r:String}"
                                      " GROUP BY Seq ORDER BY Seq", {"r": rule_id})
        finally:
            store.close()
        assert [(seq, kind) for seq, kind, _ in rows] == [(1, "firing"), (2, "resolved")], rows
        assert [seq for seq, _ in claims] == [1, 2]
        print("claimants per transition:", claims, "deciders:", [actor for _, _, actor in rows])
    finally:
        call(first, "PUT", "/api/admin/notifications", first.admin_key, json={"targets": []})
        hook.shutdown()
