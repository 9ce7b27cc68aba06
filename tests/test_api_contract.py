"""Typed API contracts: /openapi.json documents every answer, the answers are what it says.

(a) The live collector's schema has a 200 schema and documented error answers for every
    route of the app, ``ErrorBody`` for every JSON error, and no 422 (the app sends 400).
(b) Every GET route, called with each role's key against a collector holding the demo data
    (plus log records, span links, budgets, reviews, holds …), answers JSON that validates
    STRICTLY against the route's model (collector/api/models.py): exact types, no extra
    keys at any level. Roles that may not use a route get 403 with an ``ErrorBody``.
(c) schemathesis fuzzes every operation of the live schema over loopback with each role's
    key (ingest, engineer, auditor, admin) that may use it and checks: no 5xx, documented
    status codes and content types, and answers that match their response schema; and every
    operation with each key that may not, with fewer examples: a 4xx, never a 2xx.

``FLIGHTLOG_SCHEMATHESIS_EXAMPLES`` (default 25) sets the examples per operation and role;
``FLIGHTLOG_SCHEMATHESIS_PHASES`` (default ``fuzzing``; e.g. ``examples,coverage,fuzzing``)
the schemathesis phases; ``FLIGHTLOG_SCHEMATHESIS_SEED`` the seed;
``FLIGHTLOG_SCHEMATHESIS_COUNT_FILE`` a file that gets one line per case sent (role, method,
path), to count a run. For a long run by hand::

    FLIGHTLOG_SCHEMATHESIS_EXAMPLES=500 FLIGHTLOG_SCHEMATHESIS_PHASES=coverage,fuzzing \\
        python -m pytest tests/test_api_contract.py -k schemathesis
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import SimpleNamespace
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import APIRouter, FastAPI
from fastapi.responses import Response
from fastapi.routing import APIRoute, iter_route_contexts
from hypothesis import HealthCheck, settings
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from pydantic import BaseModel
from schemathesis import checks as st_checks

from conftest import RunningCollector, start_collector, wait_until
from flightlog import semconv as sc
from flightlog.collector import demo
from flightlog.collector.api import models
from flightlog.collector.app import create_app
from flightlog.collector.config import Settings
from flightlog.collector.contract import ContractRoute, ErrorBody, respond
from flightlog.policy import arguments_hash

EXAMPLES = int(os.environ.get("FLIGHTLOG_SCHEMATHESIS_EXAMPLES", "25"))
PHASES = frozenset(p.strip() for p in os.environ.get("FLIGHTLOG_SCHEMATHESIS_PHASES", "fuzzing").split(",") if p.strip())
SEED = int(os.environ.get("FLIGHTLOG_SCHEMATHESIS_SEED", "20261201"))
COUNT_FILE = os.environ.get("FLIGHTLOG_SCHEMATHESIS_COUNT_FILE", "")  # one line per case sent, when set

ROLES = ("ingest", "engineer", "auditor", "admin")
READ = frozenset({"engineer", "auditor", "admin"})
AUDIT = frozenset({"auditor", "admin"})
ADMIN = frozenset({"admin"})
ANY_KEY = frozenset(ROLES)
CONTROL_READ = READ | {"ingest"}  # agents read approvals, the control state and policies
NO_KEY = frozenset()  # health: no key needed, every role may call

LINKED_TRACE = "1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f"
LOGGED_TRACE = "2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e"
ODD_CHECKPOINT_TRACE = "3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d"
ODD_CHECKPOINT_TIME = datetime(2025, 2, 3, 4, 5, 6, tzinfo=timezone.utc)  # alone in its window, inside retention

ROUTES: dict[tuple[str, str], APIRoute] = {
    (method, context.path): context.original_route
    for context in iter_route_contexts(create_app(Settings(data_dir="/nonexistent-flightlog-contract")).routes)
    if isinstance(context.original_route, APIRoute) and context.path for method in context.original_route.methods
}


# -- the collector under test ------------------------------------------------------------------------
@dataclass
class Stack:
    collector: RunningCollector
    keys: dict[str, str]
    incident_spans: list[dict[str, Any]]
    linked_span_id: str
    pending_approval: str = ""
    alert_rule: str = ""
    experiments: list[str] = field(default_factory=list)
    written: list[tuple[str, str, httpx.Response]] = field(default_factory=list)

    def call(self, method: str, path: str, role: str | None = "admin", **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[role]}"} if role else {}
        return httpx.request(method, self.collector.url + path, headers=headers, timeout=120, **kwargs)

    def write(self, method: str, path: str, status: int = 200, **kwargs: Any) -> httpx.Response:
        """An admin (or review) change made while seeding: its answer is checked too."""
        resp = self.call(method, path, **kwargs)
        assert resp.status_code == status, f"{method} {path} → {resp.status_code}: {resp.text[:500]}"
        self.written.append((method, path, resp))
        return resp


def _kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def _traces(service: str, *spans: Span) -> bytes:
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource=Resource(attributes=[_kv("service.name", service)]),
        scope_spans=[ScopeSpans(spans=list(spans))])]).SerializeToString()


def _send_odd_spans(collector: RunningCollector, upstream: dict[str, Any]) -> str:
    """Spans the demo lacks: a link to another trace, log records, a checkpoint with no wait time."""
    now = time.time_ns() - 3_600 * 10**9
    root, linked = bytes.fromhex("a1" * 8), bytes.fromhex("a2" * 8)
    link = Span.Link(trace_id=bytes.fromhex(upstream["trace_id"]), span_id=bytes.fromhex(upstream["span_id"]),
                     attributes=[_kv("flightlog.link.kind", "handoff")])
    body = _traces(
        "downstream-bot",
        Span(trace_id=bytes.fromhex(LINKED_TRACE), span_id=root, name="invoke_agent downstream-bot",
             start_time_unix_nano=now, end_time_unix_nano=now + 5 * 10**9,
             attributes=[_kv(sc.OPERATION, "invoke_agent"), _kv(sc.AGENT_NAME, "downstream-bot")],
             links=[link]),
        Span(trace_id=bytes.fromhex(LINKED_TRACE), span_id=linked, parent_span_id=root, name="execute_tool lookup",
             start_time_unix_nano=now + 2 * 10**9, end_time_unix_nano=now + 3 * 10**9,
             attributes=[_kv(sc.OPERATION, "execute_tool"), _kv(sc.TOOL_NAME, "lookup"),
                         _kv("gen_ai.tool.call.arguments", '{"order": 1}')],
             events=[Span.Event(time_unix_nano=now + 2 * 10**9 + 5, name="retry", attributes=[_kv("attempt", 2)])],
             links=[link]),
    )
    assert collector.post("/v1/traces", body, "application/x-protobuf").status_code == 200
    llm = bytes.fromhex("b1" * 8)
    # Made a second ago: the only token usage of today (the UTC day the budget check reads),
    # whatever the hour the suite runs at; every demo run is at least two hours old.
    just_now = time.time_ns() - 10**9
    body = _traces("logged-bot", Span(
        trace_id=bytes.fromhex(LOGGED_TRACE), span_id=llm, name="chat gpt-4o-mini", start_time_unix_nano=just_now,
        end_time_unix_nano=just_now + 10**9, attributes=[_kv(sc.OPERATION, "chat"), _kv(sc.REQUEST_MODEL, "gpt-4o-mini"),
                                                    _kv(sc.INPUT_TOKENS, 12)]))
    assert collector.post("/v1/traces", body, "application/x-protobuf").status_code == 200
    logs = ExportLogsServiceRequest(resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=[
        LogRecord(time_unix_nano=just_now + 1, trace_id=bytes.fromhex(LOGGED_TRACE), span_id=llm,
                  event_name="gen_ai.user.message", body=AnyValue(string_value="where is my parcel?"),
                  attributes=[_kv("gen_ai.system", "openai")]),
        LogRecord(time_unix_nano=just_now + 2, trace_id=bytes.fromhex(LOGGED_TRACE), span_id=llm,
                  event_name="gen_ai.choice", attributes=[_kv("index", 0)]),
    ])])])
    resp = collector.post("/v1/logs", logs.SerializeToString(), "application/x-protobuf")
    assert resp.status_code == 200, resp.text
    at = int(ODD_CHECKPOINT_TIME.timestamp()) * 10**9
    body = _traces("risky-bot", Span(
        trace_id=bytes.fromhex(ODD_CHECKPOINT_TRACE), span_id=bytes.fromhex("c1" * 8), name="checkpoint wire",
        start_time_unix_nano=at, end_time_unix_nano=at + 10**6,
        attributes=[_kv(sc.CHECKPOINT_TIER, 3), _kv(sc.CHECKPOINT_DECISION, "autonomous"),
                    _kv(sc.CHECKPOINT_ACTION, "wire money")]))
    assert collector.post("/v1/traces", body, "application/x-protobuf").status_code == 200
    point = {"startTimeUnixNano": str(now), "timeUnixNano": str(now + 10**9), "count": "2", "sum": 30,
             "bucketCounts": ["1", "1"], "explicitBounds": [10],
             "attributes": [{"key": "gen_ai.token.type", "value": {"stringValue": "input"}},
                            {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}}]}
    metrics = {"resourceMetrics": [{"scopeMetrics": [{"metrics": [{
        "name": "gen_ai.client.token.usage", "unit": "{token}",
        "histogram": {"aggregationTemporality": 2, "dataPoints": [point]}}]}]}]}
    resp = collector.post("/v1/metrics", json.dumps(metrics).encode(), "application/json")
    assert resp.status_code == 200, resp.text
    return linked.hex()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_collector(tmp_path_factory.mktemp("contract"), env={"FLIGHTLOG_ALERT_INTERVAL_S": "2"})
    try:
        for request in demo.build_demo_requests():
            resp = running.post("/v1/traces", request.SerializeToString(), "application/x-protobuf")
            assert resp.status_code == 200, resp.text
        running.drain()
        keys = {"ingest": running.ingest_key, "engineer": running.read_key, "admin": running.admin_key}
        stack = Stack(running, keys, [], "")
        auditor = stack.write("POST", "/api/admin/keys", json={"role": "auditor", "name": "contract auditor"})
        keys["auditor"] = auditor.json()["key"]
        spare = stack.write("POST", "/api/admin/keys", json={"role": "engineer", "name": "revoked"}).json()
        stack.write("DELETE", f"/api/admin/keys/{spare['key_id']}")
        stack.incident_spans = stack.call("GET", f"/api/traces/{demo.INCIDENT_TRACE_ID}").json()["spans"]
        stack.linked_span_id = _send_odd_spans(running, stack.incident_spans[-1])
        running.drain()
        # Budgets (alerts: the project budget is exceeded; no webhook leaves the machine).
        stack.write("PUT", "/api/admin/budgets", json={"scope": "project", "max_tokens": 10})
        stack.write("PUT", "/api/admin/budgets", json={"scope": "agent", "subject": demo.INCIDENT_AGENT,
                                                       "max_cost_usd": 1000.0})
        stack.write("PUT", "/api/admin/budgets", json={"scope": "user", "subject": "nobody", "max_tokens": 5})
        stack.write("DELETE", "/api/admin/budgets/user", params={"subject": "nobody"})
        stack.write("POST", "/api/admin/budgets/check")
        # Reviews: sample every demo day, score two runs.
        stack.write("PUT", "/api/admin/reviews/settings", json={"agent": "", "rate": 0.5})
        stack.write("PUT", "/api/admin/reviews/settings", json={"agent": demo.INCIDENT_AGENT, "rate": 1.0})
        today = datetime.now(timezone.utc).date()
        for back in range(demo.DEMO_DAYS + 1):
            stack.write("POST", "/api/admin/reviews/sample", params={"day": (today - timedelta(days=back)).isoformat()})
        queue = stack.call("GET", "/api/audit/reviews/queue").json()["queue"]
        stack.write("POST", "/api/audit/reviews/scores", role="engineer",
                    json={"trace_id": queue[0]["trace_id"], "score": 7.5, "label": "good", "comment": "fine"})
        stack.write("POST", "/api/audit/reviews/scores",
                    json={"trace_id": queue[1]["trace_id"], "span_id": queue[1]["span_id"], "score": 2})
        # Retention (long: nothing is deleted) and legal holds, one released.
        stack.write("PUT", "/api/admin/retention", json={"days": 3650})
        stack.write("POST", "/api/admin/holds", json={"trace_ids": [demo.INCIDENT_TRACE_ID], "reason": "case 7"})
        whole = stack.write("POST", "/api/admin/holds", json={"reason": "audit"}).json()
        stack.write("POST", "/api/admin/retention/run")
        stack.write("DELETE", f"/api/admin/holds/{whole['hold_id']}")
        stack.write("POST", "/api/admin/retention/run")
        _seed_control(stack)
        _seed_evaluation(stack)
        yield stack
    finally:
        running.stop()


CONTROL_AGENT = "contract-refunds"


def _seed_control(stack: Stack) -> None:
    """Approvals in every state, a pause lifted and one in force, a policy in two versions, webhooks."""
    policy = {"agent": CONTROL_AGENT, "tools": {"allowed": ["lookup_order", "issue_refund"],
                                                "tiers": {"issue_refund": 2}},
              "escalations": [{"tool": "issue_refund", "when": "amount > 200", "tier": 3}],
              "limits": {"max_cost_usd": 1.0}}
    stack.write("PUT", "/api/policies", json=policy)
    stack.write("PUT", "/api/policies", json={**policy, "agent_version": "1.0.0", "on_unreachable": "closed"})
    stack.write("PUT", "/api/admin/notifications", json={"targets": [{"url": "http://127.0.0.1:9/hook"}],
                                                           "ui_url": "http://127.0.0.1:8501"})
    stack.keys["approver"] = stack.write("POST", "/api/admin/keys", json={
        "role": "engineer", "name": "Contract Approver", "permissions": ["approve"]}).json()["key"]
    made = []
    for n, tier in enumerate((3, 3, 2)):
        args = {"order_id": f"9{n}", "amount": 4950 + n}
        body = {"idempotency_key": f"contract-{n}", "action": f"refund order 9{n}", "tool": "issue_refund",
                "arguments": args, "arguments_hash": arguments_hash(args), "tier": tier, "agent": CONTROL_AGENT,
                "agent_version": "1.0.0", "trace_id": demo.INCIDENT_TRACE_ID, "confidence": 0.4,
                "decided_by": {"model": "gpt-4o", "prompt_id": "refunds", "prompt_version": "7"},
                "policy": {"id": CONTROL_AGENT, "version": 2}, "timeout_s": 3600}
        made.append((stack.write("POST", "/api/approvals", status=201, role="ingest", json=body).json(), args))
        if n == 0:
            stack.write("POST", "/api/approvals", role="ingest", json=body)  # the same idempotency key: 200
    (approved, args), (rejected, _), _ = made
    edited = {**args, "amount": 49.50}
    stack.write("POST", f"/api/approvals/{approved['id']}/decide", role="approver",
                json={"decision": "approve", "reason": "the order line says 49.50", "arguments": edited})
    stack.write("POST", f"/api/approvals/{approved['id']}/consume", role="ingest",
                json={"arguments_hash": arguments_hash(edited)})
    stack.write("POST", f"/api/approvals/{rejected['id']}/decide", json={"decision": "reject", "reason": "no"})
    stack.pending_approval = stack.write("POST", "/api/approvals", status=201, role="ingest", json={
        "idempotency_key": "contract-pending", "action": "close account", "tier": 3, "timeout_s": 3600}).json()["id"]
    stack.write("POST", "/api/control/pause", json={"agent": CONTROL_AGENT, "tool": "issue_refund", "reason": "r"})
    stack.write("POST", "/api/control/resume", json={"agent": CONTROL_AGENT, "tool": "issue_refund", "reason": "r"})
    stack.write("POST", "/api/control/pause", json={"agent": CONTROL_AGENT, "agent_version": "1.0.0",
                                                    "reason": "refunds 100x too large"})
    _seed_alerts(stack)


def _seed_alerts(stack: Stack) -> None:
    """Alert rules: one that fires on the demo's runs (a drift rule with a baseline), one silenced
    and unsilenced, one deleted; evaluated once through the running collector's loop."""
    firing = stack.write("POST", "/api/alerts/rules", json={
        "name": "any run at all", "metric": "tokens_per_run", "window": "1d", "op": "above", "threshold": 0,
        "min_samples": 1}).json()
    stack.write("POST", "/api/alerts/rules", json={
        "name": "refund-bot vs 2.2.0", "metric": "error_rate", "scope": {"agent": demo.INCIDENT_AGENT,
                                                                         "agent_version": "2.3.0"},
        "window": "1d", "compare": "baseline", "baseline": {"agent_version": "2.2.5"}, "baseline_window": "1d",
        "threshold": 0.5})
    quiet = stack.write("POST", "/api/alerts/rules", json={
        "name": "quiet", "metric": "mean_score", "window": "7d", "op": "below", "threshold": 3}).json()
    stack.write("POST", f"/api/alerts/rules/{quiet['id']}/silence", json={"for": "1h", "reason": "contract"})
    stack.write("POST", f"/api/alerts/rules/{quiet['id']}/unsilence", json={})
    stack.write("POST", f"/api/alerts/rules/{quiet['id']}/silence", json={"until": "2999-01-01T00:00:00Z",
                                                                          "reason": "contract"})
    stack.write("POST", "/api/alerts/rules", json={
        "name": "online amounts", "metric": "mean_score", "evaluator": "amount_format", "score_source": "online",
        "scope": {"agent": demo.INCIDENT_AGENT, "model": "gpt-4o"}, "window": "1d", "op": "below", "threshold": 0.9})
    gone = stack.write("POST", "/api/alerts/rules", json={
        "name": "gone", "metric": "cost_per_day", "window": "1d", "threshold": 100}).json()
    stack.write("DELETE", f"/api/alerts/rules/{gone['id']}")
    replayed = stack.write("POST", "/api/alerts/rules", json={
        "name": "refund amounts", "metric": "tool_argument_max", "tool": "issue_refund", "argument": "amount",
        "scope": {"agent": demo.INCIDENT_AGENT}, "window": "6h", "threshold": 1000, "min_samples": 1}).json()
    stack.write("POST", f"/api/alerts/rules/{replayed['id']}/replay", json={
        "start": (datetime.now(timezone.utc) - timedelta(days=demo.DEMO_DAYS)).isoformat(), "step": "3h"})
    stack.alert_rule = firing["id"]
    wait_until(lambda: stack.call("GET", f"/api/alerts/rules/{firing['id']}").json()["state"] == "firing",
               timeout=120, what="the contract's alert rule to fire")


