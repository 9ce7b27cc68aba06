"""Tests for span exports (flightlog.collector.audit.export, ``GET /api/audit/export``, ``flightlog
export`` and ``flightlog verify-export``): round trips in every format, filters, and a
manifest that verifies offline and catches an edited file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import RunningCollector, start_collector
from flightlog.collector.audit.export import MANIFEST_KEY, read_export, verify_export
from test_chain import run_cli


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    from flightlog.collector import demo

    running = start_collector(tmp_path_factory.mktemp("export"))
    for request in demo.build_demo_requests():
        assert running.post("/v1/traces", request.SerializeToString(), "application/x-protobuf").status_code == 200
    streamed = {"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": "5" * 32, "spanId": "5" * 16, "name": "chat gpt-4o", "kind": 3,
        "startTimeUnixNano": "1767225600000000000", "endTimeUnixNano": "1767225601000000000",
        "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                       {"key": "gen_ai.request.stream", "value": {"boolValue": True}}]}]}]}]}
    assert running.post("/v1/traces", json.dumps(streamed).encode(), "application/json").status_code == 200
    running.drain()
    yield running
    running.stop()


def _api_rows(collector: RunningCollector, **params: object) -> tuple[list[dict], dict]:
    resp = collector.get("/api/audit/export", key=collector.admin_key, format="jsonl", **params)
    assert resp.status_code == 200, resp.text
    lines = [json.loads(line) for line in resp.text.splitlines() if line.strip()]
    assert MANIFEST_KEY in lines[-1]
    return lines[:-1], lines[-1][MANIFEST_KEY]


def _key(row: dict) -> tuple:
    return (row["Timestamp"], row["TraceId"], row["SpanId"])


def test_jsonl_export_has_every_span_once_and_a_manifest(seeded: RunningCollector) -> None:
    rows, manifest = _api_rows(seeded)
    total = seeded.api("/api/spans", limit=1)["total"]
    assert len(rows) == total == manifest["spans"]
    assert len({_key(r) for r in rows}) == len(rows)
    assert [_key(r) for r in rows] == sorted(_key(r) for r in rows)
    assert manifest["chain"] and manifest["unchained_spans"] == 0


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_cli_export_round_trip_and_offline_verify(seeded: RunningCollector, tmp_path: Path, fmt: str) -> None:
    expected, _ = _api_rows(seeded)
    out = tmp_path / f"spans.{fmt}"
    done = run_cli("export", "--url", seeded.url, "--key", seeded.admin_key, "--format", fmt, "--out", str(out))
    assert done.returncode == 0, done.stderr + done.stdout
    assert f"wrote {len(expected)} spans" in done.stdout
    back = list(read_export(out, fmt))
    assert back == expected
    assert [r["Streamed"] for r in back if r["TraceId"] == "5" * 32] == [True]  # a bool column survives
    manifest = json.loads(Path(str(out) + ".manifest.json").read_text())
    assert verify_export(out, manifest).ok
    checked = run_cli("verify-export", str(out))
    assert checked.returncode == 0 and checked.stdout.startswith("OK"), checked.stdout


def test_offline_verify_names_an_edited_span(seeded: RunningCollector, tmp_path: Path) -> None:
    out = tmp_path / "spans.jsonl"
    assert run_cli("export", "--url", seeded.url, "--key", seeded.admin_key, "--out", str(out)).returncode == 0
    manifest = json.loads(Path(str(out) + ".manifest.json").read_text())
    lines = out.read_text().splitlines()
    row = json.loads(lines[3])
    row["OutputText"] = "something else"
    lines[3] = json.dumps(row)
    out.write_text("\n".join(lines) + "\n")
    manifest.pop("sha256")  # even without the file hash, the span's own hash gives it away
    check = verify_export(out, manifest)
    assert not check.ok
    assert any(row["SpanId"] in p and "altered" in p for p in check.problems)


def test_export_filters_by_agent_user_and_trace(seeded: RunningCollector) -> None:
    rows, _ = _api_rows(seeded)
    agent = next(r["AgentName"] for r in rows if r["AgentName"])
    by_agent, _ = _api_rows(seeded, agent=agent)
    assert by_agent and all(r["AgentName"] == agent for r in by_agent)
    user = next(r["UserId"] for r in rows if r["UserId"])
    by_user, _ = _api_rows(seeded, user=user)
    assert by_user and all(r["UserId"] == user for r in by_user)
    traces = sorted({r["TraceId"] for r in rows})[:2]
    by_trace, manifest = _api_rows(seeded, trace_id=",".join(traces))
    assert {r["TraceId"] for r in by_trace} == set(traces)
    assert manifest["spans"] == len(by_trace) == sum(1 for r in rows if r["TraceId"] in traces)


def test_export_time_range(seeded: RunningCollector) -> None:
    from datetime import datetime, timezone

    rows, _ = _api_rows(seeded)
    mid = rows[len(rows) // 2]["Timestamp"]
    at = datetime.fromtimestamp(mid // 10**9, tz=timezone.utc)
    later, _ = _api_rows(seeded, start=at.isoformat())
    assert later and all(r["Timestamp"] >= (mid // 10**9) * 10**9 for r in later)
    assert len(later) < len(rows)


def test_csv_and_parquet_stream_from_the_api(seeded: RunningCollector, tmp_path: Path) -> None:
    expected, _ = _api_rows(seeded)
    for fmt in ("csv", "parquet"):
        resp = seeded.get("/api/audit/export", key=seeded.admin_key, format=fmt)
        assert resp.status_code == 200
        path = tmp_path / f"api.{fmt}"
        path.write_bytes(resp.content)
        assert list(read_export(path, fmt)) == expected


def test_export_is_paged_in_constant_memory(seeded: RunningCollector, tmp_path: Path) -> None:
    """A page size far below the export size still yields every span exactly once."""
    import subprocess
    import sys

    from conftest import clean_env

    expected, _ = _api_rows(seeded)
    seeded.stop()
    script = (
        "import sys, json; from flightlog.storage import open_store; from flightlog.storage import audit as db;"
        " from flightlog.collector.audit.export import iter_spans; s = open_store(sys.argv[1]);"
        " keys = [(r['TraceId'], r['SpanId']) for r in iter_spans(s, 'default', db.ExportFilter(), page=7)];"
        " s.close(); print(json.dumps(keys))"
    )
    done = subprocess.run([sys.executable, "-c", script, f"chdb://{seeded.data_dir / 'store'}"], capture_output=True,
                          text=True, env=clean_env(), timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert [tuple(k) for k in json.loads(done.stdout)] == [(r["TraceId"], r["SpanId"]) for r in expected]


def test_export_needs_an_auditor_key(tmp_path: Path) -> None:
    running = start_collector(tmp_path / "c")
    try:
        assert running.get("/api/audit/export").status_code == 403
        resp = httpx.get(running.url + "/api/audit/export", params={"trace_id": "nothex"},
                         headers={"Authorization": f"Bearer {running.admin_key}"})
        assert resp.status_code == 400
    finally:
        running.stop()
