"""Tests for flightlog.ui.format: the UI's pure formatting helpers and figure builders."""
from __future__ import annotations

import csv
import io

import pytest

from flightlog.ui import format as fmt

MARKER = "<script>alert(1)</script><b>bold</b>"


@pytest.mark.parametrize(
    ("usd", "expected"),
    [
        (None, "—"),
        (0, "$0.00"),
        (0.000123456, "$0.000123"),
        (0.0012, "$0.0012"),
        (0.0345, "$0.0345"),
        (0.5, "$0.50"),
        (0.999, "$0.999"),
        (1, "$1.00"),
        (1234.567, "$1,234.57"),
        (-0.25, "-$0.25"),
        (float("nan"), "—"),
    ],
)
def test_format_money(usd, expected):
    assert fmt.format_money(usd) == expected


@pytest.mark.parametrize(
    ("ms", "expected"),
    [
        (None, "—"),
        (0, "0.00 ms"),
        (0.42, "0.42 ms"),
        (1, "1 ms"),
        (999.4, "999 ms"),
        (999.6, "1.00 s"),
        (1234, "1.23 s"),
        (59_999, "1m 00s"),
        (123_456, "2m 03s"),
        (3_725_000, "1h 02m"),
        (-5, "0.00 ms"),
    ],
)
def test_format_duration(ms, expected):
    assert fmt.format_duration(ms) == expected


@pytest.mark.parametrize(("count", "expected"), [(None, "—"), (0, "0"), (1234567, "1,234,567")])
def test_format_tokens(count, expected):
    assert fmt.format_tokens(count) == expected


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        ("2026-01-31T12:34:56.123456789Z", "2026-01-31 12:34:56.123"),
        ("2026-01-31T12:34:56Z", "2026-01-31 12:34:56.000"),
        ("2026-01-31T12:34:56.5+00:00", "2026-01-31 12:34:56.500"),
        ("", "—"),
        (None, "—"),
        ("yesterday", "yesterday"),
    ],
)
def test_format_time(timestamp, expected):
    assert fmt.format_time(timestamp) == expected


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, ("short", False)),
        ("exactly10!", 10, ("exactly10!", False)),
        ("eleven chars", 10, ("eleven ch…", True)),
        (None, 10, ("", False)),
    ],
)
def test_truncate(text, limit, expected):
    assert fmt.truncate(text, limit) == expected


@pytest.mark.parametrize(
    ("text", "query", "width", "expected"),
    [
        ("short   text\nhere", "", 80, "short text here"),
        ("a " * 50 + "refund please " + "b " * 50, "refund", 30, "…a a a a a a refund please b b…"),
        ("a " * 50 + "REFUND please", "refund", 30, "…a a a a a a a a REFUND please"),
        ("x " * 60, "missing", 20, "x x x x x x x x x x…"),
        (None, "q", 20, ""),
    ],
    ids=["collapses-whitespace", "word-in-the-middle", "case-insensitive-at-end", "no-match-from-start", "none"],
)
def test_snippet_centres_on_first_query_word(text, query, width, expected):
    assert fmt.snippet(text, query, width) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', (True, {"a": 1})),
        ("  [1, 2]", (True, [1, 2])),
        ("42", (False, None)),
        ('"just a string"', (False, None)),
        ("{not json", (False, None)),
        (MARKER, (False, None)),
        ("", (False, None)),
        (None, (False, None)),
    ],
)
def test_parse_json_accepts_only_objects_and_arrays(text, expected):
    assert fmt.parse_json(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("<b>x</b>", "&lt;b&gt;x&lt;/b&gt;"),
        ("a & b", "a &amp; b"),
        ("&lt;", "&amp;lt;"),
    ],
)
def test_plotly_text_makes_labels_literal(text, expected):
    assert fmt.plotly_text(text) == expected


@pytest.mark.parametrize(
    ("depths", "expected"),
    [
        ([0], [""]),
        ([0, 1, 1], ["", "├─ ", "└─ "]),
        ([0, 1, 2, 1, 2, 2], ["", "├─ ", "│  └─ ", "└─ ", "   ├─ ", "   └─ "]),
        ([0, 1, 2, 2, 0], ["", "└─ ", "   ├─ ", "   └─ ", ""]),
    ],
)
def test_tree_rows_draw_branches_from_depths(depths, expected):
    spans = [{"depth": d, "span_name": "s", "start_ns": 0} for d in depths]
    assert [row["span"][: -len("s")] for row in fmt.tree_rows(spans)] == expected


def test_tree_rows_offsets_durations_cost_and_status():
    spans = [
        {"depth": 0, "span_name": "root", "span_type": "agent", "start_ns": 1_000_000_000,
         "duration_ms": 2500.0, "status_code": "Ok"},
        {"depth": 1, "span_name": "llm", "span_type": "llm", "start_ns": 1_250_000_000,
         "duration_ms": 40.0, "cost_usd": 0.0012, "status_code": "Error"},
    ]
    assert fmt.tree_rows(spans) == [
        {"span": "root", "type": "agent", "start": "0.00 ms", "duration": "2.50 s", "cost": "", "status": "ok"},
        {"span": "└─ llm", "type": "llm", "start": "250 ms", "duration": "40 ms", "cost": "$0.0012", "status": "error"},
    ]