EVAL_DATASET = "contract-refunds"
EVAL_WRITE = frozenset({"engineer", "admin"})


def _seed_evaluation(stack: Stack) -> None:
    """A dataset (items with and without expected output, one from the incident trace) and
    experiments: two finished (scores of every kind, an error) and one still running."""
    stack.write("POST", "/api/datasets", role="engineer", json={"name": EVAL_DATASET, "description": "d"})
    stack.write("POST", "/api/datasets", json={"name": "contract-empty"})
    added = stack.write("POST", f"/api/datasets/{EVAL_DATASET}/items", role="engineer", json={"items": [
        {"input": {"order_id": "A1", "price": 49.5}, "expected": {"amount": 49.5}, "metadata": {"case": "euro"}},
        {"input": "no expected output"}]}).json()
    stack.write("POST", f"/api/datasets/{EVAL_DATASET}/items/from-trace",
                json={"trace_id": demo.INCIDENT_TRACE_ID, "metadata": {"source": "incident"}})
    stack.write("POST", "/api/datasets", json={"name": "contract-from-spans"})
    stack.write("POST", "/api/datasets/contract-from-spans/items/from-spans", json={"spans": [
        {"trace_id": demo.INCIDENT_TRACE_ID, "span_id": s["span_id"]} for s in stack.incident_spans[:2]]})
    items = added["item_ids"]
    for n, (amount, finished) in enumerate(((49.5, True), (4950, True), (None, False))):
        made = stack.write("POST", "/api/experiments", role="engineer", json={
            "name": f"contract {n}", "dataset": EVAL_DATASET, "dataset_version": 2 if n < 2 else None,
            "task": "refund_bot:run", "metadata": {"prompt": f"v{6 + n}"}}).json()
        stack.experiments.append(made["id"])
        if not finished:
            continue
        stack.write("POST", f"/api/experiments/{made['id']}/results", role="engineer", json={"results": [
            {"item_id": items[0], "output": {"amount": amount}, "trace_id": demo.INCIDENT_TRACE_ID,
             "span_id": stack.incident_spans[0]["span_id"], "latency_ms": 12.5, "cost_usd": 0.001, "tokens": 50,
             "agent_name": demo.INCIDENT_AGENT, "agent_version": "2.3.0", "prompt_version": f"v{6 + n}",
             "model": "gpt-4o", "scores": [
                 {"name": "amount", "score": 1.0 if amount == 49.5 else 0.0, "label": "pass" if amount == 49.5 else "fail",
                  "explanation": "" if amount == 49.5 else "4950 is cents"},
                 {"name": "judge", "score": None, "label": "error", "explanation": "endpoint down"}]},
            {"item_id": items[1], "error": "RuntimeError: boom", "scores": [{"name": "amount", "score": 0.0,
                                                                              "label": "fail"}]}]})
        stack.write("POST", f"/api/experiments/{made['id']}/finish", json={})
    _seed_online(stack)


