"""Tests for retention and legal holds (``/api/admin/retention``, ``/api/admin/holds``,
flightlog.collector.audit.chain.apply_retention): old spans go, held ones stay, every change is in
the governance log, and chain verification still passes after the deletes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import RunningCollector, start_collector

DAY_NS = 86_400 * 10**9


def otlp_trace(trace_id: str, start_ns: int, *, spans: int = 2, agent: str = "ret-bot", user: str = "u1",
               extra: list[dict[str, Any]] | None = None) -> bytes:
    """An OTLP/JSON request with one trace of ``spans`` spans starting at ``start_ns``."""
    items = []
    for i in range(spans):
        attrs = [{"key": "gen_ai.agent.name", "value": {"stringValue": agent}},
                 {"key": "user.id", "value": {"stringValue": user}}]
        last = i == spans - 1 and i > 0
        if extra and last:  # the last span is the checkpoint (or whatever ``extra`` makes it)
            attrs += extra
        else:
            attrs.append({"key": "gen_ai.operation.name", "value": {"stringValue": "invoke_agent" if i == 0 else "chat"}})
        items.append({
            "traceId": trace_id, "spanId": f"{int(trace_id[:8], 16) % 10**6:010d}{i:06d}"[:16],
            "parentSpanId": "" if i == 0 else f"{int(trace_id[:8], 16) % 10**6:010d}{0:06d}"[:16],
            "name": f"step {i}", "kind": 1, "startTimeUnixNano": str(start_ns + i * 1000),
            "endTimeUnixNano": str(start_ns + i * 1000 + 500), "attributes": attrs,
        })
    body = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": agent}}]},
                               "scopeSpans": [{"scope": {"name": "tests"}, "spans": items}]}]}
    return json.dumps(body).encode()


def admin(collector: RunningCollector, method: str, path: str, body: Any = None, **params: Any) -> Any:
    resp = httpx.request(method, collector.url + path, json=body, params=params, timeout=60,
                         headers={"Authorization": f"Bearer {collector.admin_key}"})
    assert resp.status_code == 200, f"{path}: {resp.status_code} {resp.text}"
    return resp.json()


OLD_A, OLD_B, NEW = "a1" * 16, "b2" * 16, "c3" * 16


@pytest.fixture
def aged(tmp_path: Path) -> Iterator[RunningCollector]:
    """Two traces 40 days old and one from now."""
    running = start_collector(tmp_path / "c")
    now = time.time_ns()
    for trace_id, start in ((OLD_A, now - 40 * DAY_NS), (OLD_B, now - 41 * DAY_NS), (NEW, now - 10**9)):
        assert running.post("/v1/traces", otlp_trace(trace_id, start), "application/json").status_code == 200
    running.drain()
    yield running
    running.stop()


def _traces(collector: RunningCollector) -> set[str]:
    return {r["trace_id"] for r in collector.api("/api/spans", limit=100)["items"]}


def _verify(collector: RunningCollector) -> dict[str, Any]:
    return collector.get("/api/audit/verify", key=collector.admin_key).json()


def test_retention_deletes_old_spans_and_verify_still_passes(aged: RunningCollector) -> None:
    assert _traces(aged) == {OLD_A, OLD_B, NEW}
    assert admin(aged, "PUT", "/api/admin/retention", {"days": 30}) == {"project": "default", "days": 30}
    run = admin(aged, "POST", "/api/admin/retention/run")
    assert run["deleted_spans"] == 4 and not run["suspended_by_legal_hold"]
    assert _traces(aged) == {NEW}
    report = _verify(aged)
    assert report["ok"], report
    assert report["deleted_by_retention"] == 4 and report["spans_ok"] == 2
    actions = [c["action"] for c in aged.get("/api/audit/governance", key=aged.admin_key).json()["changes"]]
    assert "retention.set" in actions and "retention.delete" in actions


def test_trace_hold_keeps_its_trace_until_released(aged: RunningCollector) -> None:
    admin(aged, "PUT", "/api/admin/retention", {"days": 30})
    hold = admin(aged, "POST", "/api/admin/holds", {"trace_ids": [OLD_A], "reason": "case 17"})
    assert hold["scope"] == "traces"
    run = admin(aged, "POST", "/api/admin/retention/run")
    assert run["deleted_spans"] == 2 and run["held_traces"] == [OLD_A]
    assert _traces(aged) == {OLD_A, NEW}
    assert _verify(aged)["ok"]
    admin(aged, "DELETE", f"/api/admin/holds/{hold['hold_id']}")
    assert admin(aged, "GET", "/api/admin/holds")["holds"] == []
    admin(aged, "POST", "/api/admin/retention/run")
    assert _traces(aged) == {NEW}
    report = _verify(aged)
    assert report["ok"] and report["deleted_by_retention"] == 4
    actions = [c["action"] for c in aged.get("/api/audit/governance", key=aged.admin_key).json()["changes"]]
    assert actions.count("hold.create") == 1 and actions.count("hold.release") == 1


def test_project_hold_suspends_retention(aged: RunningCollector) -> None:
    admin(aged, "PUT", "/api/admin/retention", {"days": 30})
    admin(aged, "POST", "/api/admin/holds", {"reason": "litigation"})
    run = admin(aged, "POST", "/api/admin/retention/run")
    assert run["suspended_by_legal_hold"] and run["deleted_spans"] == 0
    assert _traces(aged) == {OLD_A, OLD_B, NEW}


def test_zero_days_keeps_everything(aged: RunningCollector) -> None:
    admin(aged, "PUT", "/api/admin/retention", {"days": 0})
    assert admin(aged, "POST", "/api/admin/retention/run")["deleted_spans"] == 0
    assert len(_traces(aged)) == 3


def test_retention_routes_need_an_admin_key(aged: RunningCollector) -> None:
    resp = httpx.put(aged.url + "/api/admin/retention", json={"days": 1},
                     headers={"Authorization": f"Bearer {aged.read_key}"})
    assert resp.status_code == 403
    bad = httpx.post(aged.url + "/api/admin/holds", json={"trace_ids": ["zz"]},
                     headers={"Authorization": f"Bearer {aged.admin_key}"})
    assert bad.status_code == 400
