"""Tests for flightlog.ui.charts: the waterfall (Plotly) and the cost and monitoring charts (Vega-Lite)
built from API data."""
from __future__ import annotations

import json
import re

import altair as alt
import pandas as pd
import pytest

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


def _bars(chart) -> dict[int, tuple[float, float]]:
    """Each span's drawn bar: row → (start, width)."""
    return {int(r.row): (float(r.x), float(r.x2) - float(r.x)) for r in chart.data.itertuples()}


def _layer(chart, mark: str) -> dict:
    return next(layer for layer in chart.to_dict()["layer"] if layer["mark"]["type"] == mark)


def test_waterfall_one_bar_per_span_in_tree_order():
    chart = charts.waterfall_figure(_trace())
    assert _bars(chart) == {0: (0.0, 100.0), 1: (10.0, 50.0), 2: (70.0, 100.0 * charts.MIN_BAR_FRACTION)}
    bars = _layer(chart, "bar")
    assert bars["encoding"]["y"]["sort"] == list(chart.data["lane"]), "top to bottom in tree order"
    assert bars["encoding"]["x2"]["field"] == "x2"


def test_waterfall_colours_by_span_type_and_marks_errors():
    chart = charts.waterfall_figure(_trace())
    colour = _layer(chart, "bar")["encoding"]["color"]["scale"]
    assert dict(zip(colour["domain"], colour["range"])) == {t: charts.SPAN_TYPE_COLOURS[t] for t in ("agent", "llm", "tool")}
    stroke = _layer(chart, "bar")["encoding"]["stroke"]
    assert stroke["condition"][0] == {"test": "datum.error", "value": charts.ERROR_COLOUR}
    assert list(chart.data["error"]) == [False, False, True]
    cross = _layer(chart, "point")
    assert cross["mark"]["color"] == charts.ERROR_COLOUR and cross["encoding"]["x"]["field"] == "end"
    assert float(chart.data["end"][2]) == 70.0


def test_waterfall_labels_show_span_names_literally():
    chart = charts.waterfall_figure(_trace())
    assert [lane[6:] for lane in chart.data["lane"]] == ["agent <i>run</i>", "├─ chat", "└─ lookup"]
    axis = _layer(chart, "bar")["encoding"]["y"]["axis"]
    assert axis["labelExpr"] == "slice(datum.value, 6)", "the label drawn is the lane without its row number"
    assert "<i>" not in json.dumps(axis), "no span text inside an expression"


def test_waterfall_of_empty_trace_has_no_bars():
    assert charts.waterfall_figure({"spans": []}).data.empty


def test_a_click_on_a_bar_selects_its_row():
    spec = charts.waterfall_figure(_trace()).to_dict()
    (param,) = spec["params"]
    assert param["name"] == charts.SELECTION and param["select"]["fields"] == ["row"]
    assert param["views"] == [_layer(charts.waterfall_figure(_trace()), "bar")["name"]], "on the bars"
    assert param["select"]["on"] == "click"


def _rows(chart) -> list[tuple]:
    return [tuple(r) for r in chart.data.itertuples(index=False)]


def test_cost_by_day_chart_stacks_the_models_largest_first():
    rows = [
        {"day": "2026-01-02", "model": "b", "cost_usd": 1.0},
        {"day": "2026-01-01", "model": "a", "cost_usd": 0.5},
        {"day": "2026-01-02", "model": "a", "cost_usd": 0.25},
        {"day": "2026-01-02", "model": "<b>m</b>", "cost_usd": 3.0},
    ]
    chart = charts.cost_by_day_figure(rows)
    spec = chart.to_dict()
    assert spec["mark"]["type"] == "bar" and spec["encoding"]["y"]["stack"] == "zero"
    assert spec["encoding"]["color"]["sort"] == ["<b>m</b>", "b", "a"], "the largest model first, its name as text"
    assert [(d, m, c) for d, m, c, _ in _rows(chart)] == [
        ("2026-01-01", "<b>m</b>", 0.0), ("2026-01-02", "<b>m</b>", 3.0),
        ("2026-01-01", "b", 0.0), ("2026-01-02", "b", 1.0),
        ("2026-01-01", "a", 0.5), ("2026-01-02", "a", 0.25),
    ]


def test_cost_by_day_chart_draws_the_daily_budget_as_a_dashed_line():
    chart = charts.cost_by_day_figure([{"day": "2026-01-01", "model": "m", "cost_usd": 1.0}], 2.5)
    layers = chart.to_dict()["layer"]
    (rule,) = [layer for layer in layers if layer["mark"]["type"] == "rule"]
    assert rule["mark"]["strokeDash"] and chart.layer[1].data["budget"].tolist() == [2.5]
    assert chart.layer[2].data["label"].tolist() == ["daily budget $2.50"]
    assert [layer["mark"]["type"] for layer in charts.cost_by_day_figure([], 0).to_dict().get("layer", [])] == []


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
    chart = charts.waterfall_figure(_waiting_trace())
    bars = _bars(chart)
    work_a, wait, work_b = bars[1][1], bars[2][1], bars[3][1]
    assert work_a == 3000.0 and work_b == 2000.0, "work keeps its scale"
    drawn_total = bars[0][1]
    assert wait <= 0.05 * drawn_total < 0.05 * 1_110_000, f"the 18-minute wait is drawn shortened: {bars}"
    assert bars[3][0] == work_a + wait, "what follows the wait starts where the shortened wait ends"
    spec = chart.to_dict()
    (gap,) = [layer for layer in spec["layer"] if layer["mark"] == {"type": "rect", "color": charts.IDLE_FILL}]
    texts = [layer for layer in spec["layer"] if layer["mark"]["type"] == "text"]
    assert len(texts) == 1 and "18m 00s idle" in json.dumps(spec["datasets"])
    axis = _layer(chart, "bar")["encoding"]["x"]["axis"]
    assert '"18m 30s"' in axis["labelExpr"], "the axis says the real end"
    plain = charts.waterfall_figure(_waiting_trace(), compress=False).to_dict()
    assert not [layer for layer in plain["layer"] if layer["mark"] == {"type": "rect", "color": charts.IDLE_FILL}]


