"""Moving up: ``flightlog store copy`` from an embedded store to a ClickHouse server (the
ClickHouse-HTTP harness over chDB), twice, then ``flightlog verify`` and a collector on the target.

The source is filled by a real collector: spans from the real OTLP exporter, a log record, an
approval decided by a named key, a pause and a policy, and a chain over it all.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import start_collector
from support.harness import start_harness
from test_control_api import call, new_key, propose
from test_scale_out import COLLECTOR_ENV, TOKENS_IN, exporter, ids, llm_count, make_spans, run_cli, send_all, \
    batches, stored, verify_ok

from flightlog.storage import open_store
from flightlog.storage.copy import copy_plan

pytestmark = pytest.mark.timeout(600)


def fingerprint(dsn: str) -> dict[str, object]:
    """Per table its rows by content: count, distinct and a sum of row hashes (rollups: their sums)."""
    store = open_store(dsn)
    try:
        plan = copy_plan()
        out: dict[str, object] = {}
        engines = dict(store.query_rows("SELECT name, engine FROM system.tables WHERE database = currentDatabase()"))
        for table in plan.tables:
            final = "" if engines[table] == "MergeTree" else " FINAL"  # what readers see, merged or not
            cols = [r[0] for r in store.query_rows(
                "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = {t:String}"
                " AND default_kind = '' ORDER BY position", {"t": table})]
            listed = ", ".join(f"`{c}`" for c in cols)
            out[table] = store.query_rows(f"SELECT count(), uniqExact(h), sum(h) FROM"
                                          f" (SELECT cityHash64({listed}) AS h FROM `{table}`{final})")[0]
        out["usage_hourly"] = store.query_rows("SELECT sum(Spans), sum(InputTokens), sum(CostUsd) FROM usage_hourly")[0]
        out["usage_users_daily"] = store.query_rows("SELECT sum(Spans), sum(CostUsd) FROM usage_users_daily")[0]
        out["trace_index"] = store.query_rows("SELECT uniqExact(TraceId) FROM trace_index")[0]
        return out
    finally:
        store.close()


def merge_every_part(dsn: str) -> None:
    store = open_store(dsn)
    try:
        for table in copy_plan().tables:
            store.command(f"OPTIMIZE TABLE `{table}` FINAL")
    finally:
        store.close()


def test_an_embedded_store_copied_to_a_server_twice_is_whole_once_and_verifies(tmp_path: Path) -> None:
    source_dir = tmp_path / "laptop"
    laptop = start_collector(source_dir, env=COLLECTOR_ENV)
    spans = make_spans("copy", 30)
    try:
        assert send_all(exporter(laptop, laptop.ingest_key), batches(spans, 10)) == batches(spans, 10)
        approver = new_key(laptop, "engineer", "Dana Reviewer", ["approve"])
        approval = propose(laptop, "copy-1", {"order_id": "1", "amount": 10}).json()
        assert call(laptop, "POST", f"/api/approvals/{approval['id']}/decide", approver,
                    json={"decision": "approve", "reason": "fine"}).status_code == 200
        assert call(laptop, "POST", "/api/control/pause", laptop.admin_key,
                    json={"reason": "moving", "agent": "scale-copy"}).status_code == 200
        assert call(laptop, "PUT", "/api/policies", laptop.admin_key,
                    json={"agent": "scale-copy", "on_unreachable": "closed"}).status_code == 200
        laptop.drain()
        events = laptop.api("/api/spans", limit=1)["total"]  # the control loop's events are spans too
        of_agent = laptop.api("/api/spans", agent="scale-copy", limit=1)["total"]
    finally:
        laptop.stop()
    source = f"chdb://{source_dir / 'store'}"
    ch = start_harness(tmp_path / "ch")
    try:
        target = ch.dsn("flightlog")
        first = run_cli("store", "copy", "--from", source, "--to", target, "--page-rows", "100")
        assert first.returncode == 0, first.stderr[-3000:]
        assert "copying" in first.stderr, "a progress bar"
        report = json.loads(first.stdout)["tables"]
        assert set(report) == {*copy_plan().tables, *copy_plan().view_filled}
        for table in ("spans", "api_keys", "approvals", "control_pauses", "policies", "chain_batches", "chain_spans",
                      "usage_hourly", "trace_index", "governance_log"):
            assert report[table]["source"] > 0 and report[table]["sent"] == report[table]["source"], (table, report)
        want = fingerprint(source)
        assert fingerprint(target) == want
        merge_every_part(source)  # as background merges do between two runs: the pages' rows stay the same
        second = run_cli("store", "copy", "--from", source, "--to", target, "--quiet")
        assert second.returncode == 0, second.stderr[-3000:]
        assert "copying" not in second.stderr
        assert fingerprint(target) == want, "a second run adds nothing"
        again = json.loads(second.stdout)["tables"]
        assert {t: again[t]["target"] for t in report} == {t: report[t]["target"] for t in report}, \
            "not a row more in any table"
        got = stored(ch)
        assert got["keys"] >= ids(spans) and got["rows"] == got["distinct"] == events
        assert got["tokens_in"] == TOKENS_IN * llm_count(spans)
        assert verify_ok(target)["spans_ok"] == events
        # A collector on the server serves the copied data with the laptop's keys.
        server = start_collector(tmp_path / "server", env={**COLLECTOR_ENV, "FLIGHTLOG_DSN": target},
                                 wait_for_keys=False)
        server.ingest_key, server.read_key, server.admin_key = laptop.ingest_key, laptop.read_key, laptop.admin_key
        try:
            assert server.api("/api/spans", agent="scale-copy", limit=1)["total"] == of_agent
            assert server.api(f"/api/approvals/{approval['id']}")["status"] == "approved"
            state = call(server, "GET", "/api/control/state", server.ingest_key).json()
            assert [p["agent"] for p in state["pauses"]] == ["scale-copy"]
        finally:
            server.stop()
    finally:
        ch.stop()


def test_copy_refuses_the_same_store_and_a_bad_dsn(tmp_path: Path) -> None:
    same = f"chdb://{tmp_path / 'store'}"
    done = run_cli("store", "copy", "--from", same, "--to", same)
    assert done.returncode != 0 and "same store" in done.stderr
    bad = run_cli("store", "copy", "--from", same, "--to", "ftp://x")
    assert bad.returncode != 0 and "unsupported storage DSN scheme" in bad.stderr