def _seed_online(stack: Stack) -> None:
    """Online rules (a cheap rule, a judge rule, one deleted), a judged run and an evaluation event."""
    judge = stack.write("POST", "/api/evaluation/rules", role="engineer", json={
        "agent": "contract-judged", "evaluator": 'judge:{"criteria": "polite", "base_url": "http://127.0.0.1:9/v1"}',
        "sample_rate": 1.0, "name": "politeness"}).json()
    stack.write("POST", "/api/evaluation/rules", json={"agent": "contract-judged", "evaluator": "regex:please",
                                                       "sample_rate": 1.0})
    gone = stack.write("POST", "/api/evaluation/rules", json={"agent": "x", "evaluator": "json_valid",
                                                              "sample_rate": 0.5}).json()
    stack.write("DELETE", f"/api/evaluation/rules/{gone['id']}")
    now = time.time_ns()
    run = Span(trace_id=bytes.fromhex("4c" * 16), span_id=bytes.fromhex("4d" * 8), name="invoke_agent contract-judged",
               start_time_unix_nano=now, end_time_unix_nano=now + 10**9,
               attributes=[_kv(sc.OPERATION, "invoke_agent"), _kv(sc.AGENT_NAME, "contract-judged"),
                           _kv(sc.AGENT_VERSION, "1.0"), _kv(sc.INPUT, "hi"), _kv(sc.OUTPUT, "please wait")],
               events=[Span.Event(time_unix_nano=now + 5, name=sc.EVENT_EVALUATION_RESULT, attributes=[
                   _kv(sc.EVALUATION_NAME, "relevance"), _kv(sc.EVALUATION_LABEL, "relevant"),
                   KeyValue(key=sc.EVALUATION_SCORE, value=AnyValue(double_value=0.75))])])
    assert stack.collector.post("/v1/traces", _traces("contract-judged", run), "application/x-protobuf").status_code == 200

    def pending() -> Any:
        items = stack.call("GET", "/api/evaluation/pending").json()["items"]
        return items if any(i["rule_id"] == judge["id"] for i in items) else None

    item = next(i for i in wait_until(pending, timeout=60, what="the judged run") if i["rule_id"] == judge["id"])
    stack.write("POST", "/api/evaluation/scores", role="engineer", json={"scores": [
        {"rule_id": judge["id"], "trace_id": item["trace_id"], "span_id": item["span_id"], "score": 1.0,
         "label": "pass", "explanation": "polite"}]})
    wait_until(lambda: len(stack.call("GET", "/api/evaluation/summary").json()["rows"]) >= 3, timeout=60,
               what="rule, judge and event scores")


