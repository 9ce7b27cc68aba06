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


# -- what the engineer at 3 AM needs to read at a glance -------------------------------------------


def _waiting_trace():
    """A run of 18m 30s: 3 s of work, an 18-minute checkpoint wait (a person), 2 s of work."""
    s = 1_000_000_000
    return {"spans": [
        {"span_id": "r", "depth": 0, "span_name": "run", "span_type": "agent", "start_ns": 0,
         "duration_ms": 1_110_000.0, "status_code": "Ok"},
        {"span_id": "a", "depth": 1, "span_name": "chat", "span_type": "llm", "start_ns": 0,
         "duration_ms": 3000.0, "status_code": "Ok"},
        {"span_id": "w", "depth": 1, "span_name": "checkpoint", "span_type": "checkpoint", "start_ns": 3 * s,
         "duration_ms": 1_080_000.0, "status_code": "Ok"},
        {"span_id": "b", "depth": 1, "span_name": "refund", "span_type": "tool", "start_ns": 1083 * s,
         "duration_ms": 2000.0, "status_code": "Ok"},
    ]}


def test_waterfall_shortens_a_long_idle_wait_and_keeps_real_times_on_the_axis():
    fig = charts.waterfall_figure(_waiting_trace())
    bars = {y: (base, width) for t in fig.data if t.type == "bar" and t.y != (None,)
            for y, base, width in zip(t.y, t.base, t.x, strict=True)}
    work_a, wait, work_b = bars[1][1], bars[2][1], bars[3][1]
    assert work_a == 3000.0 and work_b == 2000.0, "work keeps its scale"
    drawn_total = bars[0][1]
    assert wait <= 0.05 * drawn_total < 0.05 * 1_110_000, f"the 18-minute wait is drawn shortened: {bars}"
    assert bars[3][0] == work_a + wait, "what follows the wait starts where the shortened wait ends"
    (gap,) = [s for s in fig.layout.shapes if s.type == "rect" and s.fillcolor.startswith("rgba(120")]
    assert any("18m 00s idle" in a.text for a in fig.layout.annotations)
    assert "18m 30s" in fig.layout.xaxis.ticktext, "the axis says the real end"
    plain = charts.waterfall_figure(_waiting_trace(), compress=False)
    assert not [s for s in plain.layout.shapes if str(s.fillcolor).startswith("rgba(120")]


def test_waterfall_marks_the_selected_span():
    fig = charts.waterfall_figure(_trace(), selected=1)
    assert fig.layout.yaxis.ticktext[1].startswith("▶ ") and not fig.layout.yaxis.ticktext[0].startswith("▶")
    (band,) = [s for s in fig.layout.shapes if s.fillcolor == charts.SELECTED_FILL]
    assert (band.y0, band.y1) == (0.5, 1.5)


def test_duration_units_follow_the_values():
    assert charts.duration_unit([120.0, 900.0]) == (1.0, "ms")
    assert charts.duration_unit([3000.0, 5400.0]) == (1000.0, "s")
    assert charts.duration_unit([1_111_277.0]) == (60_000.0, "min")


def test_every_bucket_leaves_days_without_data_as_gaps():
    rows = [{"time": "2026-11-01T00:00:00+00:00", "group": "", "success_rate": 1.0},
            {"time": "2026-11-04T00:00:00+00:00", "group": "", "success_rate": 0.5}]
    fig = charts.series_figure(rows, "success_rate", y_title="success", percent=True, bucket="day")
    (line,) = fig.data
    assert len(line.x) == 4 and list(line.y) == [1.0, None, None, 0.5] and line.connectgaps is False


def test_top_groups_keep_the_largest_and_add_up_the_rest_as_other():
    rows = [{"time": "t", "group": f"g{i}", "units": 10 * (i + 1), "success_rate": 1.0 if i < 5 else 0.0}
            for i in range(9)]
    merged = charts.top_groups(rows, "success_rate", limit=4)
    groups = {r["group"] for r in merged}
    assert groups == {"g8", "g7", "g6", "g5", "other"}
    (other,) = [r for r in merged if r["group"] == "other"]
    assert other["units"] == 10 + 20 + 30 + 40 + 50 and other["success_rate"] == 1.0, "a units-weighted mean"
    fig = charts.series_figure(rows, "success_rate", y_title="s", legend="agent")
    colours = [t.line.color for t in fig.data]
    assert len(set(colours)) == len(colours) == charts.TOP_GROUPS + 1 and colours[-1] == charts.OTHER_COLOUR


def test_latency_leaves_out_waits_for_people_when_the_api_has_them():
    rows = [{"time": "2026-11-17T00:00:00+00:00", "group": "", "latency_p50_ms": 3251.0,
             "latency_p95_ms": 1_111_277.0, "latency_p99_ms": 1_111_277.0, "agent_latency_p50_ms": 3000.0,
             "agent_latency_p95_ms": 5503.0, "agent_latency_p99_ms": 5600.0, "human_waits": 1,
             "human_wait_p50_ms": 1_105_685.0, "human_wait_p95_ms": 1_105_685.0}]
    fig = charts.latency_figure(rows)
    assert fig.layout.yaxis.title.text == "agent latency, waits for people excluded (s)"
    assert [t.y[0] for t in fig.data] == [3.0, 5.503, 5.6]
    wait = charts.human_wait_figure(rows)
    assert wait.layout.yaxis.title.text == "time waiting for a person (min)"
    assert round(wait.data[1].y[0], 1) == 18.4
