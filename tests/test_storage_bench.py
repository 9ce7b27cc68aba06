"""Tests for the benchmark's workload generator (bench/generator.py): deterministic, exact
sizes, realistic shapes, and requests the collector's decoder accepts."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from generator import RARE_WORDS, Generator, Workload, encode_request  # noqa: E402

from flightlog.collector.ingest.decode import decode_traces  # noqa: E402
from flightlog.collector.ingest.pipeline import rows_from_spans  # noqa: E402
from flightlog.collector.pricing import load_prices  # noqa: E402


def _spans(n: int, seed: int = 7) -> tuple[list[dict], Generator]:
    gen = Generator(Workload(spans=n, seed=seed))
    return [s for trace in gen.traces() for s in trace], gen


def test_same_seed_same_spans_and_exact_size() -> None:
    a, _ = _spans(3000)
    b, _ = _spans(3000)
    c, _ = _spans(3000, seed=8)
    assert len(a) == 3000 and a == b and a != c


def test_workload_has_the_shapes_the_queries_need() -> None:
    spans, gen = _spans(20000)
    rows = rows_from_spans(spans, project="p", prices=load_prices())
    llm = [r for r in rows if r["SpanType"] == "llm"]
    assert 500 <= sum(len(r["InputText"]) + len(r["OutputText"]) for r in llm) / len(llm) <= 2000
    assert {r["CostSource"] for r in llm} == {"computed", "unknown"}
    assert len({r["AgentName"] for r in rows}) == 5 and len({r["PromptVersion"] for r in llm}) == 4
    assert 0.005 < sum(r["StatusCode"] == "Error" for r in rows) / len(rows) < 0.05
    assert set(gen.markers.rare_words) == set(RARE_WORDS)
    deep = [r for r in rows if r["TraceId"] == gen.markers.deep_trace_id]
    assert len(deep) == 121 and {r["TraceName"] for r in deep} == {deep[0]["SpanName"]}


def test_encoded_requests_decode_to_the_same_spans() -> None:
    spans, _ = _spans(600)
    decoded = decode_traces(encode_request(spans), "application/x-protobuf")
    assert sorted(d["span_id"] for d in decoded) == sorted(s["span_id"] for s in spans)