def test_result_rows_one_row_per_span_with_link_and_snippets():
    span = {
        "trace_id": "ab" * 16, "span_id": "cd" * 8, "timestamp": "2026-01-31T12:00:00.5Z",
        "span_type": "llm", "span_name": "chat", "agent_name": "bot", "request_model": "gpt-4o",
        "response_model": "gpt-4o-2024", "prompt_version": "v2", "input_tokens": 10,
        "output_tokens": 5, "cost_usd": 0.01, "duration_ms": 12.5, "status_code": "Unset",
        "input_text": MARKER, "output_text": "",
    }
    (row,) = fmt.result_rows([span], "")
    assert row == {
        "time": "2026-01-31 12:00:00.500", "type": "llm", "name": "chat", "agent": "bot",
        "model": "gpt-4o-2024", "prompt version": "v2", "tokens": 15, "cost": 0.01,
        "duration ms": 12.5, "status": "unset",
        "trace": f"trace?trace_id={'ab' * 16}&span_id={'cd' * 8}",
        "input": MARKER, "output": "",
    }


def test_result_rows_fall_back_to_tool_text():
    (row,) = fmt.result_rows([{"tool_args": '{"id": 1}', "tool_result": "ok"}])
    assert (row["input"], row["output"]) == ('{"id": 1}', "ok")


def test_span_properties_leave_out_empty_fields_and_keep_text_as_is():
    span = {
        "span_name": MARKER, "span_type": "checkpoint", "status_code": "Error",
        "status_message": "denied", "checkpoint_tier": 2, "checkpoint_decision": "rejected",
        "approver": "alice", "violation": "budget", "cost_usd": 0.5, "cost_source": "client",
        "input_tokens": 0, "output_tokens": 0, "provider": "",
    }
    assert fmt.span_properties(span) == [
        ("span", MARKER),
        ("type", "checkpoint"),
        ("status", "error: denied"),
        ("started", "—"),
        ("latency", "—"),
        ("cost", "$0.50 (client)"),
        ("checkpoint tier", "2"),
        ("checkpoint decision", "rejected"),
        ("approver", "alice"),
        ("violation", "budget"),
    ]


def test_span_properties_name_the_llm_call_that_decided_a_step():
    span = {"span_name": "execute_tool refund", "span_type": "tool", "span_attributes": {
        "flightlog.decided_by.model": "gpt-4o-mini", "flightlog.decided_by.prompt.id": "triage",
        "flightlog.decided_by.prompt.version": "7", "flightlog.decided_by.span_id": "00f067aa0ba902b7"}}
    assert ("decided by", "gpt-4o-mini · triage@7 · span 00f067aa0ba902b7") in fmt.span_properties(span)
    assert not any(name == "decided by" for name, _ in fmt.span_properties({"span_attributes": {"x": 1}}))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("gpt-4o", "gpt-4o"),
        ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
        ("+1", "'+1"),
        ("-cmd", "'-cmd"),
        ("@SUM(A1)", "'@SUM(A1)"),
        (-1.5, "-1.5"),
        (None, ""),
    ],
)
def test_csv_bytes_guards_formula_cells(value, expected):
    data = fmt.csv_bytes([{"model": value, "calls": 2}], ["model", "calls"])
    assert list(csv.reader(io.StringIO(data.decode("utf-8")))) == [["model", "calls"], [expected, "2"]]


def test_csv_bytes_of_no_rows_is_empty():
    assert fmt.csv_bytes([]) == b"\n"


def test_dated_snapshots_are_added_to_their_model_and_no_model_is_named():
    rows = [{"day": "d", "model": "gpt-4o-mini-2024-07-18", "cost_usd": 1.0, "calls": 1, "input_tokens": 1,
             "output_tokens": 1},
            {"day": "d", "model": "gpt-4o-mini", "cost_usd": 2.0, "calls": 1, "input_tokens": 1, "output_tokens": 1},
            {"day": "d", "model": "", "cost_usd": 0.5, "calls": 0, "input_tokens": 0, "output_tokens": 0}]
    grouped = {r["model"]: r for r in fmt.group_models(rows)}
    assert grouped["gpt-4o-mini"]["cost_usd"] == 3.0 and grouped["gpt-4o-mini"]["snapshots"] == "gpt-4o-mini-2024-07-18"
    assert grouped[fmt.NO_MODEL]["cost_usd"] == 0.5
    apart = {r["model"] for r in fmt.group_models(rows, snapshots=False)}
    assert apart == {"gpt-4o-mini-2024-07-18", "gpt-4o-mini", fmt.NO_MODEL}
    assert fmt.model_family("claude-sonnet-4-20250514") == "claude-sonnet-4"


def test_trace_rows_show_status_and_link_the_session():
    (row,) = fmt.trace_rows([{"trace_id": "ab" * 16, "name": "invoke_agent bot", "agent": "bot",
                              "agent_version": "1.2", "session": "s-1", "status": "error", "errors": 2,
                              "duration_ms": 1500.0, "started": "2026-01-31T12:00:00.5+00:00",
                              "input": "hello"}])
    assert row["status"] == "✕ error" and row["agent"] == "bot 1.2" and row["duration s"] == 1.5
    assert row["open"] == f"trace?trace_id={'ab' * 16}" and row["session"] == "sessions?session_id=s-1"
    assert row["started"] == "2026-01-31 12:00:00"
