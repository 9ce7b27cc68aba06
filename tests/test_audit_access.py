"""Tests for the access log (flightlog.collector.api.audit.AccessLogMiddleware and
``GET /api/audit/access``): every query-API read is recorded with who, what, when and rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import RunningCollector, copy_data_dir, migrated_store, start_collector
from flightlog.collector.audit.access_log import count_rows
from support.stores import run_store_script


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    from flightlog.collector import demo

    running = start_collector(tmp_path_factory.mktemp("access"))
    for request in demo.build_demo_requests():
        assert running.post("/v1/traces", request.SerializeToString(), "application/x-protobuf").status_code == 200
    running.drain()
    yield running
    running.stop()


def _key_ids(collector: RunningCollector) -> dict[str, str]:
    keys = collector.get("/api/admin/keys", key=collector.admin_key).json()["keys"]
    return {k["role"]: k["key_id"] for k in keys}


def _entries(collector: RunningCollector, **params: object) -> list[dict]:
    resp = collector.get("/api/audit/access", key=collector.admin_key, limit=1000, **params)
    assert resp.status_code == 200, resp.text
    return resp.json()["entries"]


@pytest.mark.parametrize("payload, rows", [
    ([1, 2, 3], 3), ({"spans": [1, 2], "truncated": False}, 2), ({"rows": []}, 0), ({"status": "x"}, 1), (None, 0),
])
def test_count_rows(payload: object, rows: int) -> None:
    assert count_rows(payload) == rows


def test_every_read_endpoint_is_logged(seeded: RunningCollector) -> None:
    spans = seeded.api("/api/spans", limit=7)
    trace_id = spans["items"][0]["trace_id"]
    reads = {
        "/api/spans": {"limit": 7},
        "/api/traces/{trace_id}": None,
        "/api/cost": {"group_by": "model"},
        "/api/facets": {},
    }
    assert seeded.get("/api/spans", limit=7, agent="refund-bot").status_code == 200
    assert seeded.get(f"/api/traces/{trace_id}").status_code == 200
    assert seeded.get("/api/cost", group_by="model").status_code == 200
    assert seeded.get("/api/facets").status_code == 200
    engineer = _key_ids(seeded)["engineer"]
    entries = _entries(seeded, key_id=engineer)
    by_endpoint = {}
    for e in entries:
        by_endpoint.setdefault(e["endpoint"], []).append(e)
    for endpoint in reads:
        assert endpoint in by_endpoint, f"{endpoint} not logged: {sorted(by_endpoint)}"
        assert all(e["role"] == "engineer" and e["status"] == 200 for e in by_endpoint[endpoint])
    filtered = [e for e in by_endpoint["/api/spans"] if e["params"].get("agent") == "refund-bot"]
    assert filtered and filtered[0]["params"]["limit"] == "7"
    assert 0 < filtered[0]["rows"] <= 7
    trace_entry = by_endpoint["/api/traces/{trace_id}"][0]
    assert trace_entry["params"]["path.trace_id"] == trace_id and trace_entry["rows"] >= 1


def test_refused_reads_are_logged_too(seeded: RunningCollector) -> None:
    assert seeded.get("/api/spans", key="not-a-key").status_code == 401
    assert seeded.get("/api/audit/verify").status_code == 403  # engineer key
    engineer = _key_ids(seeded)["engineer"]
    statuses = {(e["endpoint"], e["status"]) for e in _entries(seeded, key_id=engineer)}
    assert ("/api/audit/verify", 403) in statuses


def test_auditors_reads_of_the_log_are_logged(seeded: RunningCollector) -> None:
    _entries(seeded)
    admin = _key_ids(seeded)["admin"]
    assert any(e["endpoint"] == "/api/audit/access" for e in _entries(seeded, key_id=admin))


def test_access_log_search_filters(seeded: RunningCollector) -> None:
    seeded.get("/api/facets")
    only = _entries(seeded, endpoint="/api/facets")
    assert only and {e["endpoint"] for e in only} == {"/api/facets"}
    assert all("refund-bot" in (e["path"] + str(e["params"])) for e in _entries(seeded, contains="refund-bot"))


def test_access_log_is_for_auditors_and_admins_only(seeded: RunningCollector) -> None:
    assert seeded.get("/api/audit/access").status_code == 403


def test_access_log_cannot_be_deleted_through_the_api(seeded: RunningCollector) -> None:
    import httpx

    resp = httpx.delete(seeded.url + "/api/audit/access", headers={"Authorization": f"Bearer {seeded.admin_key}"})
    assert resp.status_code == 405


def test_log_survives_restart(tmp_path: Path) -> None:
    running = start_collector(tmp_path / "c")
    try:
        running.get("/api/facets", drain=False)
    finally:
        running.stop()
    again = start_collector(tmp_path / "c")
    try:
        assert any(e["endpoint"] == "/api/facets" for e in _entries(again))
    finally:
        again.stop()


def test_streamed_exports_log_the_rows_sent(seeded: RunningCollector) -> None:
    resp = seeded.get("/api/audit/export", key=seeded.admin_key, agent="refund-bot")
    assert resp.status_code == 200
    sent = sum(1 for line in resp.text.splitlines() if line.strip()) - 1  # minus the manifest line
    entry = next(e for e in _entries(seeded, endpoint="/api/audit/export") if e["params"].get("agent") == "refund-bot")
    assert entry["rows"] == sent > 0


def test_a_read_right_after_a_request_waits_for_a_flush_in_flight(tmp_path: Path) -> None:
    """The periodic flush may have taken the buffered entries and be mid-insert when a reader of
    the log flushes: the reader's flush must wait for that insert, not return on an empty buffer
    (the log read after it would miss the request just made)."""
    copy_data_dir(migrated_store(), tmp_path / "store")
    out = run_store_script(tmp_path, """
        import threading, time
        from flightlog.storage import audit as db
        from flightlog.collector.audit import services as svc
        audit = svc.AuditServices(store)
        started, release = threading.Event(), threading.Event()
        real_insert = db.insert_access
        def slow_insert(s, rows):
            started.set()
            assert release.wait(60)
            real_insert(s, rows)
        svc.db.insert_access = slow_insert
        entry = [int(time.time() * 1000), "p", "k1", "engineer", "GET", "/api/facets", "/api/facets", "{}",
                 200, 1, 1.0, "127.0.0.1"]
        audit.record_access(entry)
        periodic = threading.Thread(target=audit.flush_access)
        periodic.start()
        assert started.wait(60)
        seen = []
        reader = threading.Thread(target=lambda: (audit.flush_access(), seen.append(
            db.search_access(store, "p", db.AccessFilter())["entries"])))
        reader.start()
        reader.join(0.5)
        print("reader waited" if reader.is_alive() else "reader returned early")
        release.set()
        periodic.join(60)
        reader.join(60)
        print("entries seen", len(seen[0]))
    """)
    assert out.split("\n")[:2] == ["reader waited", "entries seen 1"]
