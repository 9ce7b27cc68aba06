"""Property-based fuzzing of the OTLP decoders and the query API: never a crash, never a 5xx.

The decoders get arbitrary bytes and arbitrary JSON; the only acceptable failure is a
collector error with a 4xx status. The query API gets arbitrary parameters and paths from a
real collector; every answer must be below 500 and the collector must keep serving.
"""

from __future__ import annotations

import json
import string

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flightlog.collector.ingest.decode import decode_logs, decode_traces
from flightlog.collector.errors import CollectorError

from conftest import RunningCollector, fixture_bytes, fixture_trace_id

PB, JS = "application/x-protobuf", "application/json"
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=30,
)
otlp_keys = st.sampled_from(["resourceSpans", "scopeSpans", "spans", "traceId", "spanId", "parentSpanId", "name",
                             "kind", "attributes", "key", "value", "stringValue", "intValue", "arrayValue",
                             "kvlistValue", "values", "startTimeUnixNano", "events", "links", "status",
                             "resourceLogs", "scopeLogs", "logRecords", "body"])
otlp_like = st.recursive(
    st.none() | st.integers() | st.text(max_size=40) | st.sampled_from(["ab" * 16, "cd" * 8, "", "zz"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(otlp_keys, inner, max_size=6),
    max_leaves=40,
)


def _decodes_or_4xx(fn, body: bytes, ctype: str, encoding: str | None = None) -> None:
    try:
        fn(body, ctype, encoding)
    except CollectorError as exc:
        assert 400 <= exc.status < 500, exc
        assert exc.message


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_crash_the_protobuf_decoders(body: bytes) -> None:
    _decodes_or_4xx(decode_traces, body, PB)
    _decodes_or_4xx(decode_logs, body, PB)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.integers(0, 6000))
def test_mutated_real_requests_never_crash_the_decoder(noise: bytes, at: int) -> None:
    real = fixture_bytes("otel-genai-openai-v2.pb")
    at = at % len(real)
    _decodes_or_4xx(decode_traces, real[:at] + noise + real[at + len(noise):], PB)


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, otlp_like))
def test_arbitrary_json_never_crashes_the_json_decoders(doc) -> None:
    body = json.dumps(doc, allow_nan=True).encode()
    _decodes_or_4xx(decode_traces, body, JS)
    _decodes_or_4xx(decode_logs, body, JS)
    _decodes_or_4xx(decode_traces, body, JS, "gzip")


GENAI_TRACE = fixture_trace_id("otel-genai-openai-v2")
PARAMS = ["q", "start", "end", "agent", "model", "prompt_version", "span_type", "status", "user", "session",
          "trace_id", "limit", "offset", "sort", "order", "group_by", "tool", "span_id", "compare", "by", "bucket"]
PATHS = ["/api/spans", "/api/cost", "/api/facets", "/api/traces/{t}", "/api/traces/{t}/traceback",
         "/api/insights/monitoring", "/api/insights/cost_per_run", "/api/insights/top_traces",
         "/api/audit/access", "/api/audit/checkpoints", "/api/audit/verify"]
values = st.one_of(st.text(max_size=60), st.integers(-10**12, 10**12).map(str),
                   st.sampled_from(["2026-11-01T00:00:00Z", "ok", "error", "cost", "desc", "model", "day",
                                    GENAI_TRACE, "' OR 1=1 --", "\x00", "%", "日本語"]))


@pytest.fixture(scope="module")
def fuzzed(shared_collector: RunningCollector) -> RunningCollector:
    assert shared_collector.post("/v1/traces", fixture_bytes("otel-genai-openai-v2.pb"), PB).status_code == 200
    shared_collector.drain()
    return shared_collector


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(PATHS), params=st.dictionaries(st.sampled_from(PARAMS), values, max_size=5),
       trace=st.one_of(st.just(GENAI_TRACE), st.text(string.hexdigits, max_size=40)))
def test_query_api_never_answers_5xx(fuzzed: RunningCollector, path: str, params: dict, trace: str) -> None:
    url = fuzzed.url + path.format(t=trace or "x")
    resp = httpx.get(url, params=params, headers={"Authorization": f"Bearer {fuzzed.admin_key}"}, timeout=30)
    assert resp.status_code < 500, (url, params, resp.status_code, resp.text[:300])
    if resp.status_code >= 400:
        assert resp.json().get("error"), resp.text[:300]


def test_the_collector_still_serves_after_fuzzing(fuzzed: RunningCollector) -> None:
    assert httpx.get(fuzzed.url + "/readyz").status_code == 200
    assert len(fuzzed.api(f"/api/traces/{GENAI_TRACE}")["spans"]) == 7
