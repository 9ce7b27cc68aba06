"""Ingest edge cases: encodings agree, retries do not duplicate, bad input gets a clear 4xx.

Each bad request is sent between two good ones; the test then checks that the collector is
still serving and that the good data is intact.
"""

from __future__ import annotations

import gzip
import json
import zlib

import pytest

from conftest import RunningCollector, error_message, fixture_bytes, fixture_trace_id

PB = "application/x-protobuf"
JS = "application/json"
GENAI_TRACE = fixture_trace_id("otel-genai-openai-v2")
OI_TRACE = fixture_trace_id("openinference-openai")


def _comparable(trace: dict) -> list[dict]:
    # Ingest time and the chain hash (a property of the ingest batch) differ by collector.
    return [{k: v for k, v in s.items() if k not in ("ingest_time", "chain_hash")} for s in trace["spans"]]


@pytest.mark.parametrize("name", ["openinference-openai", "otel-genai-openai-v2", "otel-genai-openai-v2-legacy"])
def test_json_and_protobuf_bodies_store_identical_rows(tmp_path, name: str) -> None:
    from conftest import start_collector

    a = start_collector(tmp_path / "a")
    b = start_collector(tmp_path / "b")
    try:
        assert a.post("/v1/traces", fixture_bytes(f"{name}.json"), JS).status_code == 200
        assert b.post("/v1/traces", fixture_bytes(f"{name}.pb"), PB).status_code == 200
        trace_id = a.api("/api/spans", limit=1)["items"][0]["trace_id"]
        ta, tb = a.api(f"/api/traces/{trace_id}"), b.api(f"/api/traces/{trace_id}")
        assert len(ta["spans"]) >= 6
        assert _comparable(ta) == _comparable(tb)
    finally:
        a.stop()
        b.stop()


def test_a_retried_export_does_not_duplicate_spans(collector: RunningCollector) -> None:
    body = fixture_bytes("otel-genai-openai-v2.pb")
    for _ in range(3):
        assert collector.post("/v1/traces", body, PB).status_code == 200
    assert len(collector.api(f"/api/traces/{GENAI_TRACE}")["spans"]) == 7
    assert collector.api("/api/spans", trace_id=GENAI_TRACE)["total"] == 7
    calls = sum(r["calls"] for r in collector.api("/api/cost", group_by="model")["rows"])
    assert calls == 5  # 4 chat + 1 embeddings, each counted once


def test_gzip_and_deflate_bodies_are_accepted(collector: RunningCollector) -> None:
    body = fixture_bytes("openinference-openai.pb")
    assert collector.post("/v1/traces", gzip.compress(body), PB, headers={"Content-Encoding": "gzip"}).status_code == 200
    assert collector.post("/v1/traces", zlib.compress(body), PB, headers={"Content-Encoding": "deflate"}).status_code == 200
    assert len(collector.api(f"/api/traces/{OI_TRACE}")["spans"]) == 7


