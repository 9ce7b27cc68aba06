"""Tests for flightlog.collector.ingest.limits and its wiring in pipeline.rows_from_spans."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flightlog.collector.config import Settings
from flightlog.collector.errors import BadRequest
from flightlog.collector.ingest.limits import (
    FIXUPS_KEY,
    MARKER_SLACK_BYTES,
    NS_PER_DAY,
    Limits,
    dedupe,
    fix_timestamps,
    limit_attributes,
    limit_row,
    limit_span,
    limit_value,
    reject_reason,
    truncate_text,
)
from flightlog.collector.ingest.pipeline import rows_from_spans
from flightlog.collector.pricing import load_prices
from flightlog.collector.ingest.redact import REDACTIONS_KEY
from flightlog.storage.schema import SPAN_COLUMNS

NOW = 1_764_000_000 * 10**9
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PRICES = load_prices()


def _span(span_id: str = "00f067aa0ba902b7", **fields) -> dict:
    span = {"trace_id": TRACE, "span_id": span_id, "parent_span_id": "", "name": "s", "kind": 1,
            "start_ns": NOW - 10**9, "end_ns": NOW, "attributes": {}, "resource": {}, "events": [],
            "links": [], "status_code": 0, "status_message": ""}
    span.update(fields)
    return span


@pytest.mark.parametrize("text,max_bytes,expected,removed", [
    ("hello", 10, "hello", 0),
    ("hello world", 5, "hello…[truncated 6 bytes]", 6),
    ("héllo", 2, "h…[truncated 5 bytes]", 5),        # é is 2 bytes: not cut in half
    ("日本語", 4, "日…[truncated 6 bytes]", 6),
    ("😀😀", 5, "😀…[truncated 4 bytes]", 4),
    ("😀", 3, "…[truncated 4 bytes]", 4),
    ("abc", 3, "abc", 0),
])
def test_truncate_text_cuts_on_a_character_boundary(text, max_bytes, expected, removed) -> None:
    assert truncate_text(text, max_bytes) == (expected, removed)


@pytest.mark.parametrize("span,reason_part", [
    (_span(trace_id="0" * 32), "span 3 (name 's') traceId is all zeros"),
    (_span(span_id="0" * 16), "span 3 (name 's') spanId is all zeros"),
    (_span(span_id=""), "spanId is missing"),
    (_span(trace_id=""), "traceId is missing"),
])
def test_reject_reason_names_the_span(span, reason_part) -> None:
    assert reason_part in reject_reason(span, 3)


def test_reject_reason_accepts_a_valid_span() -> None:
    assert reject_reason(_span(), 0) is None


@pytest.mark.parametrize("ids,expected_ids,expected_flags", [
    (["a", "b"], ["a", "b"], [[], []]),
    (["a", "b", "a"], ["b", "a"], [[], ["duplicate_span_id:1"]]),
    (["a", "a", "a"], ["a"], [["duplicate_span_id:2"]]),
])
def test_dedupe_keeps_the_later_copy(ids, expected_ids, expected_flags) -> None:
    spans = [_span(i, name=f"copy{n}") for n, i in enumerate(ids)]
    out = dedupe(spans)
    assert [s["span_id"] for s, _ in out] == expected_ids
    assert [f for _, f in out] == expected_flags
    if ids == ["a", "a", "a"]:
        assert out[0][0]["name"] == "copy2"


def test_dedupe_keys_on_trace_and_span_id() -> None:
    spans = [_span("a"), _span("a", trace_id="1" * 32)]
    assert len(dedupe(spans)) == 2


@pytest.mark.parametrize("start,end,expected_start,expected_end,flags", [
    (NOW - 5, NOW, NOW - 5, NOW, []),
    (NOW, NOW - 5, NOW, NOW, ["end_before_start"]),
    (NOW - 5, 0, NOW - 5, NOW - 5, ["end_time_missing"]),
    (0, 0, NOW, NOW, ["start_time_missing", "end_time_missing"]),
    (0, NOW - 5, NOW, NOW, ["start_time_missing", "end_before_start"]),
    (NOW + 2 * NS_PER_DAY, NOW + 2 * NS_PER_DAY, NOW + 2 * NS_PER_DAY, NOW + 2 * NS_PER_DAY,
     ["timestamp_out_of_range"]),
    (NOW - 31 * NS_PER_DAY, NOW, NOW - 31 * NS_PER_DAY, NOW, ["timestamp_out_of_range"]),
    (NOW - 29 * NS_PER_DAY, NOW, NOW - 29 * NS_PER_DAY, NOW, []),
    (2**64 - 1, 2**64 - 1, 2**63 - 1, 2**63 - 1, ["timestamp_clamped", "timestamp_out_of_range"]),
])
def test_fix_timestamps(start, end, expected_start, expected_end, flags) -> None:
    assert fix_timestamps(start, end, Limits(), now_ns=NOW) == (expected_start, expected_end, flags)


def test_limit_attributes_keeps_the_first_n() -> None:
    attrs = {f"k{i}": i for i in range(10)}
    out = limit_attributes(attrs, Limits(max_attributes=3))
    assert out == {"k0": 0, "k1": 1, "k2": 2}


def _nested(depth: int) -> object:
    value: object = "leaf"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("depth,flattened", [(8, False), (9, True), (40, True)])
def test_limit_value_flattens_nesting_past_eight_levels(depth, flattened) -> None:
    out = limit_value(_nested(depth), Limits())
    inner = out
    for _ in range(8):
        assert isinstance(inner, list)
        inner = inner[0]
    if flattened:
        assert isinstance(inner, str) and json.loads(inner) == _nested(depth - 8)
    else:
        assert inner == "leaf"


def test_limit_value_truncates_strings_at_any_depth() -> None:
    out = limit_value({"a": ["x" * 50]}, Limits(max_value_bytes=10))
    assert out == {"a": ["x" * 10 + "…[truncated 40 bytes]"]}


@pytest.mark.parametrize("fields,limits,expected_flags", [
    ({}, Limits(), []),
    ({"attributes": {f"k{i}": "v" for i in range(7)}}, Limits(max_attributes=5), ["attributes_dropped:2"]),
    ({"resource": {f"k{i}": "v" for i in range(7)}}, Limits(max_attributes=5), ["resource_attributes_dropped:2"]),
    ({"attributes": {"a": "x" * 20, "b": "y" * 20}}, Limits(max_value_bytes=10), ["value_truncated:2"]),
    ({"name": "n" * 20}, Limits(max_value_bytes=10), ["value_truncated:1"]),
    ({"attributes": {"deep": _nested(10)}}, Limits(), ["nested_value_flattened:1"]),
    ({"events": [{"time_ns": 1, "name": "e", "attributes": {}}] * 1005}, Limits(), ["events_dropped:5"]),
    ({"links": [{"trace_id": TRACE, "span_id": "1" * 16, "attributes": {}}] * 1001}, Limits(), ["links_dropped:1"]),
    ({"parent_span_id": "0" * 16}, Limits(), ["parent_span_id_zero"]),
    ({"events": [{"time_ns": 2**64 - 1, "name": "e", "attributes": {}}]}, Limits(), ["event_timestamp_clamped:1"]),
    ({"start_ns": 0, "end_ns": 0}, Limits(), ["start_time_missing", "end_time_missing"]),
])
def test_limit_span_flags(fields, limits, expected_flags) -> None:
    span, flags = limit_span(_span(**fields), limits, now_ns=NOW)
    assert flags == expected_flags
    assert len(span["events"]) <= limits.max_events and len(span["links"]) <= limits.max_links


def test_limit_span_does_not_mutate_its_input() -> None:
    resource = {f"k{i}": "x" * 30 for i in range(5)}
    raw = _span(resource=resource, attributes={"a": "x" * 30})
    limit_span(raw, Limits(max_attributes=2, max_value_bytes=5), now_ns=NOW)
    assert raw["resource"] is resource and len(resource) == 5 and raw["attributes"]["a"] == "x" * 30


@pytest.mark.parametrize("column,value,expected,flag", [
    ("InputText", "x" * 200, "x" * 10 + "…[truncated 190 bytes]", "text_truncated:InputText"),
    ("InputTokens", 2**70, 2**64 - 1, "number_clamped:InputTokens"),
    ("OutputTokens", -3, 0, "number_clamped:OutputTokens"),
    ("CostUsd", math.inf, 0.0, "number_clamped:CostUsd"),
    ("CostUsd", math.nan, 0.0, "number_clamped:CostUsd"),
])
def test_limit_row(column, value, expected, flag) -> None:
    """Derived texts are cut only when well past the limit (one truncated value plus a
    prefix is left as it is); numbers are clamped to their column types."""
    row = {column: value}
    assert limit_row(row, Limits(max_value_bytes=10)) == [flag]
    assert row[column] == expected


def test_limit_row_leaves_a_text_that_is_one_truncated_value() -> None:
    text = "user: " + truncate_text("x" * 500, 10)[0]
    row = {"InputText": text}
    assert limit_row(row, Limits(max_value_bytes=10)) == [] and row["InputText"] == text


# --- rows_from_spans -----------------------------------------------------------------------


def test_rows_from_spans_rejects_the_request_naming_the_zero_span() -> None:
    with pytest.raises(BadRequest, match=r"span 1 \(name 'bad'\) spanId is all zeros"):
        rows_from_spans([_span(), _span("0" * 16, name="bad")], project="p", prices=PRICES)


def test_rows_from_spans_stores_fixups_and_redactions_on_the_row() -> None:
    conf = Settings(data_dir="/tmp/flightlog-test-unused", max_attributes_per_span=3, max_attribute_value_bytes=100)
    attrs = {"flightlog.input": "key sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z", "b": 1, "c": 2, "d": 3,
             FIXUPS_KEY: "spoofed"}
    rows = rows_from_spans([_span(attributes=attrs), _span(name="later")], project="p", prices=PRICES, settings=conf)
    assert len(rows) == 1 and rows[0]["SpanName"] == "later"
    rows = rows_from_spans([_span(attributes=attrs, start_ns=0, end_ns=0)], project="p", prices=PRICES, settings=conf)
    row = rows[0]
    assert row["SpanAttributes"][FIXUPS_KEY] == "attributes_dropped:2,start_time_missing,end_time_missing"
    assert row["SpanAttributes"][REDACTIONS_KEY] == "api_key=1"
    assert row["InputText"] == "key [REDACTED:api_key]"
    assert row["Timestamp"] // 10**6 == row["IngestTime"] and row["Duration"] == 0


def test_rows_from_spans_redacts_emails_only_when_configured() -> None:
    span = _span(attributes={"flightlog.input": "write to jane@example.com"})
    plain = rows_from_spans([span], project="p", prices=PRICES)[0]
    assert plain["InputText"] == "write to jane@example.com"
    conf = Settings(data_dir="/tmp/flightlog-test-unused", redact_emails=1)
    assert rows_from_spans([span], project="p", prices=PRICES, settings=conf)[0]["InputText"] == \
        "write to [REDACTED:email]"


# Attribute values as decode.any_value produces them, plus what a direct caller might pass.
_scalars = (st.text() | st.text(min_size=1, max_size=40).map(lambda s: s * 500)  # huge strings, cheaply
            | st.integers() | st.booleans() | st.none()
            | st.floats(allow_nan=True, allow_infinity=True)
            | st.sampled_from(["4111 1111 1111 1111", "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z",
                               "-----BEGIN PRIVATE KEY-----", "Bearer ", "eyJ.eyJ.", "api_key=", "\u202e\ufeff\x00",
                               "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "1e400", "-5", "NaN"]))
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=30)
_keys = st.text(max_size=30) | st.sampled_from([
    "gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.usage.input_tokens", "gen_ai.operation.name",
    "llm.input_messages.0.message.content", "input.value", "flightlog.cost.usd", "flightlog.checkpoint.tier",
    "gen_ai.response.finish_reasons", "langfuse.observation.usage_details", "openinference.span.kind",
    "gen_ai.tool.call.arguments", "flightlog.span.type", "gen_ai.system_instructions", "gen_ai.prompt.0.content"])
_attrs = st.dictionaries(_keys, _values, max_size=12)


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(attrs=_attrs, resource=_attrs, event_attrs=_attrs,
       start=st.integers(min_value=0, max_value=2**64 - 1), end=st.integers(min_value=0, max_value=2**64 - 1))
def test_rows_from_spans_never_raises_on_arbitrary_attributes(attrs, resource, event_attrs, start, end) -> None:
    conf = Settings(data_dir="/tmp/flightlog-test-unused", max_attributes_per_span=8,
                    max_attribute_value_bytes=1000, redact_emails=1, redact_phones=1)
    span = _span(attributes=attrs, resource=resource, start_ns=start, end_ns=end,
                 events=[{"time_ns": 1, "name": "gen_ai.user.message", "attributes": event_attrs}])
    rows = rows_from_spans([span, _span("1" * 16, parent_span_id="00f067aa0ba902b7", attributes=attrs)],
                           project="p", prices=PRICES, settings=conf)
    assert len(rows) == 2
    for row in rows:
        assert set(SPAN_COLUMNS) <= set(row) | {"ChainHash"}
        assert 0 <= row["Timestamp"] < 2**63 and 0 <= row["Duration"] < 2**64
        assert 0 <= row["InputTokens"] < 2**64 and 0 <= row["OutputTokens"] < 2**64
        assert math.isfinite(row["CostUsd"])
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in row["SpanAttributes"].items())
        for column in ("InputText", "OutputText", "ToolArgs", "ToolResult"):
            assert len(row[column].encode("utf-8", "surrogatepass")) <= 1000 + MARKER_SLACK_BYTES + 40
