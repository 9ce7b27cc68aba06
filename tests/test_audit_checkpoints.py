"""Tests for the checkpoint audit (``GET /api/audit/checkpoints``): tier-2/3 actions with
decision, approver and wait time; tier-3 actions without an approval are flagged."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from conftest import RunningCollector, start_collector
from test_retention import otlp_trace


def _attrs(tier: int, decision: str, approver: str, wait_ms: int) -> list[dict]:
    values = {"flightlog.checkpoint.tier": tier, "flightlog.checkpoint.decision": decision,
              "flightlog.checkpoint.approver": approver, "flightlog.checkpoint.wait_ms": wait_ms,
              "flightlog.checkpoint.action": "refund"}
    return [{"key": k, "value": {"intValue": str(v)} if isinstance(v, int) else {"stringValue": v}}
            for k, v in values.items()]


CASES = {  # trace id → (tier, decision, approver, wait ms, flagged)
    "d1" * 16: (3, "approved", "alice", 1200, False),
    "d2" * 16: (3, "autonomous", "", 0, True),
    "d3" * 16: (3, "rejected", "bob", 800, False),
    "d4" * 16: (2, "notified", "", 0, False),
    "d5" * 16: (1, "autonomous", "", 0, False),
}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    running = start_collector(tmp_path_factory.mktemp("checkpoints"))
    now = time.time_ns()
    for i, (trace_id, (tier, decision, approver, wait, _)) in enumerate(CASES.items()):
        body = otlp_trace(trace_id, now - i * 10**9, spans=2, extra=_attrs(tier, decision, approver, wait))
        assert running.post("/v1/traces", body, "application/json").status_code == 200
    running.drain()
    yield running
    running.stop()


def test_checkpoints_list_tier_two_and_three_with_approver_and_wait(checkpoints: RunningCollector) -> None:
    rows = checkpoints.api("/api/audit/checkpoints")["checkpoints"]
    seen = {r["trace_id"] for r in rows}
    assert seen == {t for t, c in CASES.items() if c[0] >= 2}
    approved = next(r for r in rows if r["trace_id"] == "d1" * 16)
    assert approved["approver"] == "alice" and approved["decision"] == "approved" and approved["wait_ms"] == 1200


def test_unapproved_tier_three_actions_are_flagged(checkpoints: RunningCollector) -> None:
    rows = checkpoints.api("/api/audit/checkpoints", min_tier=1)["checkpoints"]
    flagged = {r["trace_id"] for r in rows if r["flagged"]}
    assert flagged == {t for t, c in CASES.items() if c[4]}
    only = checkpoints.api("/api/audit/checkpoints", flagged_only="true")["checkpoints"]
    assert {r["trace_id"] for r in only} == flagged


def test_checkpoint_summary_by_tier(checkpoints: RunningCollector) -> None:
    tiers = {t["tier"]: t for t in checkpoints.api("/api/audit/checkpoints", min_tier=1)["by_tier"]}
    assert tiers[3]["actions"] == 3 and tiers[3]["flagged"] == 1
    assert tiers[3]["approved"] == 1 and tiers[3]["rejected"] == 1 and tiers[2]["actions"] == 1
