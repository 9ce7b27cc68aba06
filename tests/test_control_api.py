"""The control loop's HTTP API against a real collector (docs/control.md): approvals from
proposal to a single use, permissions, expiry, pauses and their long-polled state, policies,
and webhooks delivered once per event (retried after a 500) — all on the audit record.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conftest import RunningCollector, start_collector, wait_until
from flightlog.policy import arguments_hash
from support.webhooks import Receiver


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    running = start_collector(tmp_path_factory.mktemp("control"))
    yield running
    running.stop()


def call(collector: RunningCollector, method: str, path: str, key: str, *, headers: dict[str, str] | None = None,
         **kwargs: Any) -> httpx.Response:
    return httpx.request(method, collector.url + path, headers={"Authorization": f"Bearer {key}", **(headers or {})},
                         timeout=60, **kwargs)


def new_key(collector: RunningCollector, role: str, name: str, permissions: list[str] | None = None) -> str:
    resp = call(collector, "POST", "/api/admin/keys", collector.admin_key,
                json={"role": role, "name": name, "permissions": permissions or []})
    assert resp.status_code == 200, resp.text
    return resp.json()["key"]


def propose(collector: RunningCollector, idem: str, arguments: Any, **extra: Any) -> httpx.Response:
    body = {"idempotency_key": idem, "action": "refund order 88123", "tool": "issue_refund",
            "arguments": arguments, "arguments_hash": arguments_hash(arguments), "tier": 3, "agent": "refund-bot",
            "agent_version": "2.3.0", "trace_id": "a1" * 16, "span_id": "b2" * 8, "timeout_s": 600, **extra}
    return call(collector, "POST", "/api/approvals", collector.ingest_key, json=body)


@pytest.fixture(scope="module")
def approver(collector: RunningCollector) -> str:
    return new_key(collector, "engineer", "Dana Reviewer", ["approve"])


def test_an_approval_is_decided_by_a_named_person_and_used_once_for_its_arguments(collector, approver) -> None:
    args = {"order_id": "88123", "amount": 4950}
    created = propose(collector, "idem-1", args)
    assert created.status_code == 201, created.text
    approval = created.json()
    assert approval["status"] == "pending" and approval["arguments"] == args
    again = propose(collector, "idem-1", args)
    assert again.status_code == 200 and again.json()["id"] == approval["id"], "a restarted agent gets the same one"
    pending = call(collector, "GET", "/api/approvals", collector.read_key, params={"status": "pending"}).json()
    assert approval["id"] in [a["id"] for a in pending["items"]]

    waited: dict[str, Any] = {}

    def wait() -> None:
        waited.update(call(collector, "GET", f"/api/approvals/{approval['id']}/wait", collector.ingest_key,
                           params={"timeout_s": 30}).json())

    waiter = threading.Thread(target=wait)
    waiter.start()
    decided = call(collector, "POST", f"/api/approvals/{approval['id']}/decide", approver,
                   json={"decision": "approve", "reason": "matches the order line", "arguments": {**args, "amount": 49.5}})
    assert decided.status_code == 200, decided.text
    waiter.join(30)
    assert waited["status"] == "approved" and waited["approver"] == "Dana Reviewer"
    assert waited["edited_arguments"] == {**args, "amount": 49.5}
    wrong = call(collector, "POST", f"/api/approvals/{approval['id']}/consume", collector.ingest_key,
                 json={"arguments_hash": arguments_hash(args)})
    assert wrong.status_code == 409 and "other arguments" in wrong.json()["error"]
    used = call(collector, "POST", f"/api/approvals/{approval['id']}/consume", collector.ingest_key,
                json={"arguments_hash": arguments_hash({**args, "amount": 49.5})})
    assert used.status_code == 200 and used.json()["consumed_at"]
    twice = call(collector, "POST", f"/api/approvals/{approval['id']}/consume", collector.ingest_key,
                 json={"arguments_hash": arguments_hash({**args, "amount": 49.5})})
    assert twice.status_code == 409 and "already used" in twice.json()["error"]
    redecide = call(collector, "POST", f"/api/approvals/{approval['id']}/decide", collector.admin_key,
                    json={"decision": "reject", "reason": "too late"})
    assert redecide.status_code == 409


@pytest.mark.parametrize("role,name,permissions", [("engineer", "Eve", []), ("auditor", "Aud", [])])
def test_keys_without_the_approve_permission_cannot_decide(collector, role, name, permissions) -> None:
    key = new_key(collector, role, name, permissions)
    approval = propose(collector, f"idem-perm-{role}", {"x": 1}).json()
    resp = call(collector, "POST", f"/api/approvals/{approval['id']}/decide", key,
                json={"decision": "approve", "reason": "sure"})
    assert resp.status_code == 403 and "approve permission" in resp.json()["error"]


def test_ingest_keys_cannot_decide_or_hold_permissions(collector) -> None:
    approval = propose(collector, "idem-ingest", {"x": 2}).json()
    resp = call(collector, "POST", f"/api/approvals/{approval['id']}/decide", collector.ingest_key,
                json={"decision": "approve", "reason": "myself"})
    assert resp.status_code == 403
    bad = call(collector, "POST", "/api/admin/keys", collector.admin_key,
               json={"role": "ingest", "name": "bot", "permissions": ["approve"]})
    assert bad.status_code == 400 and "never decide" in bad.json()["error"]
    anonymous = call(collector, "POST", "/api/admin/keys", collector.admin_key,
                     json={"role": "engineer", "permissions": ["approve"]})
    assert anonymous.status_code == 400 and "needs a name" in anonymous.json()["error"]


def test_an_undecided_approval_expires_to_its_timeout_outcome(collector) -> None:
    approval = propose(collector, "idem-expire", {"x": 3}, timeout_s=1).json()
    expired = wait_until(lambda: (a := call(collector, "GET", f"/api/approvals/{approval['id']}",
                                            collector.read_key).json())["status"] == "expired" and a,
                         timeout=30, what="the approval to expire")
    assert expired["on_timeout"] == "reject" and "no decision" in expired["reason"]
    used = call(collector, "POST", f"/api/approvals/{approval['id']}/consume", collector.ingest_key,
                json={"arguments_hash": arguments_hash({"x": 3})})
    assert used.status_code == 409


def test_a_tampered_arguments_hash_is_refused(collector) -> None:
    resp = propose(collector, "idem-hash", {"amount": 10}, arguments_hash="0" * 64)
    assert resp.status_code == 400 and "arguments_hash" in resp.json()["error"]


def test_other_projects_cannot_see_an_approval(collector) -> None:
    approval = propose(collector, "idem-project", {"x": 4}).json()
    other = call(collector, "POST", "/api/admin/keys", collector.admin_key,
                 json={"project": "elsewhere", "role": "engineer", "name": "Other"}).json()["key"]
    assert call(collector, "GET", f"/api/approvals/{approval['id']}", other).status_code == 404
    assert approval["id"] not in [a["id"] for a in call(collector, "GET", "/api/approvals", other).json()["items"]]


def test_pause_and_resume_change_the_control_state_and_wake_long_polls(collector) -> None:
    first = call(collector, "GET", "/api/control/state", collector.ingest_key)
    etag = first.headers["ETag"]
    assert call(collector, "GET", "/api/control/state", collector.ingest_key,
                headers={"If-None-Match": etag}).status_code == 304
    woke: dict[str, Any] = {}

    def poll() -> None:
        resp = httpx.get(collector.url + "/api/control/state", params={"wait_s": 25}, timeout=60,
                         headers={"Authorization": f"Bearer {collector.ingest_key}", "If-None-Match": etag})
        woke.update(status=resp.status_code, body=resp.json() if resp.status_code == 200 else None)

    poller = threading.Thread(target=poll)
    poller.start()
    paused = call(collector, "POST", "/api/control/pause", collector.admin_key,
                  json={"agent": "refund-bot", "agent_version": "2.3.0", "reason": "refunds 100x too large"})
    assert paused.status_code == 200 and paused.json()["scope"] == "agent refund-bot 2.3.0"
    poller.join(30)
    assert woke["status"] == 200
    assert [(p["agent"], p["agent_version"]) for p in woke["body"]["pauses"]] == [("refund-bot", "2.3.0")]
    assert call(collector, "POST", "/api/control/pause", collector.read_key,
                json={"agent": "x", "reason": "y"}).status_code == 403
    call(collector, "POST", "/api/control/resume", collector.admin_key,
         json={"agent": "refund-bot", "agent_version": "2.3.0", "reason": "fixed in 2.3.1"})
    assert call(collector, "GET", "/api/control/state", collector.ingest_key).json()["pauses"] == []


POLICY = {"agent": "refund-bot", "tools": {"allowed": ["lookup_order", "issue_refund"], "tiers": {"issue_refund": 2}},
          "escalations": [{"tool": "issue_refund", "when": "amount > 200", "tier": 3}],
          "limits": {"max_cost_usd": 1.0}}


def test_a_policy_is_versioned_served_and_validated(collector) -> None:
    one = call(collector, "PUT", "/api/policies", collector.admin_key, json=POLICY)
    assert one.status_code == 200, one.text
    two = call(collector, "PUT", "/api/policies", collector.admin_key, json={**POLICY, "on_unreachable": "closed"})
    assert two.json()["version"] == one.json()["version"] + 1
    served = call(collector, "GET", "/api/policies/refund-bot", collector.ingest_key).json()
    assert served["version"] == two.json()["version"] and served["policy"]["on_unreachable"] == "closed"
    history = call(collector, "GET", "/api/policies/refund-bot/history", collector.read_key).json()["policies"]
    assert [p["version"] for p in history][:2] == [two.json()["version"], one.json()["version"]]
    state = call(collector, "GET", "/api/control/state", collector.ingest_key).json()
    assert any(p["id"] == "refund-bot" for p in state["policies"])
    bad = call(collector, "PUT", "/api/policies", collector.admin_key,
               json={**POLICY, "escalations": [{"when": "amount >> 3", "tier": 3}]})
    assert bad.status_code == 400 and "escalations[0].when" in bad.json()["error"]


def test_the_control_state_lists_policies_in_agent_order_under_one_version(collector) -> None:
    """Agents long-poll on the state's version: a list whose order changed between reads would
    wake every agent of the project for nothing."""
    for agent in ("zeta-bot", "alpha-bot", "mid-bot", "beta-bot"):
        resp = call(collector, "PUT", "/api/policies", collector.admin_key, json={**POLICY, "agent": agent})
        assert resp.status_code == 200, resp.text
    reads = [call(collector, "GET", "/api/control/state", collector.ingest_key).json() for _ in range(5)]
    listed = [p["agent"] for p in reads[0]["policies"]]
    assert listed == sorted(listed) and {"alpha-bot", "beta-bot", "mid-bot", "zeta-bot"} <= set(listed)
    assert {r["version"] for r in reads} == {reads[0]["version"]}


def test_webhooks_get_each_event_once_retried_after_a_500(collector, approver) -> None:
    json_hook, slack_hook = Receiver(fail_first=1), Receiver()
    try:
        settings = call(collector, "PUT", "/api/admin/notifications", collector.admin_key, json={
            "targets": [{"url": json_hook.url}, {"url": slack_hook.url, "format": "slack",
                                                 "events": ["approval.requested", "approval.decided"]}],
            "ui_url": "http://127.0.0.1:8501"})
        assert settings.status_code == 200, settings.text
        approval = propose(collector, "idem-hooks", {"amount": 4950}).json()
        call(collector, "POST", f"/api/approvals/{approval['id']}/decide", approver,
             json={"decision": "reject", "reason": "4950 is not 49.50"})
        wait_until(lambda: len(json_hook.delivered("approval.decided")) == 1 and
                   len(json_hook.delivered("approval.requested")) == 1 and
                   len(slack_hook.delivered("approval.decided")) == 1, timeout=60, what="both webhooks")
        requested = json_hook.delivered("approval.requested")
        assert len(requested) == 1 and requested[0]["body"]["approval"]["id"] == approval["id"]
        assert any(r["failed"] for r in json_hook.received), "the first delivery failed and was retried"
        text = slack_hook.delivered("approval.decided")[0]["body"]["text"]
        assert "rejected by Dana Reviewer" in text and f"/approvals?id={approval['id']}" in text
        deliveries = call(collector, "GET", "/api/admin/notifications/deliveries", collector.admin_key).json()
        assert all(d["status"] == "delivered" for d in deliveries["deliveries"]
                   if d["event"] in ("approval.requested", "approval.decided"))
    finally:
        call(collector, "PUT", "/api/admin/notifications", collector.admin_key, json={"targets": []})
        json_hook.shutdown()
        slack_hook.shutdown()


def test_control_events_are_spans_of_the_trace_and_the_chain_verifies(collector, approver) -> None:
    approval = propose(collector, "idem-audit", {"amount": 12}, trace_id="c3" * 16).json()
    call(collector, "POST", f"/api/approvals/{approval['id']}/decide", approver,
         json={"decision": "approve", "reason": "fine"})
    trace = collector.wait_for_trace("c3" * 16, 2)
    events = {s["span_name"]: s for s in trace["spans"]}
    assert {"approval.requested", "approval.decided"} <= set(events)
    decided = events["approval.decided"]
    assert decided["approver"] == "Dana Reviewer" and decided["checkpoint_decision"] == "approved"
    assert decided["span_attributes"]["flightlog.approval.id"] == approval["id"]
    report = call(collector, "GET", "/api/audit/verify", collector.admin_key).json()
    assert report["ok"], report["summary"]
    log = call(collector, "GET", "/api/audit/governance", collector.admin_key).json()["changes"]
    assert any(c["action"] == "approval.decided" for c in log)


def _run_two_hours_ago(collector: RunningCollector, trace_id: str, checkpoint_id: str) -> None:
    """An agent run of 5 s, two hours ago, with a checkpoint span at its first second."""
    start = time.time_ns() - 2 * 3_600 * 10**9

    def span(span_id: str, parent: str, name: str, offset_s: int, length_s: int, kind: str) -> dict[str, Any]:
        return {"traceId": trace_id, "spanId": span_id, "parentSpanId": parent, "name": name,
                "startTimeUnixNano": str(start + offset_s * 10**9),
                "endTimeUnixNano": str(start + (offset_s + length_s) * 10**9),
                "attributes": [{"key": "flightlog.span.type", "value": {"stringValue": kind}},
                               {"key": "gen_ai.agent.name", "value": {"stringValue": "refund-bot"}}]}

    body = {"resourceSpans": [{"scopeSpans": [{"spans": [
        span("d1" * 8, "", "invoke_agent refund-bot", 0, 5, "agent"),
        span(checkpoint_id, "d1" * 8, "checkpoint issue_refund", 1, 0, "checkpoint")]}]}]}
    assert collector.post("/v1/traces", json.dumps(body).encode(), "application/json").status_code == 200


def test_a_decision_recorded_after_the_run_does_not_stretch_its_duration(collector, approver) -> None:
    """An approval decided two hours after its run ended joins the run's trace (who decided
    what), but the trace's duration in the trace view and the trace list stays the run's 5 s."""
    trace_id, checkpoint = "e4" * 16, "e5" * 8
    _run_two_hours_ago(collector, trace_id, checkpoint)
    collector.wait_for_trace(trace_id, 2)
    approval = propose(collector, "idem-late", {"amount": 40}, trace_id=trace_id, span_id=checkpoint).json()
    call(collector, "POST", f"/api/approvals/{approval['id']}/decide", approver,
         json={"decision": "reject", "reason": "too late"})
    trace = collector.wait_for_trace(trace_id, 4)
    late = [s for s in trace["spans"] if s["span_type"] == "control"]
    assert {s["span_name"] for s in late} == {"approval.requested", "approval.decided"}
    assert all(s["parent_span_id"] == checkpoint for s in late), "the events stay in the trace, under the checkpoint"
    assert trace["duration_ms"] == pytest.approx(5_000)
    listed = call(collector, "GET", "/api/traces", collector.read_key, params={"limit": 500}).json()["items"]
    row = next(r for r in listed if r["trace_id"] == trace_id)
    assert row["duration_ms"] == pytest.approx(5_000) and row["spans"] == 4
    longest = call(collector, "GET", "/api/traces", collector.read_key,
                   params={"sort": "duration", "limit": 500}).json()["items"]
    assert [r["duration_ms"] for r in longest] == sorted((r["duration_ms"] for r in longest), reverse=True)
    assert next(r for r in longest if r["trace_id"] == trace_id)["duration_ms"] == pytest.approx(5_000)
    # Events of an approval asked outside any trace make a trace of their own: their own extent.
    asked = time.time_ns()
    propose(collector, "idem-alone", {"amount": 41}, trace_id="", span_id="")

    def own_trace() -> list[dict[str, Any]]:
        rows = call(collector, "GET", "/api/traces", collector.read_key,
                    params={"limit": 50, "span_type": "control"}).json()["items"]
        return [r for r in rows if r["name"] == "approval.requested" and r["start_ns"] >= asked]

    own = wait_until(own_trace, timeout=30, what="the approval's own trace")
    assert [(r["spans"], r["duration_ms"]) for r in own] == [(1, 0)]


def test_the_trace_list_shows_runs_not_control_events_alone(collector) -> None:
    """A pause makes a trace of one control event: not a run, so the trace list leaves it out
    (total included) unless span type control is asked for; a run with a decision stays."""
    _run_two_hours_ago(collector, "f6" * 16, "f7" * 8)
    collector.wait_for_trace("f6" * 16, 2)
    approval = propose(collector, "idem-listed", {"amount": 42}, trace_id="f6" * 16, span_id="f7" * 8).json()
    collector.wait_for_trace("f6" * 16, 3)
    before = call(collector, "GET", "/api/traces", collector.read_key, params={"limit": 500}).json()
    paused_at = time.time_ns()
    # an approval asked for a trace none of whose spans arrived: its events are the trace's only spans
    propose(collector, "idem-no-run", {"amount": 43}, trace_id="f8" * 16, span_id="f9" * 8)
    assert call(collector, "POST", "/api/control/pause", collector.admin_key,
                json={"agent": "list-bot", "reason": "checking the list"}).status_code == 200

    def control_traces() -> dict[str, str] | None:
        rows = call(collector, "GET", "/api/traces", collector.read_key,
                    params={"limit": 500, "span_type": "control"}).json()["items"]
        found = {r["name"]: r["trace_id"] for r in rows
                 if r["start_ns"] >= paused_at and r["name"] in ("agent.paused", "approval.requested")}
        return found if len(found) == 2 else None

    pause_trace = wait_until(control_traces, timeout=30, what="the pause's and the approval's traces")["agent.paused"]
    for params in ({}, {"sort": "duration"}, {"agent": "list-bot"}, {"q": "checking"}):
        page = call(collector, "GET", "/api/traces", collector.read_key, params={"limit": 500, **params}).json()
        assert pause_trace not in {r["trace_id"] for r in page["items"]}, params
        assert all(r["name"] not in {"agent.paused", "approval.requested"} for r in page["items"]), params
    after = call(collector, "GET", "/api/traces", collector.read_key, params={"limit": 500}).json()
    assert after["total"] == len(after["items"]) >= before["total"]
    listed = {r["trace_id"] for r in after["items"]}
    assert "f6" * 16 in listed, f"a run with an approval ({approval['id']}) is listed"
    assert "f8" * 16 not in listed, "an approval asked for a trace no span of which arrived is control events alone"
    call(collector, "POST", "/api/control/resume", collector.admin_key, json={"agent": "list-bot", "reason": "done"})