# -- (a) the schema documents every route ---------------------------------------------------------------
@pytest.fixture(scope="module")
def openapi(stack: Stack) -> dict[str, Any]:
    resp = stack.call("GET", "/openapi.json", role=None)
    assert resp.status_code == 200
    return resp.json()


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return spec["components"]["schemas"][ref.rsplit("/", 1)[-1]] if ref else schema


def _closed_objects(spec: dict[str, Any], schema: dict[str, Any], seen: set[str]) -> Iterator[tuple[str, bool]]:
    """(title, closed) of every object schema reachable from ``schema``."""
    ref = schema.get("$ref")
    if ref:
        if ref in seen:
            return
        seen.add(ref)
    schema = _resolve(spec, schema)
    if "properties" in schema or schema.get("type") == "object" and "additionalProperties" not in schema:
        yield schema.get("title", "?"), schema.get("additionalProperties") is False
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from _closed_objects(spec, schema[key], seen)
    for sub in [*schema.get("properties", {}).values(), *schema.get("anyOf", []), *schema.get("oneOf", [])]:
        yield from _closed_objects(spec, sub, seen)


def test_openapi_documents_an_answer_and_errors_for_every_route(openapi: dict[str, Any]) -> None:
    problems = []
    for method, path in sorted(ROUTES):
        operation = openapi["paths"].get(path, {}).get(method.lower())
        if operation is None:
            problems.append(f"{method} {path}: not in /openapi.json")
            continue
        responses = operation["responses"]
        ok = responses.get("200", {}).get("content", {})
        if not ok or not all(body.get("schema") for body in ok.values()):
            problems.append(f"{method} {path}: no schema for 200")
        if "application/json" in ok:
            schema = ok["application/json"]["schema"]
            if "$ref" not in schema:
                problems.append(f"{method} {path}: the 200 JSON answer is not a named model: {schema}")
            open_ = sorted(title for title, closed in _closed_objects(openapi, schema, set()) if not closed)
            if open_ and path != "/api/audit/governance":  # a change's details are free-form by design
                problems.append(f"{method} {path}: objects without additionalProperties: false: {open_}")
        errors = {code: entry for code, entry in responses.items() if code[0] in "45"}
        if not errors and path != "/healthz":
            problems.append(f"{method} {path}: no error status documented")
        if path not in ("/healthz", "/readyz") and "401" not in errors:
            problems.append(f"{method} {path}: needs a key but 401 is not documented")
        for code, entry in errors.items():
            schema = entry.get("content", {}).get("application/json", {}).get("schema", {})
            expected = "Readiness" if path == "/readyz" else "ErrorBody"
            if schema.get("$ref") != f"#/components/schemas/{expected}":
                problems.append(f"{method} {path}: {code} does not answer {expected}: {entry}")
        if "422" in responses:
            problems.append(f"{method} {path}: documents 422, which the app never sends")
    assert not problems, "\n".join(problems)