def test_waterfall_marks_the_selected_span():
    chart = charts.waterfall_figure(_trace(), selected=1)
    lanes = list(chart.data["lane"])
    assert lanes[1][6:].startswith("▶ ") and not lanes[0][6:].startswith("▶")
    assert list(chart.data["selected"]) == [False, True, False]
    band = next(layer for layer in chart.to_dict()["layer"] if layer["mark"].get("color") == charts.SELECTED_FILL)
    assert band["transform"] == [{"filter": "datum.selected"}], "the band spans the selected row only"
    assert _layer(chart, "bar")["encoding"]["strokeWidth"]["condition"][0]["value"] == 3


def test_duration_units_follow_the_values():
    assert charts.duration_unit([120.0, 900.0]) == (1.0, "ms")
    assert charts.duration_unit([3000.0, 5400.0]) == (1000.0, "s")
    assert charts.duration_unit([1_111_277.0]) == (60_000.0, "min")


def test_every_bucket_leaves_days_without_data_as_gaps():
    rows = [{"time": "2026-11-01T00:00:00+00:00", "group": "", "success_rate": 1.0},
            {"time": "2026-11-04T00:00:00+00:00", "group": "", "success_rate": 0.5}]
    chart = charts.series_figure(rows, "success_rate", y_title="success", percent=True, bucket="day")
    values = chart.data["value"].tolist()
    assert len(values) == 4 and values[0] == 1.0 and values[3] == 0.5
    assert all(v != v for v in values[1:3]), "the two days without data are missing values"
    spec = chart.to_dict()
    assert spec["mark"]["invalid"] is None, "a missing value breaks the line (not filtered out and joined across)"
    assert spec["encoding"]["y"]["axis"]["format"] == ".0%"


def test_top_groups_keep_the_largest_and_add_up_the_rest_as_other():
    rows = [{"time": "t", "group": f"g{i}", "units": 10 * (i + 1), "success_rate": 1.0 if i < 5 else 0.0}
            for i in range(9)]
    merged = charts.top_groups(rows, "success_rate", limit=4)
    groups = {r["group"] for r in merged}
    assert groups == {"g8", "g7", "g6", "g5", "other"}
    (other,) = [r for r in merged if r["group"] == "other"]
    assert other["units"] == 10 + 20 + 30 + 40 + 50 and other["success_rate"] == 1.0, "a units-weighted mean"
    scale = charts.series_figure(rows, "success_rate", y_title="s", legend="agent").to_dict()["encoding"]["color"]["scale"]
    colours = scale["range"]
    assert len(set(colours)) == len(colours) == charts.TOP_GROUPS + 1 and colours[-1] == charts.OTHER_COLOUR
    assert scale["domain"][-1] == "other"


def test_latency_leaves_out_waits_for_people_when_the_api_has_them():
    rows = [{"time": "2026-11-17T00:00:00+00:00", "group": "", "latency_p50_ms": 3251.0,
             "latency_p95_ms": 1_111_277.0, "latency_p99_ms": 1_111_277.0, "agent_latency_p50_ms": 3000.0,
             "agent_latency_p95_ms": 5503.0, "agent_latency_p99_ms": 5600.0, "human_waits": 1,
             "human_wait_p50_ms": 1_105_685.0, "human_wait_p95_ms": 1_105_685.0}]
    chart = charts.latency_figure(rows)
    assert chart.to_dict()["encoding"]["y"]["title"] == "agent latency, waits for people excluded (s)"
    assert _rows(chart) == [("2026-11-17T00:00:00+00:00", "p50", 3.0), ("2026-11-17T00:00:00+00:00", "p95", 5.503),
                            ("2026-11-17T00:00:00+00:00", "p99", 5.6)]
    wait = charts.human_wait_figure(rows)
    assert wait.to_dict()["encoding"]["y"]["title"] == "time waiting for a person (min)"
    p95 = wait.data[wait.data["series"] == "p95"]
    assert round(float(p95["value"].iloc[0]), 1) == 18.4 and int(p95["waits"].iloc[0]) == 1


def test_a_chart_drawn_on_a_page_has_the_same_spec_and_skips_only_the_schema_check():
    def spec(chart) -> str:  # view and parameter names are numbered per process: not part of the spec
        return re.sub(r"(view|param)_\d+", r"\1_N", json.dumps(chart.to_dict(), sort_keys=True))

    for build in (lambda: charts.waterfall_figure(_trace(), selected=1),
                  lambda: charts.cost_by_day_figure([{"day": "2026-12-01", "model": "gpt-4o", "cost_usd": 0.5}], 1.0)):
        assert spec(charts.for_page(build())) == spec(build())
    broken = alt.Chart(pd.DataFrame({"x": [1]})).mark_bar().encode(x=alt.X("x:Q", bin="not a bin"))
    with pytest.raises(Exception, match="bin"):
        broken.to_dict()  # what the tests above rely on: a builder's mistake fails to_dict()
    assert charts.for_page(broken).to_dict()["encoding"]["x"]["bin"] == "not a bin"
