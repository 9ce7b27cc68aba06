"""A collector whose ClickHouse server is down: it starts anyway, spools what it acknowledges,
says why it is not ready, and stores everything once the server answers (``flightlog serve
--dsn http://…`` against the ClickHouse-HTTP harness over chDB, tests/support/).
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from conftest import free_port, start_collector, wait_until
from support.harness import start_harness
from test_durability import PB, SPANS_PER_TRACE, make_request

ENGINE_TEXT = ("DB::Exception", "Code: ", "clickhouse", "chdb", "Traceback")


def _logs_body(trace_id: str, span_id: str, text: str) -> bytes:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue

    req = ExportLogsServiceRequest()
    rec = req.resource_logs.add().scope_logs.add().log_records.add()
    rec.trace_id, rec.span_id = bytes.fromhex(trace_id), bytes.fromhex(span_id)
    rec.time_unix_nano = 1_790_000_000_000_000_500
    rec.event_name = "gen_ai.user.message"
    rec.body.CopyFrom(AnyValue(string_value=text))
    return req.SerializeToString()


def _not_ready_because(url: str, words: str) -> bool:
    resp = httpx.get(url + "/readyz", timeout=10)
    return resp.status_code == 503 and words in " ".join(resp.json()["problems"])


def test_a_restart_during_a_server_outage_spools_and_drains_when_the_server_is_back(tmp_path: Path) -> None:
    harness = start_harness(tmp_path / "server")
    env = {"FLIGHTLOG_DSN": harness.dsn("flightlog")}
    first = start_collector(tmp_path / "collector", env=env)
    trace0, body0 = make_request(0)
    assert first.post("/v1/traces", body0, PB).status_code == 200
    first.wait_for_trace(trace0, SPANS_PER_TRACE)
    first.stop()
    harness.kill()  # the server is gone…
    collector = start_collector(tmp_path / "collector", env=env)  # …and the collector restarts anyway
    try:
        assert collector.ingest_key == first.ingest_key
        assert wait_until(lambda: _not_ready_because(collector.url, "store unreachable"), timeout=30,
                          what="readyz to name the unreachable store")
        acked = []
        for n in range(1, 6):
            trace_id, body = make_request(n)
            resp = collector.post("/v1/traces", body, PB)
            assert resp.status_code == 200, resp.text  # keys come from the snapshot: ingest goes on
            acked.append(trace_id)
        logs = collector.post("/v1/logs", _logs_body(acked[0], f"{2:016x}", "during the outage"), PB)
        assert logs.status_code == 200, "log records are spooled like spans"
        reading = httpx.get(collector.url + "/api/spans", headers={"x-api-key": collector.read_key}, timeout=30)
        assert reading.status_code == 503 and reading.headers["Retry-After"]
        assert not any(word in reading.text for word in ENGINE_TEXT), reading.text
        harness.start()  # the server is back: the collector connects and drains by itself
        wait_until(lambda: httpx.get(collector.url + "/readyz", timeout=10).status_code == 200, timeout=60,
                   what="the collector to be ready again")
        for trace_id in [trace0, *acked]:
            trace = collector.wait_for_trace(trace_id, SPANS_PER_TRACE)
            assert len(trace["spans"]) == SPANS_PER_TRACE, "stored once"
        llm = next(s for s in collector.api(f"/api/traces/{acked[0]}")["spans"] if s["span_id"] == f"{2:016x}")
        assert any(e.get("name") == "gen_ai.user.message" for e in llm["events"])
        assert collector.api("/api/spans", agent="loadgen", limit=100)["total"] == 6 * SPANS_PER_TRACE
    finally:
        collector.stop()
        harness.stop()


def test_a_collector_that_never_reached_its_server_answers_503_and_says_why(tmp_path: Path) -> None:
    port = free_port()  # nothing listens here
    collector = start_collector(tmp_path / "collector", env={"FLIGHTLOG_DSN": f"http://u:p@127.0.0.1:{port}/x"},
                                wait_for_keys=False)
    try:
        ready = httpx.get(collector.url + "/readyz", timeout=10)
        assert ready.status_code == 503
        assert any("store unreachable" in p for p in ready.json()["problems"])
        trace_id, body = make_request(7)
        resp = httpx.post(collector.url + "/v1/traces", content=body,
                          headers={"Content-Type": "application/json", "x-api-key": "fl_ingest_unknown"},
                          timeout=30)
        # No key can be checked yet: a retryable 503, never a 401 that would make exporters give up.
        assert resp.status_code == 503 and int(resp.headers["Retry-After"]) > 0
        assert "store unavailable" in json.loads(resp.text)["error"]
        assert not any(word in resp.text for word in ENGINE_TEXT), resp.text
        assert collector.proc.poll() is None, "the collector keeps running"
    finally:
        collector.stop()