def test_every_route_declares_a_closed_response_model() -> None:
    non_json = {("GET", "/metrics"), ("GET", "/api/audit/export"), ("GET", "/api/datasets/{name}/export")}
    missing = [f"{m} {p}" for (m, p), route in sorted(ROUTES.items())
               if (m, p) not in non_json and not (isinstance(route.response_model, type)
                                                  and issubclass(route.response_model, BaseModel)
                                                  and route.response_model.model_config.get("extra") == "forbid")]
    assert not missing, missing


# -- (b) every GET answer validates strictly ------------------------------------------------------------
def _incident(stack: Stack, span_type: str) -> str:
    return next(s["span_id"] for s in stack.incident_spans if s["span_type"] == span_type)


def _cases(stack: Stack) -> list[tuple[str, dict[str, Any], frozenset[str]]]:
    """(path, params, roles that may call it) for every GET route; several for the varied ones."""
    t = f"/api/traces/{demo.INCIDENT_TRACE_ID}"
    old = {"start": "2000-01-01T00:00:00Z", "end": "2000-01-02T00:00:00Z"}
    odd = {"start": (ODD_CHECKPOINT_TIME - timedelta(minutes=1)).isoformat(),
           "end": (ODD_CHECKPOINT_TIME + timedelta(minutes=1)).isoformat()}
    cases: list[tuple[str, dict[str, Any], frozenset[str]]] = [
        ("/healthz", {}, NO_KEY), ("/readyz", {}, NO_KEY), ("/metrics", {}, READ),
        (t, {}, READ), (f"/api/traces/{LINKED_TRACE}", {}, READ), (f"/api/traces/{LOGGED_TRACE}", {}, READ),
        ("/api/spans", {"limit": 500}, READ), ("/api/spans", {"q": demo.INCIDENT_SEARCH_WORD, "sort": "cost"}, READ),
        ("/api/spans", {"q": "zz-no-such-word-zz"}, READ),
        ("/api/traces", {}, READ), ("/api/traces", {"limit": 500, "sort": "duration", "order": "asc"}, READ),
        ("/api/traces", {"q": demo.INCIDENT_SEARCH_WORD, "status": "error", "sort": "cost"}, READ),
        ("/api/traces", {"agent": demo.INCIDENT_AGENT, "sort": "errors"}, READ), ("/api/traces", old, READ),
        ("/api/traces", {"q": "zz-no-such-word-zz"}, READ),
        ("/api/sessions", {}, READ), ("/api/sessions", old, READ), ("/api/sessions", {"limit": 500}, READ),
        ("/api/cost", {}, READ), ("/api/cost", {"group_by": []}, READ),
        ("/api/cost", {"group_by": ["model", "agent", "day", "project", "prompt_version", "agent_version",
                                    "prompt_id", "span_type"]}, READ),
        ("/api/cost", {"group_by": ["user", "prompt_version"]}, READ), ("/api/cost", old, READ),
        ("/api/facets", {}, READ),
        (f"{t}/traceback", {"span_id": _incident(stack, "llm"), "compare": 0}, READ),
        (f"{t}/traceback", {"span_id": stack.incident_spans[-1]["span_id"], "healthy_only": "false"}, READ),
        (f"/api/traces/{LINKED_TRACE}/traceback", {"span_id": stack.linked_span_id}, READ),
        ("/api/insights/monitoring", old, READ), ("/api/insights/cost_per_run", old, READ),
        ("/api/insights/top_traces", {"limit": 500}, READ), ("/api/insights/top_traces", old, READ),
        ("/api/audit/verify", {}, AUDIT), ("/api/audit/verify", old, AUDIT),
        ("/api/audit/access", {}, AUDIT), ("/api/audit/access", {"contains": "zz-none-zz"}, AUDIT),
        ("/api/audit/export", {"format": "csv", "trace_id": [demo.INCIDENT_TRACE_ID]}, AUDIT),
        ("/api/audit/export/manifest", {}, AUDIT), ("/api/audit/export/manifest", old, AUDIT),
        ("/api/audit/export/count", {"trace_id": f"{demo.INCIDENT_TRACE_ID},{LINKED_TRACE}"}, AUDIT),
        ("/api/audit/chain", {"seq": [1, 2, 3, 10**9]}, AUDIT), ("/api/audit/chain", {}, AUDIT),
        ("/api/audit/governance", {}, AUDIT),
        ("/api/audit/checkpoints", {"min_tier": 1}, READ), ("/api/audit/checkpoints", odd, READ),
        ("/api/audit/checkpoints", {"flagged_only": "true", "min_tier": 3}, READ),
        ("/api/audit/reviews/queue", {"pending_only": "false"}, READ), ("/api/audit/reviews/queue", {}, READ),
        ("/api/audit/reviews/scores", {}, READ), ("/api/audit/reviews/trend", {}, READ),
        ("/api/audit/reviews/trend", {"by": "prompt_version"}, READ),
        ("/api/audit/budget-alerts", {}, AUDIT),
        ("/api/admin/keys", {}, ADMIN), ("/api/admin/retention", {}, ADMIN),
        ("/api/admin/holds", {"include_released": "true"}, ADMIN), ("/api/admin/holds", {}, ADMIN),
        ("/api/admin/reviews/settings", {}, ADMIN), ("/api/admin/reviews/settings", {"project": "elsewhere"}, ADMIN),
        ("/api/admin/budgets", {}, ADMIN),
        ("/api/budget/remaining", {"agent": demo.INCIDENT_AGENT}, ANY_KEY), ("/api/budget/remaining", {}, ANY_KEY),
        ("/api/budgets", {}, READ),
        ("/api/approvals", {}, CONTROL_READ), ("/api/approvals", {"status": "pending", "agent": CONTROL_AGENT}, CONTROL_READ),
        ("/api/approvals", {"status": "approved"}, CONTROL_READ), ("/api/approvals", {"status": "notified"}, CONTROL_READ),
        (f"/api/approvals/{stack.pending_approval}", {}, CONTROL_READ),
        (f"/api/approvals/{stack.pending_approval}/wait", {"timeout_s": 0}, CONTROL_READ),
        ("/api/control/state", {}, CONTROL_READ), ("/api/policies", {}, CONTROL_READ),
        (f"/api/policies/{CONTROL_AGENT}", {}, CONTROL_READ),
        (f"/api/policies/{CONTROL_AGENT}", {"agent_version": "1.0.0"}, CONTROL_READ),
        (f"/api/policies/{CONTROL_AGENT}/history", {}, CONTROL_READ),
        ("/api/admin/notifications", {}, ADMIN), ("/api/admin/notifications/deliveries", {}, ADMIN),
        ("/api/alerts/rules", {}, READ), (f"/api/alerts/rules/{stack.alert_rule}", {}, READ),
        ("/api/alerts/history", {}, READ), ("/api/alerts/history", {"rule_id": stack.alert_rule, "limit": 5}, READ),
        ("/api/whoami", {}, ANY_KEY),
        ("/api/metrics", {}, READ), ("/api/metrics/series", {"name": "gen_ai.client.token.usage"}, READ),
        ("/api/datasets", {}, READ), (f"/api/datasets/{EVAL_DATASET}", {}, READ),
        ("/api/datasets/contract-empty", {}, READ), ("/api/datasets/contract-empty/items", {}, READ),
        (f"/api/datasets/{EVAL_DATASET}/items", {}, READ), (f"/api/datasets/{EVAL_DATASET}/items", {"version": 1}, READ),
        (f"/api/datasets/{EVAL_DATASET}/export", {"format": "csv"}, READ),
        (f"/api/datasets/{EVAL_DATASET}/export", {"version": 2}, READ),
        ("/api/experiments", {}, READ), ("/api/experiments", {"dataset": EVAL_DATASET, "status": "finished"}, READ),
        ("/api/experiments/compare", {"ids": ",".join(stack.experiments)}, READ),
        ("/api/experiments/compare", {"ids": stack.experiments[:2]}, READ),
        ("/api/experiments/grouped", {}, READ),
        ("/api/experiments/grouped", {"by": "prompt_version", "dataset": EVAL_DATASET, "agent": "x"}, READ),
        ("/api/evaluation/rules", {}, READ), ("/api/evaluation/pending", {}, EVAL_WRITE),
        ("/api/evaluation/summary", {}, READ), ("/api/evaluation/summary", {"by": "prompt_version"}, READ),
        ("/api/evaluation/summary", {"by": "model", "source": "ingest", **old}, READ),
        ("/api/metrics/series", {"name": "gen_ai.client.token.usage", "group_by": "token_type"}, READ),
    ]
    for experiment_id in stack.experiments:
        cases += [(f"/api/experiments/{experiment_id}", {}, READ), (f"/api/experiments/{experiment_id}/results", {}, READ)]
    for approval in stack.call("GET", "/api/approvals", params={"limit": 20}).json()["items"]:
        cases.append((f"/api/approvals/{approval['id']}", {}, CONTROL_READ))
    for session in stack.call("GET", "/api/sessions", params={"limit": 3}).json()["items"]:
        cases.append((f"/api/sessions/{session['session_id']}", {}, READ))
    for span_type in sorted({s["span_type"] for s in stack.incident_spans}):
        cases.append((f"{t}/traceback", {"span_id": _incident(stack, span_type)}, READ))
    for by in ("", "agent", "agent_version", "prompt_version", "prompt_id", "model"):
        cases.append(("/api/insights/monitoring", {"by": by, "bucket": "hour"}, READ))
    cases.append(("/api/insights/monitoring", {"agent": demo.INCIDENT_AGENT, "agent_version": "2.3.0"}, READ))
    cases.append(("/api/insights/monitoring", {"prompt_id": demo.INCIDENT_PROMPT_ID, "prompt_version": "v7",
                                               "model": "gpt-4o"}, READ))
    for by in ("", "agent", "agent_version", "day"):
        cases.append(("/api/insights/cost_per_run", {"by": by}, READ))
    return cases


