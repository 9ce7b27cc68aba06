"""Operations: graceful shutdown drains the spool, JSON logs, health and readiness without keys."""

from __future__ import annotations

import json
import signal

import httpx

from conftest import start_collector
from test_durability import make_request

PB = "application/x-protobuf"


def test_sigterm_drains_the_spool_before_exit(tmp_path) -> None:
    data_dir = tmp_path / "c"
    c = start_collector(data_dir, env={"FLIGHTLOG_FLUSH_INTERVAL_MS": "5000", "FLIGHTLOG_BATCH_ROWS": "100000"})
    for n in range(30):
        assert c.post("/v1/traces", make_request(n, spans=5)[1], PB).status_code == 200
    c.proc.send_signal(signal.SIGTERM)
    # uvicorn re-raises SIGTERM after a clean shutdown, so the exit status is -15 (or 0).
    assert c.proc.wait(60) in (0, -signal.SIGTERM), c.log()
    assert "Application shutdown complete" in c.log()
    assert not list((data_dir / "spool").glob("seg-*.spool")), "shutdown drained the spool into the store"
    again = start_collector(data_dir)
    try:
        assert again.api("/api/spans", limit=1)["total"] == 150
    finally:
        again.stop()


def test_json_logs_are_one_object_per_line(tmp_path) -> None:
    c = start_collector(tmp_path / "c", env={"FLIGHTLOG_LOG_FORMAT": "json"})
    c.stop()
    lines = [line for line in c.log_path.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]
    assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)
    # The first keys are a normal first start: logged once, at INFO (not a warning).
    assert [r["level"] for r in records if "created project" in r["message"]] == ["info"]


def test_health_and_readiness_need_no_key_but_metrics_do(collector) -> None:
    assert httpx.get(collector.url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(collector.url + "/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert httpx.get(collector.url + "/metrics").status_code == 401
    text = collector.get("/metrics").text
    assert "flightlog_spans_stored_total" in text and "flightlog_spool_bytes" in text
