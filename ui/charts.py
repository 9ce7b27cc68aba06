"""Charts for the pages, built from plain API data (docs/contracts.md, "HTTP API answers").

Pure functions: data in, a Vega-Lite chart (``altair``, drawn by ``st.altair_chart``) out.
Streamlit's Vega bundle is a fraction of Plotly's, so the chart pages load seconds sooner
(docs/decisions/0043-vega-charts-for-fast-pages.md). Vega draws labels and tooltips as text,
never HTML, so span names need no escaping. Each chart's rows are ``chart.data``.

Channels are given as altair objects (``alt.X2("x2:Q")``, ``alt.XValue(0)``,
``alt.StrokeValue(**alt.when(…)…)``), never as shorthand strings, bare ``alt.value`` or a
bare ``alt.when`` chain: altair resolves those by searching its whole schema on every call,
2–10 ms each, and the Trace page draws its waterfall on every run (49 → 30 ms a waterfall,
measured 2026-12-02; the spec is the same).

Pages draw a chart through :func:`for_page`, which skips the schema check Streamlit's
``to_dict()`` runs on every page run; tests/test_ui_charts.py checks every builder's spec.
"""
from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
import pandas as pd

from flightlog.ui.format import (
    format_duration,
    is_error,
    span_status,
    start_ns,
    tree_rows,
    truncate,
)

__all__ = [
    "ERROR_COLOUR", "MIN_BAR_FRACTION", "QUANTILES", "SPAN_TYPE_COLOURS", "TOP_GROUPS", "bar_figure",
    "cost_by_day_figure", "duration_unit", "every_bucket", "for_page", "human_wait_figure", "latency_figure", "series_figure",
    "tool_errors_figure", "top_groups", "waterfall_figure", "waterfall_rows",
]