def _template(path: str) -> str:
    """The route template a concrete path belongs to."""
    for method, template in ROUTES:
        parts, want = path.split("/"), template.split("/")
        if method == "GET" and len(parts) == len(want) and all(
                w.startswith("{") or w == p for p, w in zip(parts, want)):
            return template
    raise AssertionError(f"no GET route for {path}")


def _strict(model: type[BaseModel], resp: httpx.Response) -> None:
    assert resp.headers["content-type"].startswith("application/json"), resp.headers["content-type"]
    model.model_validate_json(resp.content, strict=True)


def test_the_cases_cover_every_get_route(stack: Stack) -> None:
    covered = {_template(path) for path, _, _ in _cases(stack)}
    assert covered == {p for m, p in ROUTES if m == "GET"}


def test_get_answers_match_their_models_strictly(stack: Stack) -> None:
    calls = [(path, params, allowed, role) for path, params, allowed in _cases(stack) for role in ROLES]
    with ThreadPoolExecutor(max_workers=4) as pool:  # the collector answers them concurrently
        answers = list(pool.map(lambda c: stack.call("GET", c[0], role=c[3], params=c[1]), calls))
    failures, checked, expected = [], 0, 0
    for (path, params, allowed, role), resp in zip(calls, answers, strict=True):
        model = ROUTES[("GET", _template(path))].response_model
        if model is not None and (not allowed or role in allowed):
            expected += 1
        try:
            if allowed and role not in allowed:
                assert resp.status_code == 403, f"{resp.status_code}: {resp.text[:300]}"
                _strict(ErrorBody, resp)
                continue
            assert resp.status_code == 200, f"{resp.status_code}: {resp.text[:300]}"
            if model is None:  # the Prometheus text and the export stream
                assert not resp.headers["content-type"].startswith("application/json")
            else:
                _strict(model, resp)
                checked += 1
        except Exception as exc:  # collect them all: one drift rarely comes alone
            failures.append(f"GET {path} {params} as {role}: {exc}"[:3000])
    assert not failures, "\n\n".join(failures)
    assert checked == expected > 100


