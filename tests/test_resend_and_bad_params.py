"""Re-sent spans and hostile parameters against a real collector: the store's dedupe and the
audit chain agree on what was stored, and bad input of every kind gets a 4xx that names the
problem, never a 5xx and never engine text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from conftest import RunningCollector, start_collector
from flightlog.collector.ingest.deep import _put_varint
from test_durability import PB, SPANS_PER_TRACE, make_request

ENGINE_TEXT = ("DB::Exception", "Code: ", "clickhouse", "chdb", "Traceback")
JSON = "application/json"


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    running = start_collector(tmp_path_factory.mktemp("resend"))
    yield running
    running.stop()


def _shifted(body: bytes, shift_ns: int) -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    req = ExportTraceServiceRequest()
    req.ParseFromString(body)
    for span in req.resource_spans[0].scope_spans[0].spans:
        span.start_time_unix_nano -= shift_ns
        span.end_time_unix_nano -= shift_ns
    return req.SerializeToString()


def test_a_resend_with_another_start_time_is_neither_stored_nor_chained_twice(collector: RunningCollector) -> None:
    trace_id, body = make_request(500)
    assert collector.post("/v1/traces", body, PB).status_code == 200
    collector.wait_for_trace(trace_id, SPANS_PER_TRACE)
    before = collector.api("/api/cost", group_by=["model"])["rows"]
    two_days = 2 * 86_400 * 10**9
    for _ in range(2):  # the same span ids, forged two days earlier
        assert collector.post("/v1/traces", _shifted(body, two_days), PB).status_code == 200
    collector.drain()
    assert collector.api("/api/spans", trace_id=trace_id, limit=100)["total"] == SPANS_PER_TRACE
    assert collector.api("/api/cost", group_by=["model"])["rows"] == before, "rollups count each span once"
    report = httpx.get(collector.url + "/api/audit/verify", headers={"x-api-key": collector.admin_key},
                       timeout=60).json()
    assert report["ok"], report["summary"]
    assert report["deleted"]["count"] == 0 and report["inserted_out_of_band"]["count"] == 0


def _deep_protobuf(levels: int) -> bytes:
    """A one-span request whose attribute nests ``levels`` kvlists (built on the wire: the
    protobuf library itself refuses to build it)."""
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    def ld(num: int, payload: bytes) -> bytes:
        return _put_varint((num << 3) | 2) + _put_varint(len(payload)) + payload

    value = ld(1, b"bottom")
    for i in range(levels):
        value = ld(6, ld(1, ld(1, f"k{i}".encode()) + ld(2, value)))
    span = Span(trace_id=bytes.fromhex("ab" * 16), span_id=bytes.fromhex("cd" * 8), name="deep span",
                start_time_unix_nano=1_790_000_000_000_000_000, end_time_unix_nano=1_790_000_000_100_000_000,
                attributes=[KeyValue(key="flightlog.input", value=AnyValue(string_value="deep input words"))])
    return ld(1, ld(2, ld(2, span.SerializeToString() + ld(9, ld(1, b"nested") + ld(2, value)))))


@pytest.mark.parametrize("levels", [50, 200])
def test_a_span_with_a_deeply_nested_attribute_is_kept_and_flattened(collector: RunningCollector, levels: int) -> None:
    resp = collector.post("/v1/traces", _deep_protobuf(levels), PB)
    assert resp.status_code == 200, resp.text
    span = collector.wait_for_trace("ab" * 16, 1)["spans"][0]
    assert span["span_name"] == "deep span"
    assert "bottom" in span["span_attributes"]["nested"]
    assert "nested_value_flattened" in span["span_attributes"]["flightlog.ingest.fixups"]


@pytest.mark.parametrize("path", ["/v1/traces", "/v1/logs"])
def test_json_nested_a_thousand_levels_is_a_400(collector: RunningCollector, path: str) -> None:
    body = ('{"resourceSpans": ' + "[" * 1000 + "]" * 1000 + "}").encode()
    resp = collector.post(path, body, JSON)
    assert resp.status_code == 400 and "nested too deeply" in resp.json()["error"]
    assert collector.proc.poll() is None


BAD_READS = [
    ("/api/spans", {"start": "1000-01-01"}, "outside the storable range"),
    ("/api/spans", {"start": "2961-01-01"}, "outside the storable range"),
    ("/api/cost", {"end": "2961-01-01T00:00:00"}, "outside the storable range"),
    ("/api/insights/monitoring", {"start": "0001-01-01"}, "outside the storable range"),
    ("/api/audit/export", {"start": "2961-01-01"}, "outside the storable range"),
    ("/api/audit/export/count", {"start": "2961-01-01"}, "outside the storable range"),
    ("/api/audit/verify", {"start": "2961-01-01"}, "outside the storable range"),
    ("/api/audit/chain", {"seq": "-1"}, "seq"),
    ("/api/spans", {"start": "yesterday"}, "start"),
    ("/api/spans", {"start": "20261201"}, "ISO 8601 time such as 2026-12-01T08:00:00Z, not a number"),
    ("/api/cost", {"end": "1764547200"}, "not a number"),
    ("/api/traces/zz", {}, "32 hex characters"),
]


@pytest.mark.parametrize("path,params,words", BAD_READS, ids=[f"{p}?{q}" for p, q, _ in BAD_READS])
def test_bad_read_parameters_are_a_400_that_names_them(collector: RunningCollector, path: str,
                                                       params: dict[str, str], words: str) -> None:
    resp = httpx.get(collector.url + path, params=params, headers={"x-api-key": collector.admin_key}, timeout=30)
    assert resp.status_code == 400, resp.text
    assert words in resp.json()["error"]
    assert not any(word in resp.text for word in ENGINE_TEXT), resp.text


BAD_WRITES = [
    ("POST", "/api/admin/reviews/sample", {"day": "2026-13-45"}, None, "calendar date"),
    ("POST", "/api/audit/reviews/scores", {}, {"trace_id": ",", "score": 5}, "trace_id"),
    ("POST", "/api/audit/reviews/scores", {}, {"trace_id": "x" * 32, "score": 5}, "32 hex"),
    ("PUT", "/api/admin/budgets", {}, {"scope": "agent", "max_tokens": 5}, "subject"),
]


@pytest.mark.parametrize("method,path,params,body,words", BAD_WRITES, ids=[f"{m} {p}" for m, p, *_ in BAD_WRITES])
def test_bad_admin_and_review_input_is_a_400(collector: RunningCollector, method: str, path: str,
                                             params: dict[str, str], body: dict | None, words: str) -> None:
    resp = httpx.request(method, collector.url + path, params=params, json=body,
                         headers={"x-api-key": collector.admin_key}, timeout=30)
    assert resp.status_code == 400, resp.text
    assert words in resp.json()["error"]
    assert not any(word in resp.text for word in ENGINE_TEXT), resp.text
    assert json.loads(resp.text)["status"] == 400