def for_page(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    """``chart`` as a page draws it: the same spec, serialised without checking it against the
    Vega-Lite schema. Streamlit calls ``to_dict()``, whose check took a third of a waterfall's
    time on every page run (32 → 22 ms, measured 2026-12-02); the builders' specs are checked by
    the tests instead."""
    object.__setattr__(chart, "to_dict", functools.partial(chart.to_dict, validate=False))
    return chart


SPAN_TYPE_COLOURS = {
    "agent": "#4C78A8",
    "llm": "#F58518",
    "tool": "#54A24B",
    "retrieval": "#B279A2",
    "checkpoint": "#EECA3B",
    "embedding": "#72B7B2",
    "other": "#9D9D9D",
}
ERROR_COLOUR = "#D62728"
MIN_BAR_FRACTION = 0.005
"""Shortest bar drawn, as a fraction of the trace's length (the hover shows the real duration)."""


IDLE_GAP_MS = 10_000.0
"""A stretch this long (and over a fifth of the trace) in which only the enclosing spans run is
drawn shortened on the waterfall, so a run that waited 18 minutes for a person does not squash
its 5 seconds of work into a sliver."""
IDLE_SHOWN = 0.04
"""The width a shortened gap keeps, as a fraction of the drawn timeline."""


def idle_gaps(intervals: Sequence[tuple[float, float]], total: float) -> list[tuple[float, float]]:
    """Stretches of ``[0, total]`` (ms) that no interval covers, long enough to shorten."""
    gaps, reach = [], 0.0
    for lo, hi in sorted(intervals):
        if lo - reach >= max(IDLE_GAP_MS, 0.2 * total):
            gaps.append((reach, lo))
        reach = max(reach, hi)
    if total - reach >= max(IDLE_GAP_MS, 0.2 * total):
        gaps.append((reach, total))
    return gaps


class Timeline:
    """Real ms since the trace's start → drawn x, with the idle gaps shortened."""

    def __init__(self, gaps: Sequence[tuple[float, float]], total: float) -> None:
        self.gaps = list(gaps)
        idle = sum(hi - lo for lo, hi in self.gaps)
        busy = max(total - idle, 1e-9)
        self.shown = busy * IDLE_SHOWN / (1 - IDLE_SHOWN * len(self.gaps)) if self.gaps else 0.0

    def x(self, ms: float) -> float:
        out = ms
        for lo, hi in self.gaps:
            if ms >= hi:
                out -= (hi - lo) - self.shown
            elif ms > lo:
                out -= (ms - lo) * (1 - self.shown / (hi - lo))
        return out


SELECTED_FILL = "rgba(255, 196, 0, 0.25)"
SELECTED_LINE = "#1F1F1F"
IDLE_FILL = "rgba(120, 120, 120, 0.12)"
ROW_PX = 26
"""Height of one span's row on the waterfall."""
SELECTION = "span"
"""The waterfall's click selection: ``state["selection"]["span"] == [{"row": i}]``."""


def _time_ticks(line: Timeline, total: float, count: int = 7) -> tuple[list[float], list[str]]:
    """Tick positions (drawn x) and their labels, the real time since the trace's start."""
    if total <= 0:
        return [], []
    real = sorted({total * i / (count - 1) for i in range(count)} | {lo for lo, _ in line.gaps} | {hi for _, hi in line.gaps})
    kept: list[float] = []
    for r in real:  # drop ticks that would be drawn on top of each other (inside a shortened gap)
        if not kept or line.x(r) - line.x(kept[-1]) >= line.x(total) / (2 * count):
            kept.append(r)
    return [round(line.x(r), 6) for r in kept], [format_duration(r) for r in kept]


def _tick_labels(values: Sequence[float], texts: Sequence[str]) -> str:
    """A Vega expression that names each tick value (our own duration texts, never span data)."""
    expr = "''"
    for value, text in reversed(list(zip(values, texts))):
        expr = f"datum.value == {value!r} ? {json.dumps(text)} : {expr}"
    return expr


def waterfall_rows(spans: Sequence[Mapping[str, Any]], *, selected: int | None = None, label_chars: int = 48,
                   compress: bool = True) -> tuple[pd.DataFrame, Timeline, float]:
    """One row per span, in tree order, as the waterfall draws it: ``row`` (its index),
    ``lane`` (the y value: the row number and the tree label, ``▶`` before the selected span),
    ``x``/``x2`` (drawn start and end), ``end`` (drawn real end, where an error's ✕ goes), and
    the tooltip's texts. Also the timeline (idle gaps) and the real length in ms."""
    origin = min((start_ns(s) for s in spans), default=0)
    labels = [("▶ " if i == selected else "") + truncate(row["span"], label_chars)[0]
              for i, row in enumerate(tree_rows(spans))]
    starts_ms = [(start_ns(s) - origin) / 1e6 for s in spans]
    real_ends = [st + float(s.get("duration_ms") or 0.0) for st, s in zip(starts_ms, spans)]
    total = max(real_ends, default=0.0)
    # The spans that enclose most of the trace (the run itself) do not count as activity.
    busy = [(a, b) for a, b in zip(starts_ms, real_ends) if b - a < 0.8 * total]
    line = Timeline(idle_gaps(busy, total) if compress else [], total)
    ends = [line.x(e) for e in real_ends]
    min_width = max(max(ends, default=0.0) * MIN_BAR_FRACTION, 0.001)
    records = []
    for i, span in enumerate(spans):
        lo, duration = line.x(starts_ms[i]), float(span.get("duration_ms") or 0.0)
        # A very short span still gets a visible, clickable sliver.
        width = max(line.x(starts_ms[i] + duration) - lo, min_width)
        records.append({
            "row": i, "lane": f"{i:05d} {labels[i]}", "span_type": str(span.get("span_type") or "other"),
            "x": lo, "x2": lo + width, "end": ends[i], "name": str(span.get("span_name") or ""),
            "duration": format_duration(duration), "starts_at": "+" + format_duration(starts_ms[i]),
            "status": span_status(span), "error": is_error(span), "selected": i == selected,
        })
    columns = ["row", "lane", "span_type", "x", "x2", "end", "name", "duration", "starts_at", "status", "error",
               "selected"]
    return pd.DataFrame(records, columns=columns), line, total


def waterfall_figure(trace: Mapping[str, Any], *, label_chars: int = 48, selected: int | None = None,
                     compress: bool = True) -> alt.TopLevelMixin:
    """A horizontal-bar waterfall of a trace (Vega-Lite): one bar per span, top to bottom in
    tree order; a click on a bar selects it (:data:`SELECTION`, the span's ``row``).

    ``trace`` is the body of ``GET /api/traces/{id}`` (only ``spans`` is read). The x axis
    is the time since the trace's first start; bars are coloured by span type, and error
    spans get a red outline and a red ✕ at their end. Row ``selected`` (the span shown in
    detail) gets a yellow band across the chart, a dark outline and a ``▶`` before its label.
    With ``compress``, stretches in which only the enclosing spans run (waiting for a person,
    a sleep) are drawn shortened, shaded and marked "⋯ 18m 25s idle ⋯"; the axis and the
    tooltip keep the real times. Labels and tooltips are drawn as text.
    """
    spans = list(trace.get("spans") or [])
    data, line, total = waterfall_rows(spans, selected=selected, label_chars=label_chars, compress=compress)
    lanes = list(data["lane"])
    types = list(dict.fromkeys(data["span_type"]))
    values, texts = _time_ticks(line, total)
    x_title = "since trace start" + (" (idle stretches shortened)" if line.gaps else "")
    x = alt.X("x:Q", title=x_title, scale=alt.Scale(domainMin=0, nice=False),
              axis=alt.Axis(values=values, labelExpr=_tick_labels(values, texts), grid=True) if values else alt.Axis())
    y = alt.Y("lane:N", sort=lanes, title=None,
              axis=alt.Axis(labelExpr="slice(datum.value, 6)", labelLimit=360, labelFontSize=12))
    pick = alt.selection_point(name=SELECTION, fields=["row"], on="click", clear=False, empty=False)
    bars = alt.Chart().mark_bar(height={"band": 0.7}).encode(
        x=x, x2=alt.X2("x2:Q"), y=y,
        color=alt.Color("span_type:N", title=None, sort=types, legend=alt.Legend(orient="top"),
                        scale=alt.Scale(domain=types, range=[SPAN_TYPE_COLOURS.get(t, SPAN_TYPE_COLOURS["other"])
                                                             for t in types])),
        stroke=alt.StrokeValue(**alt.when("datum.error").then(alt.value(ERROR_COLOUR))
                               .when("datum.selected").then(alt.value(SELECTED_LINE))
                               .otherwise(alt.value("transparent"))),
        strokeWidth=alt.StrokeWidthValue(**alt.when("datum.selected").then(alt.value(3)).otherwise(alt.value(2))),
        tooltip=[alt.Tooltip("name:N", title="span"), alt.Tooltip("span_type:N", title="type"),
                 alt.Tooltip("duration:N"), alt.Tooltip("starts_at:N", title="starts at"),
                 alt.Tooltip("status:N")],
    ).add_params(pick)
    layers: list[Any] = []
    if selected is not None and 0 <= selected < len(spans):
        layers.append(alt.Chart().mark_rect(color=SELECTED_FILL, opacity=1).encode(
            y=alt.Y("lane:N", sort=lanes), x=alt.XValue(0), x2=alt.X2Value("width")
        ).transform_filter("datum.selected"))
    if line.gaps:
        gaps = pd.DataFrame([{"x": line.x(lo), "x2": line.x(hi), "text": f"⋯ {format_duration(hi - lo)} idle ⋯"}
                             for lo, hi in line.gaps])
        layers.append(alt.Chart(gaps).mark_rect(color=IDLE_FILL).encode(x=alt.X("x:Q"), x2=alt.X2("x2:Q")))
        layers.append(alt.Chart(gaps).mark_text(baseline="bottom", dy=-4, fontSize=11, color="#555").encode(
            x=alt.X("mid:Q"), y=alt.YValue("height"), text=alt.Text("text:N"))
            .transform_calculate(mid="(datum.x + datum.x2) / 2"))
    layers.append(bars)
    if bool(data["error"].any()) if len(data) else False:
        layers.append(alt.Chart().mark_point(shape="cross", angle=45, size=110, filled=True, color=ERROR_COLOUR,
                                             opacity=1).encode(
            x=alt.X("end:Q"), y=alt.Y("lane:N", sort=lanes)).transform_filter("datum.error"))
    # The height is the whole chart (legend and axis included): rows, plus room for those.
    return alt.layer(*layers, data=data).properties(height=min(ROW_PX * max(len(spans), 1) + 90, 4000))


def cost_by_day_figure(rows: Sequence[Mapping[str, Any]], budget_usd: float = 0.0) -> alt.TopLevelMixin:
    """A stacked bar chart of cost per day, one colour per model (largest first), from
    ``cost(["day", "model"])``. ``budget_usd`` > 0 draws the project's daily cost budget as a
    dashed line."""
    days = sorted({str(r.get("day") or "") for r in rows})
    per_model: dict[str, dict[str, float]] = {}
    for row in rows:
        model = str(row.get("model") or "(no model)")
        day = str(row.get("day") or "")
        per_model.setdefault(model, {})
        per_model[model][day] = per_model[model].get(day, 0.0) + float(row.get("cost_usd") or 0.0)
    models = sorted(per_model, key=lambda m: -sum(per_model[m].values()))
    data = pd.DataFrame([{"day": day, "model": model, "cost_usd": per_model[model].get(day, 0.0), "order": i}
                         for i, model in enumerate(models) for day in days],
                        columns=["day", "model", "cost_usd", "order"])
    bars = alt.Chart(data).mark_bar().encode(
        x=alt.X("day:O", title="day (UTC)", sort=days),
        y=alt.Y("sum(cost_usd):Q", title="cost (USD)", stack="zero", axis=alt.Axis(format="$,.2f")),
        color=alt.Color("model:N", title="model", sort=models, scale=alt.Scale(range=list(PALETTE))),
        order=alt.Order("order:Q"),
        tooltip=[alt.Tooltip("day:O"), alt.Tooltip("model:N"), alt.Tooltip("cost_usd:Q", title="cost", format="$,.4f")],
    )
    if budget_usd <= 0:
        return bars.properties(height=420)
    budget = pd.DataFrame([{"budget": budget_usd, "label": f"daily budget ${budget_usd:,.2f}"}])
    line = alt.Chart(budget).mark_rule(color="#c0392b", strokeDash=[6, 4], size=2).encode(y=alt.Y("budget:Q"))
    label = alt.Chart(budget).mark_text(align="left", dy=-7, color="#c0392b").encode(
        y=alt.Y("budget:Q"), text=alt.Text("label:N"), x=alt.XValue(4))
    return alt.layer(bars, line, label).properties(height=420)


def daily_cost_budget(budgets: Sequence[Mapping[str, Any]]) -> float:
    """The project-wide daily cost budget, or 0 when none is set."""
    return max((float(b.get("max_cost_usd") or 0) for b in budgets if b.get("scope") == "project"), default=0.0)


# -- monitoring -----------------------------------------------------------------------

QUANTILES = ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms")


TOP_GROUPS = 6
"""Lines drawn per chart; the other groups are added up as "other"."""
PALETTE = ("#1F77B4", "#FF7F0E", "#2CA02C", "#D62728", "#9467BD", "#8C564B", "#E377C2", "#17BECF", "#BCBD22")
OTHER_COLOUR = "#9D9D9D"
_STEPS = {"day": dt.timedelta(days=1), "hour": dt.timedelta(hours=1)}


def duration_unit(values_ms: Sequence[float | None]) -> tuple[float, str]:
    """``(divisor, unit)`` that shows these milliseconds in numbers people read: ms, s, min or h."""
    top = max((v for v in values_ms if v is not None), default=0.0)
    for divisor, unit in ((3_600_000.0, "h"), (60_000.0, "min"), (1000.0, "s")):
        if top >= 2 * divisor:
            return divisor, unit
    return 1.0, "ms"


def _parse(time: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(time))
    except ValueError:
        return None


def every_bucket(times: Sequence[Any], bucket: str) -> list[str]:
    """Every bucket start from the first to the last of ``times`` (ISO 8601), so that a bucket
    without data is a gap in a line rather than a segment joining the days around it."""
    parsed = sorted({t for t in (_parse(x) for x in times) if t is not None})
    step = _STEPS.get(bucket)
    if not parsed or step is None or (parsed[-1] - parsed[0]) / step > 5000:
        return sorted({str(t) for t in times})
    out, t = [], parsed[0]
    while t <= parsed[-1]:
        out.append(t.isoformat())
        t += step
    return out


def top_groups(rows: Sequence[Mapping[str, Any]], y: str, *, limit: int = TOP_GROUPS) -> list[dict[str, Any]]:
    """``rows`` with every group beyond the ``limit`` largest (by units, else by ``y``) merged
    into one group "other" per time: ``y`` a units-weighted mean for rates and per-unit figures,
    a sum for counts."""
    weight: dict[str, float] = {}
    for r in rows:
        g = str(r.get("group") or "")
        weight[g] = weight.get(g, 0.0) + float(r.get("units") or r.get(y) or 0.0)
    if len(weight) <= limit + 1:
        return [dict(r) for r in rows]
    kept = set(sorted(weight, key=lambda g: (-weight[g], g))[:limit])
    out = [dict(r) for r in rows if str(r.get("group") or "") in kept]
    other: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        if str(r.get("group") or "") not in kept:
            other.setdefault(str(r.get("time") or ""), []).append(r)
    rate = any("units" in r for r in rows) and y != "units" and y != "errors"
    for time, items in other.items():
        values = [(float(r[y]), float(r.get("units") or 0)) for r in items if r.get(y) is not None]
        if rate:
            total = sum(w for _, w in values)
            value = sum(v * w for v, w in values) / total if total else None
        else:
            value = sum(v for v, _ in values) if values else None
        out.append({"time": time, "group": "other", y: value, "units": sum(int(r.get("units") or 0) for r in items)})
    return out


def _colours(groups: Sequence[str]) -> dict[str, str]:
    named = [g for g in groups if g != "other"]
    return {**{g: PALETTE[i % len(PALETTE)] for i, g in enumerate(named)}, "other": OTHER_COLOUR}


def _lines(data: pd.DataFrame, *, y_title: str, legend: str, colours: Mapping[str, str], percent: bool = False,
           unit: str = "") -> alt.Chart:
    """Lines with points of ``value`` over ``time`` per ``series`` (rows of ``data``); a row
    whose value is missing breaks the line there (a bucket without data is a gap)."""
    y_axis = alt.Axis(format=".0%") if percent else alt.Axis(format="~s" if not unit else ",.3~f")
    y_scale = alt.Scale(domain=[0, 1.05]) if percent else alt.Scale(zero=True)
    series = list(colours)
    return alt.Chart(data).mark_line(point=True, invalid=None).encode(
        x=alt.X("time:T", title="time (UTC)", scale=alt.Scale(type="utc"), axis=alt.Axis(format="%b %d %H:%M")),
        y=alt.Y("value:Q", title=y_title, axis=y_axis, scale=y_scale),
        color=alt.Color("series:N", title=legend, sort=series,
                        scale=alt.Scale(domain=series, range=[colours[g] for g in series])),
        tooltip=[alt.Tooltip("time:T", title="time (UTC)", format="%Y-%m-%d %H:%M"),
                 alt.Tooltip("series:N", title=legend),
                 alt.Tooltip("value:Q", title=unit or y_title, format=".1%" if percent else ",.2f")],
    ).properties(height=360)


def series_figure(
    rows: Sequence[Mapping[str, Any]], y: str, *, y_title: str, percent: bool = False, legend: str = "group",
    bucket: str = "day", scale: float = 1.0, unit: str = "",
) -> alt.Chart:
    """One line per ``group`` of ``y`` over ``time`` (rows of the monitoring API): the
    :data:`TOP_GROUPS` largest groups in distinct colours, the rest as "other" in grey. A
    bucket without data (no runs that day) leaves a gap: lines are not drawn across it.
    ``scale`` divides the values (e.g. 1000 for ms → s) and ``unit`` labels them. The chart's
    rows: ``time``, ``series``, ``value`` (None for a bucket without data)."""
    rows = top_groups(rows, y)
    groups: dict[str, dict[str, Any]] = {}
    for row in rows:
        groups.setdefault(str(row.get("group") or ""), {})[str(row.get("time") or "")] = row.get(y)
    times = every_bucket([r.get("time") for r in rows], bucket)
    order = sorted(groups, key=lambda g: (g == "other", g))
    colours = _colours(order)
    names = {g: (g or "(none)") if len(groups) > 1 or g else "all" for g in order}
    data = pd.DataFrame([{"time": t, "series": names[g],
                          "value": None if groups[g].get(t) is None else float(groups[g][t]) / scale}
                         for g in order for t in times], columns=["time", "series", "value"])
    return _lines(data, y_title=y_title, legend=legend, percent=percent, unit=unit,
                  colours={names[g]: colours.get(g, OTHER_COLOUR) for g in order})


def latency_figure(rows: Sequence[Mapping[str, Any]], *, legend: str = "group", bucket: str = "day") -> alt.Chart:
    """Agent latency over time, without the time runs spent waiting for a person (when the API
    has it: runs): p50/p95/p99 lines when ungrouped, p95 per group otherwise; in ms, s or min
    as the values need. The y axis's title is ``chart.encoding.y.title``."""
    agent = any(r.get("agent_latency_p95_ms") is not None for r in rows)
    prefix = "agent_latency" if agent else "latency"
    scale, unit = duration_unit([r.get(f"{prefix}_{q.split('_')[1]}_ms") for r in rows for q in QUANTILES])
    title = ("agent latency, waits for people excluded" if agent else "latency") + f" ({unit})"
    if len({str(r.get("group") or "") for r in rows}) > 1:
        return series_figure(rows, f"{prefix}_p95_ms", y_title="p95 " + title, legend=legend, bucket=bucket,
                             scale=scale, unit=unit)
    times = every_bucket([r.get("time") for r in rows], bucket)
    by_time = {str(r.get("time") or ""): r for r in rows}
    labels = [q.split("_")[1] for q in QUANTILES]
    data = pd.DataFrame([{"time": t, "series": label,
                          "value": None if (by_time.get(t) or {}).get(f"{prefix}_{label}_ms") is None
                          else float(by_time[t][f"{prefix}_{label}_ms"]) / scale}
                         for label in labels for t in times], columns=["time", "series", "value"])
    return _lines(data, y_title=title, legend="quantile", unit=unit, colours=dict(zip(labels, PALETTE)))


def human_wait_figure(rows: Sequence[Mapping[str, Any]], *, bucket: str = "day") -> alt.Chart:
    """How long runs waited for a person at checkpoints (p50 and p95 per bucket, all groups, as
    bars side by side), with how many runs waited in the tooltip."""
    merged: dict[str, dict[str, Any]] = {}
    for r in rows:
        if not r.get("human_waits"):
            continue
        m = merged.setdefault(str(r.get("time") or ""), {"waits": 0, "p50": [], "p95": []})
        m["waits"] += int(r["human_waits"])
        m["p50"].append(r.get("human_wait_p50_ms"))
        m["p95"].append(r.get("human_wait_p95_ms"))
    times = every_bucket(list(merged), bucket)
    scale, unit = duration_unit([v for m in merged.values() for v in m["p95"]])
    records = []
    for label in ("p50", "p95"):
        for t in times:
            value = max((v for v in merged[t][label] if v is not None), default=None) if t in merged else None
            records.append({"time": t, "series": label, "value": None if value is None else value / scale,
                            "waits": merged[t]["waits"] if t in merged else 0})
    data = pd.DataFrame(records, columns=["time", "series", "value", "waits"])
    title = f"time waiting for a person ({unit})"
    return alt.Chart(data).mark_bar().encode(
        x=alt.X("time:O", title="time (UTC)", sort=times,
                axis=alt.Axis(labelExpr="slice(datum.value, 0, 16)", labelAngle=-30)),
        xOffset=alt.XOffset("series:N", sort=["p50", "p95"]),
        y=alt.Y("value:Q", title=title),
        color=alt.Color("series:N", title="quantile", sort=["p50", "p95"],
                        scale=alt.Scale(domain=["p50", "p95"], range=[PALETTE[0], PALETTE[1]])),
        tooltip=[alt.Tooltip("time:N", title="time (UTC)"), alt.Tooltip("series:N", title="quantile"),
                 alt.Tooltip("value:Q", title=unit, format=",.1f"), alt.Tooltip("waits:Q", title="runs that waited")],
    ).properties(height=360)


def tool_errors_figure(errors: Sequence[Mapping[str, Any]]) -> alt.Chart:
    """Stacked bars: tool errors per tool, one colour per error type."""
    counts: dict[tuple[str, str], int] = {}
    for row in errors:
        key = (str(row.get("tool") or "(no tool)"), str(row.get("error_type") or "error"))
        counts[key] = counts.get(key, 0) + int(row.get("errors") or 0)
    data = pd.DataFrame([{"tool": t, "error_type": e, "errors": n} for (t, e), n in sorted(counts.items())],
                        columns=["tool", "error_type", "errors"])
    return alt.Chart(data).mark_bar().encode(
        x=alt.X("tool:N", title="tool", axis=alt.Axis(labelAngle=0, labelLimit=180)),
        y=alt.Y("sum(errors):Q", title="errors", stack="zero"),
        color=alt.Color("error_type:N", title="error type", scale=alt.Scale(range=list(PALETTE))),
        tooltip=[alt.Tooltip("tool:N"), alt.Tooltip("error_type:N", title="error type"), alt.Tooltip("errors:Q")],
    ).properties(height=360)


def bar_figure(rows: Sequence[Mapping[str, Any]], x: str, y: str, *, y_title: str, money: bool = False) -> alt.Chart:
    """A simple bar chart of ``y`` per ``x`` (e.g. cost per successful run per agent)."""
    data = pd.DataFrame([{"x": str(r.get(x) or "(none)"), "y": r.get(y)} for r in rows], columns=["x", "y"])
    fmt_ = "$,.4f" if money else ",.2f"
    return alt.Chart(data).mark_bar(color=PALETTE[0]).encode(
        x=alt.X("x:N", title=x, sort=None, axis=alt.Axis(labelAngle=0, labelLimit=180)),
        y=alt.Y("y:Q", title=y_title, axis=alt.Axis(format="$,.4~f" if money else ",.2~f")),
        tooltip=[alt.Tooltip("x:N", title=x), alt.Tooltip("y:Q", title=y_title, format=fmt_)],
    ).properties(height=340)