def test_rows_that_differ_by_case_are_covered(stack: Stack) -> None:
    """The seeded store really holds the variants the models describe (else (b) proves less)."""
    logged = stack.call("GET", f"/api/traces/{LOGGED_TRACE}").json()["spans"]
    assert {e.get("source") for s in logged for e in s["events"]} == {"log"}
    linked = stack.call("GET", f"/api/traces/{LINKED_TRACE}").json()["spans"]
    assert all(s["links"] for s in linked) and any(e.get("timestamp") for s in linked for e in s["events"])
    back = stack.call("GET", f"/api/traces/{LINKED_TRACE}/traceback", params={"span_id": stack.linked_span_id}).json()
    assert back["links"] and back["upstream"]
    odd = stack.call("GET", "/api/audit/checkpoints", params={
        "start": (ODD_CHECKPOINT_TIME - timedelta(minutes=1)).isoformat(),
        "end": (ODD_CHECKPOINT_TIME + timedelta(minutes=1)).isoformat()}).json()
    assert [(t["tier"], t["wait_ms_p50"]) for t in odd["by_tier"]] == [(3, None)]
    assert [(c["wait_ms"], c["flagged"]) for c in odd["checkpoints"]] == [(None, True)]
    assert stack.call("GET", "/api/audit/budget-alerts").json()["alerts"]
    assert stack.call("GET", "/api/audit/reviews/scores").json()["scores"]
    assert any(h["released"] for h in stack.call("GET", "/api/admin/holds",
                                                  params={"include_released": "true"}).json()["holds"])


def test_write_answers_match_their_models_strictly(stack: Stack) -> None:
    assert len({(m, _write_template(m, p)) for m, p, _ in stack.written}) == len(
        {k for k in ROUTES if k[0] != "GET" and k[1].startswith("/api/")
         and not k[1].startswith("/api/public/otel/")})  # Langfuse's OTLP path answers OTLP, as /v1/traces
    for method, path, resp in stack.written:
        _strict(ROUTES[(method, _write_template(method, path))].response_model, resp)


def _write_template(method: str, path: str) -> str:
    for m, template in ROUTES:
        parts, want = path.split("/"), template.split("/")
        if m == method and len(parts) == len(want) and all(w.startswith("{") or w == p for p, w in zip(parts, want)):
            return template
    raise AssertionError(f"no {method} route for {path}")


def test_unknown_routes_methods_and_unparsable_bodies_answer_error_bodies(stack: Stack) -> None:
    for resp, status in (
        (stack.call("GET", "/api/no-such-route"), 404),
        (stack.call("PATCH", "/api/spans"), 405),
        (stack.call("DELETE", "/api/admin/keys/a%2Fb"), 404),
        (httpx.post(stack.collector.url + "/api/admin/keys", content=b"\xff\x00{", timeout=30,
                    headers={"Content-Type": "application/json", "Authorization": f"Bearer {stack.keys['admin']}"}), 400),
    ):
        assert resp.status_code == status, resp.text
        _strict(ErrorBody, resp)
        assert resp.json()["status"] == status


def test_strict_responses_turn_a_drifted_answer_into_a_500() -> None:
    """FLIGHTLOG_STRICT_RESPONSES (on for every collector the suite starts): an answer with a key
    its model lacks is refused, not sent; off (production), it is sent as built."""
    router = APIRouter(prefix="/drift", route_class=ContractRoute)

    @router.get("/health", response_model=models.Health)
    async def drifted() -> Response:
        return respond({"status": "ok", "added_in_storage": 1})

    app = FastAPI()
    app.include_router(router, prefix="/api")

    async def get(strict: int) -> httpx.Response:
        app.state.collector = SimpleNamespace(settings=SimpleNamespace(strict_responses=strict))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as client:
            return await client.get("/api/drift/health")

    strict, lenient = asyncio.run(get(1)), asyncio.run(get(0))
    assert strict.status_code == 500 and "added_in_storage" in strict.json()["error"]
    _strict(ErrorBody, strict)
    assert lenient.status_code == 200 and lenient.json() == {"status": "ok", "added_in_storage": 1}


# -- (c) schemathesis over the live schema --------------------------------------------------------------
@pytest.fixture(scope="module")
def live_schema(stack: Stack) -> Any:
    config = schemathesis.Config.from_dict({
        "seed": SEED,
        "cache": {"enabled": False},
        "phases": {name: {"enabled": name in PHASES} for name in ("examples", "coverage", "fuzzing", "stateful")},
        "generation": {"mode": "all", "database": "none"},
    })
    return schemathesis.openapi.from_url(stack.collector.url + "/openapi.json", config=config)


