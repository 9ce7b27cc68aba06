"""Alerts end to end (docs/alerts.md): rules created over HTTP, spans sent over OTLP to a real
collector evaluating every second, transitions recorded once and delivered once per target
(retried after a 500), silences that record but do not send, and bad rules refused with a 400
that names the problem."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
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
    hook, slack = Receiver(fail_first=1), Receiver()
    try:
        resp = call(live, "PUT", "/api/admin/notifications", live.admin_key, json={
            "targets": [{"url": hook.url}, {"url": slack.url, "format": "slack", "events": ["alert.firing"]}],
            "ui_url": "http://127.0.0.1:8501"})
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
        wait_until(lambda: slack.delivered("alert.firing"), timeout=60, what="the Slack-compatible message")
        text = slack.delivered("alert.firing")[0]["body"]["text"]
        assert text.startswith("[FIRING] regress-bot errors: error_rate 0.6667, above 0.5 over 15m for agent regress-bot")
        assert text.endswith("(3 samples) <http://127.0.0.1:8501/monitoring?range=15m&bucket=hour&agent=regress-bot"
                             "|open in Flightlog>")

        send(live, [Run(agent="regress-bot") for _ in range(7)])  # 2 failed of 10: 0.2
        wait_until(lambda: state(live, created["id"])["state"] == "ok", timeout=60, what="the rule to resolve")
        wait_until(lambda: hook.delivered("alert.resolved"), timeout=60, what="the resolved webhook")
        evaluated_after(live, created["id"], state(live, created["id"])["since"])
        evaluated_after(live, created["id"], state(live, created["id"])["last_evaluation"]["at"])

        assert len(hook.delivered("alert.firing")) == 1 and len(hook.delivered("alert.resolved")) == 1
        assert len(slack.attempts("alert.firing")) == 1 and slack.attempts("alert.resolved") == []  # its events only
        events = history(live, created["id"])
        assert [(e["kind"], e["seq"], e["samples"], e["notified"]) for e in events] == [
            ("resolved", 2, 10, True), ("firing", 1, 3, True)]
        assert events[0]["value"] == pytest.approx(0.2) and events[1]["value"] == pytest.approx(2 / 3)
        # the collector that decided it: its instance id (kept in its data directory)
        assert events[1]["actor"] == (live.data_dir / "instance-id").read_text().strip()
        assert events[1]["threshold"] == 0.5
        deliveries = call(live, "GET", "/api/admin/notifications/deliveries", live.admin_key).json()["deliveries"]
        alert_rows = [d for d in deliveries if d["event"].startswith("alert.")]
        assert sorted((d["event"], d["url"]) for d in alert_rows) == sorted([
            ("alert.firing", hook.url), ("alert.firing", slack.url), ("alert.resolved", hook.url)])
        assert all(d["status"] == "delivered" for d in alert_rows)
    finally:
        call(live, "PUT", "/api/admin/notifications", live.admin_key, json={"targets": []})
        hook.shutdown()
        slack.shutdown()


def test_a_silenced_rule_records_its_transitions_but_sends_nothing(live: RunningCollector) -> None:
    hook = Receiver()
    try:
        call(live, "PUT", "/api/admin/notifications", live.admin_key, json={"targets": [{"url": hook.url}]})
        created = rule(live, name="quiet-bot errors", metric="error_rate", scope={"agent": "quiet-bot"}, window="15m",
                       threshold=0.5, min_samples=2)
        resp = call(live, "POST", f"/api/alerts/rules/{created['id']}/silence", live.admin_key,
                    json={"for": "2h", "reason": "known: the orders API is being migrated"})
        assert resp.status_code == 200, resp.text
        silenced = resp.json()
        assert silenced["silenced"] and silenced["silence"]["by"] and "orders API" in silenced["silence"]["reason"]
        send(live, [Run(agent="quiet-bot", failed=True), Run(agent="quiet-bot", failed=True)])
        wait_until(lambda: state(live, created["id"])["state"] == "firing", timeout=60, what="the silenced rule to fire")
        firing = [e for e in history(live, created["id"]) if e["kind"] == "firing"]
        assert [(e["silenced"], e["notified"], e["samples"]) for e in firing] == [(True, False, 2)]
        evaluated_after(live, created["id"], state(live, created["id"])["since"])
        assert hook.attempts("alert.firing") == []

        resp = call(live, "POST", f"/api/alerts/rules/{created['id']}/unsilence", live.admin_key, json={})
        assert resp.status_code == 200 and not resp.json()["silenced"]
        send(live, [Run(agent="quiet-bot") for _ in range(8)])
        wait_until(lambda: hook.delivered("alert.resolved"), timeout=60, what="the resolution, sent once unsilenced")
        kinds = [e["kind"] for e in history(live, created["id"])]
        assert kinds == ["resolved", "unsilenced", "firing", "silenced"]
    finally:
        call(live, "PUT", "/api/admin/notifications", live.admin_key, json={"targets": []})
        hook.shutdown()


def test_drift_against_the_previous_window_and_a_baseline_version(live: RunningCollector) -> None:
    # previous 10 minutes: 1 failure in 5 runs (0.2); these 10 minutes: 3 in 5 (0.6): +200%
    send(live, [Run(agent="drift-bot", failed=i == 0, ago_s=900) for i in range(5)]
         + [Run(agent="drift-bot", failed=i < 3, ago_s=2) for i in range(5)])
    previous = rule(live, name="drift vs before", metric="error_rate", scope={"agent": "drift-bot"}, window="10m",
                    compare="previous_window", op="above", threshold=1.5, min_samples=5)
    # baseline 1.0.0 over 7 days: 1 in 4 failed (0.25); 2.0.0 now: 3 in 4 (0.75): +200%
    send(live, [Run(agent="base-bot", version="1.0.0", failed=i == 0, ago_s=3600) for i in range(4)]
         + [Run(agent="base-bot", version="2.0.0", failed=i < 3) for i in range(4)])
    baseline = rule(live, name="2.0.0 vs 1.0.0", metric="error_rate",
                    scope={"agent": "base-bot", "agent_version": "2.0.0"}, window="15m", compare="baseline",
                    baseline={"agent_version": "1.0.0"}, threshold=1.0, min_samples=4)
    not_enough = rule(live, name="needs more runs", metric="error_rate", scope={"agent": "base-bot"}, window="15m",
                      threshold=0.1, min_samples=50)
    for created, value, reference in ((previous, 0.6, 0.2), (baseline, 0.75, 0.25)):
        fired = wait_until(lambda c=created: state(live, c["id"])["state"] == "firing" and state(live, c["id"]),
                           timeout=60, what=f"{created['name']} to fire")
        assert fired["last_evaluation"]["value"] == pytest.approx(value)
        assert fired["last_evaluation"]["reference"] == pytest.approx(reference)
    evaluated_after(live, not_enough["id"], state(live, baseline["id"])["since"])
    held = state(live, not_enough["id"])
    assert held["state"] == "ok" and held["last_evaluation"]["breached"] is None
    assert held["last_evaluation"]["samples"] == 4


BAD_RULES = [
    ({"metric": "error_rate", "window": "15m", "threshold": 0.5}, "name"),
    ({"name": "x", "metric": "errors", "window": "15m", "threshold": 0.5}, "metric must be one of"),
    ({"name": "x", "metric": "error_rate", "window": "fortnight", "threshold": 0.5}, "window must be a duration"),
    ({"name": "x", "metric": "error_rate", "window": "10s", "threshold": 0.5}, "between 1m and 30d"),
    ({"name": "x", "metric": "error_rate", "window": "15m", "threshold": "high"}, "threshold must be a number"),
    ({"name": "x", "metric": "error_rate", "window": "15m", "threshold": 1, "op": "over"}, "op must be one of"),
    ({"name": "x", "metric": "error_rate", "window": "15m", "threshold": 1, "scope": {"team": "a"}}, "unknown key"),
    ({"name": "x", "metric": "tool_error_rate", "window": "15m", "threshold": 1, "scope": {"model": "m"}},
     "cannot be scoped by ['model']"),
    ({"name": "x", "metric": "error_rate", "window": "15m", "threshold": 1, "compare": "baseline"},
     "needs a baseline"),
    ({"name": "x", "metric": "error_rate", "window": "15m", "threshold": 1, "min_samples": 0}, "min_samples"),
    ({"name": "x", "metric": "error_rate", "window": "15m", "threshold": 1, "colour": "red"}, "unknown field"),
    ([1, 2], "JSON object"),
    ({"name": "x", "metric": "error_rate", "window": "15m", "threshold": 1, "evaluator": "fast"},
     "go(es) with metric mean_score only"),
    ({"name": "x", "metric": "mean_score", "window": "15m", "threshold": 1, "scope": {"model": "m"}},
     "cannot be scoped by ['model']"),
    ({"name": "x", "metric": "mean_score", "window": "15m", "threshold": 1, "evaluator": "fast",
      "score_source": "spreadsheet"}, "score_source must be one of"),
    ({"name": "x", "metric": "mean_score", "window": "15m", "threshold": 1, "score_source": "online"},
     "score_source goes with evaluator"),
]


@pytest.mark.parametrize(("body", "says"), BAD_RULES, ids=[s for _, s in BAD_RULES])
def test_a_bad_rule_is_refused_with_a_400_naming_the_problem(live: RunningCollector, body: Any, says: str) -> None:
    resp = call(live, "POST", "/api/alerts/rules", live.admin_key, json=body)
    assert resp.status_code == 400, resp.text
    assert says in resp.json()["error"]


def test_who_may_change_rules_and_silences(live: RunningCollector) -> None:
    body = {"name": "perm", "metric": "error_rate", "window": "15m", "threshold": 0.5}
    assert call(live, "POST", "/api/alerts/rules", live.read_key, json=body).status_code == 403
    assert call(live, "POST", "/api/alerts/rules", live.ingest_key, json=body).status_code == 403
    made = call(live, "POST", "/api/admin/keys", live.admin_key,
                json={"role": "engineer", "name": "Olu On-call", "permissions": ["alerts"]})
    assert made.status_code == 200, made.text
    oncall = made.json()["key"]
    unnamed = call(live, "POST", "/api/admin/keys", live.admin_key, json={"role": "engineer", "permissions": ["alerts"]})
    assert unnamed.status_code == 400 and "needs a name" in unnamed.json()["error"]
    created = call(live, "POST", "/api/alerts/rules", oncall, json=body)
    assert created.status_code == 200 and created.json()["changed_by"] == "Olu On-call"
    rule_id = created.json()["id"]
    silenced = call(live, "POST", f"/api/alerts/rules/{rule_id}/silence", oncall,
                    json={"until": "2999-01-01T00:00:00Z", "reason": "deploy"})
    assert silenced.status_code == 200 and silenced.json()["silence"]["by"] == "Olu On-call"
    assert call(live, "POST", f"/api/alerts/rules/{rule_id}/silence", oncall,
                json={"until": "2000-01-01T00:00:00Z", "reason": "past"}).status_code == 400
    assert call(live, "POST", f"/api/alerts/rules/{rule_id}/unsilence", live.read_key, json={}).status_code == 403
    assert call(live, "DELETE", f"/api/alerts/rules/{rule_id}", live.read_key).status_code == 403
    assert call(live, "DELETE", f"/api/alerts/rules/{rule_id}", oncall).status_code == 200
    assert call(live, "GET", f"/api/alerts/rules/{rule_id}", live.read_key).status_code == 404
    assert rule_id not in [r["id"] for r in call(live, "GET", "/api/alerts/rules", live.read_key).json()["rules"]]


def cli(collector: RunningCollector, *args: str, key: str) -> str:
    done = subprocess.run([sys.executable, "-m", "flightlog.collector.cli", "alerts", *args, "--url", collector.url,
                           "--key", key], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_cli_creates_lists_silences_and_deletes_rules_and_reads_the_history(live: RunningCollector) -> None:
    made = json.loads(cli(live, "create", "--name", "cli-bot latency", "--metric", "latency_p95_ms", "--agent",
                          "cli-bot", "--window", "1h", "--above", "2000", "--min-samples", "1", "--json",
                          key=live.admin_key))
    assert (made["metric"], made["scope"], made["threshold"], made["window"]) == (
        "latency_p95_ms", {"agent": "cli-bot"}, 2000.0, "1h")
    send(live, [Run(agent="cli-bot", duration_ms=5000)])
    wait_until(lambda: state(live, made["id"])["state"] == "firing", timeout=60, what="the CLI's rule to fire")
    listed = cli(live, "list", key=live.read_key).splitlines()
    mine = next(line for line in listed if line.startswith(made["id"]))
    assert mine.startswith(f"{made['id']}  FIRING") and "now 5000 (1 samples)" in mine
    states = [line.split()[1] for line in listed]
    assert states == sorted(states, key=lambda s: s != "FIRING"), "firing rules come first"
    assert "silenced until" in cli(live, "silence", made["id"], "--for", "1h", "--reason", "load test",
                                   key=live.admin_key)
    assert "FIRING (silenced)" in cli(live, "list", key=live.read_key)
    assert "no longer silenced (firing)" in cli(live, "unsilence", made["id"], key=live.admin_key)
    shown = json.loads(cli(live, "show", made["id"], key=live.read_key))
    assert shown["state"] == "firing" and shown["last_evaluation"]["value"] == 5000.0
    lines = cli(live, "history", "--rule", made["id"], key=live.read_key).splitlines()
    assert [line.split()[1] for line in lines] == ["unsilenced", "silenced", "firing"]
    assert "/monitoring?range=1h&bucket=hour&agent=cli-bot" in lines[2]
    assert "deleted" in cli(live, "delete", made["id"], key=live.admin_key)
    refused = subprocess.run([sys.executable, "-m", "flightlog.collector.cli", "alerts", "create", "--name", "x",
                              "--metric", "error_rate", "--window", "fortnight", "--above", "1", "--url", live.url,
                              "--key", live.admin_key], capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "HTTP 400" in refused.stderr and "window must be a duration" in refused.stderr


def test_the_demo_refund_amount_rule_fired_on_the_v7_rollout_and_resolved_after_the_rollback(
        tmp_path) -> None:
    from flightlog.collector import demo

    collector = start_collector(tmp_path / "demo")
    try:
        done = subprocess.run([sys.executable, "-m", "flightlog.collector.cli", "demo", "--url", collector.url,
                               "--key", collector.ingest_key, "--admin-key", collector.admin_key],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        rules = {r["name"]: r for r in call(collector, "GET", "/api/alerts/rules", collector.read_key).json()["rules"]}
        amount, errors = rules["refund-bot refund amount"], rules["refund-bot error rate"]
        events = history(collector, amount["id"])
        assert [e["kind"] for e in events] == ["resolved", "firing"]
        resolved, fired = events
        assert fired["value"] == 4950.0 and fired["samples"] >= 1 and not fired["notified"]
        assert "replayed by" in fired["reason"]
        incident = call(collector, "GET", f"/api/traces/{demo.INCIDENT_TRACE_ID}", collector.read_key).json()
        refund = next(s for s in incident["spans"] if s.get("tool_name") == "issue_refund")
        def ns(iso: str) -> int:
            return int(datetime.fromisoformat(iso).timestamp() * 1e9)

        assert ns(fired["window_start"]) <= refund["start_ns"] < ns(fired["window_end"])  # it holds the v7 refund
        assert resolved["at"] > fired["at"] and resolved["value"] < 1000
        assert amount["state"] == "ok" and errors["state"] == "ok"
        assert history(collector, errors["id"]) == []  # the incident was no error: the amount rule is what caught it
    finally:
        collector.stop()


def test_mean_score_of_an_online_evaluator_fires_for_the_version_that_scores_low(live: RunningCollector) -> None:
    """An online rule scores every arriving run (max_latency: at most 1 s); alert rules watch that
    evaluator's mean per agent version, and one narrowed to experiment scores has none to judge."""
    made = call(live, "POST", "/api/evaluation/rules", live.admin_key,
                json={"agent": "score-bot", "evaluator": "max_latency:1", "name": "fast_enough", "sample_rate": 1.0})
    assert made.status_code == 200, made.text
    common = {"metric": "mean_score", "evaluator": "fast_enough", "window": "15m", "op": "below", "threshold": 0.5,
              "min_samples": 3}
    slow = rule(live, name="score-bot 2.0 slow", scope={"agent": "score-bot", "agent_version": "2.0"}, **common)
    fast = rule(live, name="score-bot 1.0 slow", scope={"agent": "score-bot", "agent_version": "1.0"}, **common)
    offline = rule(live, name="score-bot 2.0 in experiments", scope={"agent_version": "2.0"},
                   score_source="experiment", **common)
    assert (slow["evaluator"], slow["score_source"], offline["score_source"]) == ("fast_enough", None, "experiment")
    send(live, [Run(agent="score-bot", version="2.0", duration_ms=3000) for _ in range(3)]
         + [Run(agent="score-bot", version="1.0", duration_ms=100) for _ in range(4)])
    fired = wait_until(lambda: state(live, slow["id"])["state"] == "firing" and state(live, slow["id"]), timeout=90,
                       what="the 2.0 rule to fire on its online scores")
    assert (fired["last_evaluation"]["value"], fired["last_evaluation"]["samples"]) == (0.0, 3)
    evaluated_after(live, fast["id"], fired["since"])
    evaluated_after(live, offline["id"], fired["since"])
    held = wait_until(lambda: (state(live, fast["id"])["last_evaluation"] or {}).get("samples") == 4
                      and state(live, fast["id"]),
                      timeout=60, what="the 1.0 runs' scores")
    assert held["state"] == "ok" and held["last_evaluation"]["value"] == 1.0
    none = state(live, offline["id"])
    assert none["state"] == "ok" and none["last_evaluation"]["samples"] == 0
    assert none["last_evaluation"]["breached"] is None