BAD_REQUESTS = [
    # (case, body, content type, extra headers, status, words the message must contain)
    ("garbage protobuf", b"\xff\xff\xff\x07garbage", PB, {}, 400, "not a valid OTLP protobuf"),
    ("truncated protobuf", None, PB, {}, 400, "not a valid OTLP protobuf"),
    ("broken json", b'{"resourceSpans": [', JS, {}, 400, "not valid JSON"),
    ("json array", b"[1, 2]", JS, {}, 400, "must be a JSON object"),
    ("invalid utf-8 json", b'{"resourceSpans": "\xff\xfe"}', JS, {}, 400, "not valid UTF-8"),
    ("bad hex trace id", json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": "zz" * 16, "spanId": "00" * 8, "name": "x"}]}]}]}).encode(), JS, {}, 400, "traceId"),
    ("short span id", json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": "ab" * 16, "spanId": "abcd", "name": "x"}]}]}]}).encode(), JS, {}, 400, "spanId"),
    ("wrong field type", json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": "ab" * 16, "spanId": "cd" * 8, "startTimeUnixNano": "soon"}]}]}]}).encode(), JS, {}, 400, "OTLP/JSON"),
    ("text/plain", b"hello", "text/plain", {}, 415, "Content-Type"),
    ("no content type", b"hello", "", {}, 415, "Content-Type"),
    ("brotli", b"x", PB, {"Content-Encoding": "br"}, 415, "Content-Encoding"),
    ("corrupt gzip", b"\x1f\x8bnot gzip", PB, {"Content-Encoding": "gzip"}, 400, "gzip"),
    ("gzip bomb", gzip.compress(b"\0" * (3 * 1024 * 1024)), PB, {"Content-Encoding": "gzip"}, 413, "decompressed"),
    ("oversize body", b"\0" * (2 * 1024 * 1024 + 1), PB, {}, 413, "exceeds the limit"),
]


@pytest.fixture
def small_limit_collector(tmp_path):
    from conftest import start_collector

    running = start_collector(tmp_path / "c", env={"FLIGHTLOG_MAX_BODY_BYTES": str(2 * 1024 * 1024)})
    yield running
    running.stop()


@pytest.mark.parametrize("case,body,ctype,headers,status,words", BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS])
def test_bad_input_gets_a_clear_status_and_good_data_survives(
    small_limit_collector: RunningCollector, case, body, ctype, headers, status, words
) -> None:
    c = small_limit_collector
    if body is None:
        body = fixture_bytes("otel-genai-openai-v2.pb")[:-7]
    assert c.post("/v1/traces", fixture_bytes("otel-genai-openai-v2.pb"), PB).status_code == 200
    resp = c.post("/v1/traces", body, ctype, headers=headers)
    assert resp.status_code == status, resp.text[:300]
    assert words in error_message(resp), error_message(resp)
    assert c.post("/v1/traces", fixture_bytes("openinference-openai.json"), JS).status_code == 200
    assert len(c.api(f"/api/traces/{GENAI_TRACE}")["spans"]) == 7
    assert len(c.api(f"/api/traces/{OI_TRACE}")["spans"]) == 7


@pytest.mark.parametrize(
    "headers,status,words",
    [
        ({}, 401, "missing API key"),
        ({"x-api-key": "fl_ingest_not-a-real-key"}, 401, "unknown or revoked"),
        ({"Authorization": "Basic abc"}, 401, "Bearer"),
    ],
)
def test_ingest_without_a_valid_key_is_refused(collector: RunningCollector, headers, status, words) -> None:
    import httpx

    resp = httpx.post(collector.url + "/v1/traces", content=fixture_bytes("otel-genai-openai-v2.json"),
                      headers={"Content-Type": JS, **headers})
    assert resp.status_code == status and words in resp.json()["error"]
    assert collector.api("/api/spans")["total"] == 0


def test_keys_are_limited_to_their_role(collector: RunningCollector) -> None:
    resp = collector.post("/v1/traces", fixture_bytes("otel-genai-openai-v2.json"), JS, key=collector.read_key)
    assert resp.status_code == 403 and "engineer" in resp.json()["error"]
    resp = collector.get("/api/spans", key=collector.ingest_key)
    assert resp.status_code == 403 and "ingest" in resp.json()["error"]
    assert collector.get("/api/spans", key="").status_code == 401


def test_query_parameters_are_validated(collector: RunningCollector) -> None:
    assert collector.get("/api/traces/not-hex").status_code == 400
    assert collector.get("/api/traces/" + "ab" * 16).status_code == 404
    resp = collector.get("/api/spans", limit=100000)
    assert resp.status_code == 400 and "limit" in resp.json()["error"]
    resp = collector.get("/api/spans", start="yesterday")
    assert resp.status_code == 400 and "start" in resp.json()["error"]
    resp = collector.get("/api/cost", group_by="password")
    assert resp.status_code == 400 and "group_by" in resp.json()["error"]


def test_search_values_are_bound_not_spliced(collector: RunningCollector) -> None:
    assert collector.post("/v1/traces", fixture_bytes("otel-genai-openai-v2.pb"), PB).status_code == 200
    hostile = "x' OR 1=1 OR '"
    for params in ({"agent": hostile}, {"q": hostile}, {"model": hostile}, {"user": "'; DROP TABLE spans; --"}):
        resp = collector.get("/api/spans", **params)
        assert resp.status_code == 200 and resp.json()["total"] == 0, params
    assert collector.api("/api/spans")["total"] == 7


def test_log_records_attach_content_to_their_spans_in_either_order(collector: RunningCollector) -> None:
    legacy_trace = fixture_trace_id("otel-genai-openai-v2-legacy")
    # Logs first, spans second: the records wait in the store until their span arrives.
    assert collector.post("/v1/logs", fixture_bytes("otel-genai-openai-v2-legacy.logs.pb"), PB).status_code == 200
    assert collector.post("/v1/traces", fixture_bytes("otel-genai-openai-v2-legacy.pb"), PB).status_code == 200
    spans = collector.api(f"/api/traces/{legacy_trace}")["spans"]
    chats = [s for s in spans if s["span_name"] == "chat gpt-4o-mini"]
    assert len(chats) == 4
    assert all("order 4417 refund" in s["input_text"] for s in chats), [s["input_text"][:80] for s in chats]
    assert all(s["output_text"] for s in chats)
    assert any(e["name"] == "gen_ai.choice" for s in chats for e in s["events"])
