"""Tests for flightlog.ui.charts: the waterfall and cost figures built from API data."""
from __future__ import annotations

from flightlog.ui import charts


def _trace():
    return {
        "spans": [
            {"span_id": "1", "depth": 0, "span_name": "agent <i>run</i>", "span_type": "agent",
             "start_ns": 5_000_000_000, "duration_ms": 100.0, "status_code": "Ok"},
            {"span_id": "2", "depth": 1, "span_name": "chat", "span_type": "llm",
             "start_ns": 5_010_000_000, "duration_ms": 50.0, "status_code": "Ok"},
            {"span_id": "3", "depth": 1, "span_name": "lookup", "span_type": "tool",
             "start_ns": 5_070_000_000, "duration_ms": 0.0, "status_code": "Error"},
        ]
    }


def test_waterfall_one_bar_per_span_in_tree_order():
    fig = charts.waterfall_figure(_trace())
    bars = [t for t in fig.data if t.type == "bar" and t.y != (None,)]
    placed = sorted((y, base, width) for t in bars for y, base, width in zip(t.y, t.base, t.x))
    assert placed == [(0, 0.0, 100.0), (1, 10.0, 50.0), (2, 70.0, 100.0 * charts.MIN_BAR_FRACTION)]
    assert {t.name for t in bars} == {"agent", "llm", "tool"}
    assert fig.layout.yaxis.autorange == "reversed"


def test_waterfall_colours_by_span_type_and_marks_errors():
    fig = charts.waterfall_figure(_trace())
    tool = next(t for t in fig.data if t.type == "bar" and t.name == "tool" and t.y != (None,))
    assert tool.marker.color == charts.SPAN_TYPE_COLOURS["tool"]
    assert tool.marker.line.color == (charts.ERROR_COLOUR,)
    (errors,) = [t for t in fig.data if t.type == "scatter"]
    assert (errors.y, errors.x) == ((2,), (70.0,))


def test_waterfall_labels_show_span_names_literally():
    fig = charts.waterfall_figure(_trace())
    assert fig.layout.yaxis.ticktext == ("agent &lt;i&gt;run&lt;/i&gt;", "├─ chat", "└─ lookup")
    assert fig.layout.yaxis.tickvals == (0, 1, 2)


def test_waterfall_of_empty_trace_has_no_bars():
    assert [t for t in charts.waterfall_figure({"spans": []}).data if t.type == "bar"] == []


def test_cost_by_day_figure_stacks_one_bar_trace_per_model():
    rows = [
        {"day": "2026-01-02", "model": "b", "cost_usd": 1.0},
        {"day": "2026-01-01", "model": "a", "cost_usd": 0.5},
        {"day": "2026-01-02", "model": "a", "cost_usd": 0.25},
        {"day": "2026-01-02", "model": "<b>m</b>", "cost_usd": 3.0},
    ]
    fig = charts.cost_by_day_figure(rows)
    assert fig.layout.barmode == "stack"
    assert [(t.name, t.x, t.y) for t in fig.data] == [
        ("&lt;b&gt;m&lt;/b&gt;", ("2026-01-01", "2026-01-02"), (0.0, 3.0)),
        ("b", ("2026-01-01", "2026-01-02"), (0.0, 1.0)),
        ("a", ("2026-01-01", "2026-01-02"), (0.5, 0.25)),
    ]