schema = schemathesis.pytest.from_fixture("live_schema")
CHECKS = [st_checks.not_a_server_error, st_checks.status_code_conformance, st_checks.content_type_conformance,
          st_checks.response_schema_conformance]


_ROLE_DEPENDENCY = "key_with_role_"  # collector/api/deps.py names each role dependency key_with_role_<a>_or_<b>

# Fewer examples where the key is refused first: a forbidden key must never get a 2xx, whatever
# the input (a malformed body may be named first: FastAPI parses it before the key is checked).
FORBIDDEN_EXAMPLES = max(1, EXAMPLES // 8)


def _route_roles(route: APIRoute) -> frozenset[str]:
    """The roles a route's key dependency admits; every role where the handler checks the key
    itself (``/metrics``, OTLP ingest) or needs none (health)."""
    admitted, pending = set(ROLES), [route.dependant]
    while pending:
        dependant = pending.pop()
        for sub in dependant.dependencies:
            name = getattr(sub.call, "__name__", "")
            if name.startswith(_ROLE_DEPENDENCY):
                admitted &= set(name[len(_ROLE_DEPENDENCY):].split("_or_"))
            pending.append(sub)
    return frozenset(admitted)


def _may(role: str, operation: Any) -> bool:
    route = ROUTES.get((operation.method.upper(), operation.path))
    return route is None or role in _route_roles(route)


def test_the_role_table_the_fuzzing_splits_by_is_the_routes_own() -> None:
    """The split below reads each route's key dependency: a sample of routes the suite knows."""
    assert _route_roles(ROUTES[("GET", "/api/spans")]) == READ
    assert _route_roles(ROUTES[("GET", "/api/audit/verify")]) == AUDIT
    assert _route_roles(ROUTES[("GET", "/api/admin/keys")]) == ADMIN
    assert _route_roles(ROUTES[("POST", "/v1/traces")]) == ANY_KEY
    assert sum(len(_route_roles(r)) < len(ROLES) for r in ROUTES.values()) > len(ROUTES) // 2
    assert HEAVY <= set(ROUTES)


# Operations that read or rewrite the whole store on every call (the chain's verification, a
# retention pass): each role that may use them sends fewer examples, ~80 s less per suite run.
HEAVY = frozenset({("GET", "/api/audit/verify"), ("POST", "/api/admin/retention/run")})
HEAVY_EXAMPLES = max(1, EXAMPLES // 5)


def _heavy(operation: Any) -> bool:
    return (operation.method.upper(), operation.path) in HEAVY


def _send(case: Any, stack: Stack, role: str) -> Any:
    """The case with the role's key, checked; its answer."""
    if isinstance(case.body, dict) and "webhook_url" in case.body:
        case.body["webhook_url"] = ""  # budget alerts are posted to it: nothing may leave the machine
    resp = case.call_and_validate(headers={"Authorization": f"Bearer {stack.keys[role]}"}, checks=CHECKS, timeout=120)
    if COUNT_FILE:  # docs/reliability.md: how many cases a long run sent per role
        with open(COUNT_FILE, "a") as counted:
            counted.write(f"{role} {case.method} {case.path}\n")
    return resp


def _schemathesis_as(role: str, only: Callable[[Any], bool] = lambda operation: True,
                     what: str = "every operation") -> Any:
    @schema.include(func=lambda ctx: _may(role, ctx.operation) and only(ctx.operation)
                    and not _heavy(ctx.operation)).parametrize()
    @pytest.mark.timeout(300 + 20 * EXAMPLES)  # every operation of the schema in one test item
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    def run(case: Any, stack: Stack) -> None:
        _send(case, stack, role)

    run.__doc__ = f"schemathesis: {what} the {role} key may use (no 5xx, documented statuses and answers)"
    return run


@schema.include(func=lambda ctx: _heavy(ctx.operation)).parametrize()
@pytest.mark.timeout(300 + 20 * EXAMPLES)
@settings(max_examples=HEAVY_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_schemathesis_heavy_operations_with_every_key_that_may_use_them(case: Any, stack: Stack) -> None:
    """schemathesis: the whole-store operations (HEAVY) with each key that may use them."""
    assert [role for role in ROLES if _may(role, case.operation)]
    for role in ROLES:
        if _may(role, case.operation):
            _send(case, stack, role)


@schema.include(func=lambda ctx: not all(_may(role, ctx.operation) for role in ROLES)).parametrize()
@pytest.mark.timeout(300 + 20 * EXAMPLES)
@settings(max_examples=FORBIDDEN_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_schemathesis_forbidden_keys_never_succeed(case: Any, stack: Stack) -> None:
    """schemathesis: every operation with each key whose role may not use it: a 4xx (403 unless
    the input is refused first), never a 2xx or a 5xx, and documented."""
    for role in ROLES:
        if not _may(role, case.operation):
            resp = _send(case, stack, role)
            assert 400 <= resp.status_code < 500, f"{role}: {case.method} {case.path} → {resp.status_code}"


def _admin_only(operation: Any) -> bool:
    return not any(_may(role, operation) for role in ROLES if role != "admin")


# The admin key may use every operation. Those another key may use too are fuzzed in full with
# that key (the handlers read the key's project, not its role), so the admin key sends them an
# eighth of the examples and its full number only to the operations no other key may use
# (docs/development.md has the time it saves).
@schema.include(func=lambda ctx: _may("admin", ctx.operation) and not _heavy(ctx.operation)
                and not _admin_only(ctx.operation)).parametrize()
@pytest.mark.timeout(300 + 20 * EXAMPLES)
@settings(max_examples=FORBIDDEN_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_schemathesis_as_admin_on_operations_other_keys_may_use(case: Any, stack: Stack) -> None:
    """schemathesis: the operations another key is fuzzed on, a few examples with the admin key."""
    _send(case, stack, "admin")


test_schemathesis_as_ingest = _schemathesis_as("ingest")
test_schemathesis_as_engineer = _schemathesis_as("engineer")
test_schemathesis_as_auditor = _schemathesis_as("auditor")
test_schemathesis_as_admin = _schemathesis_as("admin", _admin_only, "every operation only")
