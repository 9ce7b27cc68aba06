"""Tests for flightlog.collector.ingest.pipeline: rows built from decoded spans."""

from __future__ import annotations

import pytest

from flightlog.collector.ingest.decode import decode_traces
from flightlog.collector.ingest.pipeline import inherit_trace_facts, rows_from_spans
from flightlog.collector.pricing import load_prices

from conftest import fixture_bytes


def _row(span_id: str, parent: str = "", **facts: str) -> dict:
    return {"TraceId": "t", "SpanId": span_id, "ParentSpanId": parent, **facts}


@pytest.mark.parametrize(
    "rows,expected_agent_of_c",
    [
        ([_row("a", AgentName="bot"), _row("b", "a"), _row("c", "b")], "bot"),  # grandparent
        ([_row("a", AgentName="bot"), _row("b", "a", AgentName="sub"), _row("c", "b")], "sub"),  # nearest wins
        ([_row("c", "b"), _row("b", "a"), _row("a", AgentName="bot")], "bot"),  # children first in the request
        ([_row("c", "zz")], ""),  # parent not in this request
        ([_row("a", "c"), _row("c", "a")], ""),  # a parent cycle ends
        ([_row("a", AgentName="bot"), _row("c", "a", AgentName="own")], "own"),  # own value kept
    ],
)
def test_inherit_trace_facts_takes_the_nearest_ancestors_value(rows, expected_agent_of_c) -> None:
    inherit_trace_facts(rows)
    assert next(r for r in rows if r["SpanId"] == "c").get("AgentName", "") == expected_agent_of_c


def test_fixture_children_inherit_the_agent_name_of_the_root() -> None:
    raw = decode_traces(fixture_bytes("otel-genai-openai-v2.pb"), "application/x-protobuf")
    rows = rows_from_spans(raw, project="p", prices=load_prices())
    assert {r["AgentName"] for r in rows} == {"refund-bot"}
    assert all(r["Project"] == "p" and r["IngestTime"] > 0 for r in rows)
    assert all(r["CostSource"] == "computed" for r in rows if r["InputTokens"])
