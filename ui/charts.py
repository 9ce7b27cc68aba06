"""Plotly figures for the pages, built from plain API data (docs/contracts.md, "HTTP API answers").

Pure functions: data in, ``plotly.graph_objects.Figure`` out. Span-derived text goes
through :func:`flightlog.ui.format.plotly_text`, because Plotly labels are not plain text.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from flightlog.ui.format import (
    format_duration,
    is_error,
    plotly_text,
    span_status,
    start_ns,
    tree_rows,
    truncate,
)

__all__ = [
    "ERROR_COLOUR", "MIN_BAR_FRACTION", "QUANTILES", "SPAN_TYPE_COLOURS", "TOP_GROUPS", "bar_figure",
    "cost_by_day_figure", "duration_unit", "every_bucket", "human_wait_figure", "latency_figure", "series_figure",
    "tool_errors_figure", "top_groups", "waterfall_figure",
]

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


def _time_ticks(line: Timeline, total: float, count: int = 7) -> dict[str, Any]:
    """Tick positions (drawn x) labelled with the real time since the trace's start."""
    if total <= 0:
        return {}
    real = sorted({total * i / (count - 1) for i in range(count)} | {lo for lo, _ in line.gaps} | {hi for _, hi in line.gaps})
    kept: list[float] = []
    for r in real:  # drop ticks that would be drawn on top of each other (inside a shortened gap)
        if not kept or line.x(r) - line.x(kept[-1]) >= line.x(total) / (2 * count):
            kept.append(r)
    return {"tickmode": "array", "tickvals": [line.x(r) for r in kept], "ticktext": [format_duration(r) for r in kept]}


def waterfall_figure(trace: Mapping[str, Any], *, label_chars: int = 48, selected: int | None = None,
                     compress: bool = True) -> go.Figure:
    """A horizontal-bar waterfall of a trace: one bar per span, top to bottom in tree order.

    ``trace`` is the body of ``GET /api/traces/{id}`` (only ``spans`` is read). The x axis
    is milliseconds from the trace's first start; bars are coloured by span type, and error
    spans get a red outline and a red ✕ at their end. Row ``i`` sits at ``y = i``, so a
    clicked point's ``y`` is the index of the span in ``trace["spans"]``. Row ``selected``
    (the span shown in detail) gets a yellow band across the chart, a dark outline and a
    ``▶`` before its label. With ``compress``, stretches in which only the enclosing spans run
    (waiting for a person, a sleep) are drawn shortened and marked "⋯ 18m 25s idle ⋯"; the
    axis and the hover keep the real times.
    """
    spans = list(trace.get("spans") or [])
    origin = min((start_ns(s) for s in spans), default=0)
    labels = [
        ("▶ " if i == selected else "") + plotly_text(truncate(row["span"], label_chars)[0])
        for i, row in enumerate(tree_rows(spans))
    ]
    starts_ms = [(start_ns(s) - origin) / 1e6 for s in spans]
    real_ends = [st + float(s.get("duration_ms") or 0.0) for st, s in zip(starts_ms, spans)]
    total = max(real_ends, default=0.0)
    # The spans that enclose most of the trace (the run itself) do not count as activity.
    busy = [(a, b) for a, b in zip(starts_ms, real_ends) if b - a < 0.8 * total]
    line = Timeline(idle_gaps(busy, total) if compress else [], total)
    ends = [line.x(e) for e in real_ends]
    min_width = max(max(ends, default=0.0) * MIN_BAR_FRACTION, 0.001)
    fig = go.Figure()
    by_type: dict[str, list[int]] = {}
    for i, span in enumerate(spans):
        by_type.setdefault(str(span.get("span_type") or "other"), []).append(i)
    for span_type, rows in by_type.items():
        offsets = [starts_ms[i] for i in rows]
        durations = [float(spans[i].get("duration_ms") or 0.0) for i in rows]
        drawn_starts = [line.x(o) for o in offsets]
        drawn = [line.x(o + d) - line.x(o) for o, d in zip(offsets, durations)]
        colour = SPAN_TYPE_COLOURS.get(span_type, SPAN_TYPE_COLOURS["other"])
        # Legend entry of its own, so an error outline never paints the legend swatch.
        fig.add_trace(go.Bar(name=plotly_text(span_type), x=[None], y=[None], marker={"color": colour}))
        fig.add_trace(
            go.Bar(
                name=plotly_text(span_type),
                showlegend=False,
                orientation="h",
                y=rows,
                base=drawn_starts,
                # A very short span still gets a visible, clickable sliver.
                x=[max(d, min_width) for d in drawn],
                marker={
                    "color": colour,
                    "line": {
                        "color": [ERROR_COLOUR if is_error(spans[i]) else
                                  SELECTED_LINE if i == selected else "rgba(0,0,0,0)" for i in rows],
                        "width": [3 if i == selected else 2 for i in rows],
                    },
                },
                customdata=[
                    [
                        plotly_text(str(spans[i].get("span_name") or "")),
                        format_duration(d),
                        format_duration(o),
                        span_status(spans[i]),
                    ]
                    for i, d, o in zip(rows, durations, offsets)
                ],
                hovertemplate=(
                    "%{customdata[0]}<br>"
                    + plotly_text(span_type)
                    + " · %{customdata[1]} · starts at +%{customdata[2]} · %{customdata[3]}"
                    "<extra></extra>"
                ),
            )
        )
    errors = [i for i, s in enumerate(spans) if is_error(s)]
    if errors:
        fig.add_trace(
            go.Scatter(
                name="error",
                mode="markers",
                y=errors,
                x=[ends[i] for i in errors],
                marker={"symbol": "x", "color": ERROR_COLOUR, "size": 10},
                hoverinfo="skip",
            )
        )
    for lo, hi in line.gaps:
        fig.add_vrect(x0=line.x(lo), x1=line.x(hi), fillcolor="rgba(120,120,120,0.12)", line_width=0, layer="below",
                      annotation_text=f"⋯ {format_duration(hi - lo)} idle ⋯", annotation_position="bottom",
                      annotation_font_size=11)
    if selected is not None and 0 <= selected < len(spans):
        fig.add_hrect(y0=selected - 0.5, y1=selected + 0.5, fillcolor=SELECTED_FILL, line_width=0, layer="below")
    fig.update_layout(
        barmode="overlay",
        height=min(120 + 26 * len(spans), 4000),
        margin={"l": 10, "r": 10, "t": 30, "b": 40},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        xaxis={"title": {"text": "since trace start" + (" (idle stretches shortened)" if line.gaps else "")},
               "rangemode": "tozero", **_time_ticks(line, total)},
        yaxis={
            "tickmode": "array",
            "tickvals": list(range(len(spans))),
            "ticktext": labels,
            "autorange": "reversed",
            "automargin": True,
        },
        clickmode="event+select",
    )
    return fig


def cost_by_day_figure(rows: Sequence[Mapping[str, Any]], budget_usd: float = 0.0) -> go.Figure:
    """A stacked bar chart of cost per day, one colour per model, from ``cost(["day", "model"])``.

    ``budget_usd`` > 0 draws the project's daily cost budget as a dashed line.
    """
    days = sorted({str(r.get("day") or "") for r in rows})
    per_model: dict[str, dict[str, float]] = {}
    for row in rows:
        model = str(row.get("model") or "(no model)")
        day = str(row.get("day") or "")
        per_model.setdefault(model, {})
        per_model[model][day] = per_model[model].get(day, 0.0) + float(row.get("cost_usd") or 0.0)
    fig = go.Figure()
    for model in sorted(per_model, key=lambda m: -sum(per_model[m].values())):
        fig.add_trace(
            go.Bar(
                name=plotly_text(model),
                x=days,
                y=[per_model[model].get(day, 0.0) for day in days],
                hovertemplate="%{x}: $%{y:.4f}<extra>" + plotly_text(model) + "</extra>",
            )
        )
    fig.update_layout(
        barmode="stack",
        height=420,
        margin={"l": 10, "r": 10, "t": 30, "b": 40},
        xaxis={"title": {"text": "day (UTC)"}, "type": "category"},
        yaxis={"title": {"text": "cost (USD)"}, "tickprefix": "$"},
        legend={"title": {"text": "model"}},
    )
    if budget_usd > 0:
        fig.add_hline(y=budget_usd, line_dash="dash", line_color="#c0392b",
                      annotation_text=f"daily budget ${budget_usd:,.2f}", annotation_position="top left")
    return fig


def daily_cost_budget(budgets: Sequence[Mapping[str, Any]]) -> float:
    """The project-wide daily cost budget, or 0 when none is set."""
    return max((float(b.get("max_cost_usd") or 0) for b in budgets if b.get("scope") == "project"), default=0.0)


# -- monitoring -----------------------------------------------------------------------

QUANTILES = ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms")


def _layout(fig: go.Figure, y_title: str, *, percent: bool = False, legend: str = "") -> go.Figure:
    fig.update_layout(
        height=360,
        margin={"l": 10, "r": 10, "t": 30, "b": 40},
        xaxis={"title": {"text": "time (UTC)"}},
        yaxis={"title": {"text": y_title}, **({"tickformat": ".0%", "range": [0, 1.05]} if percent else {})},
        legend={"title": {"text": plotly_text(legend)}},
    )
    return fig


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


def series_figure(
    rows: Sequence[Mapping[str, Any]], y: str, *, y_title: str, percent: bool = False, legend: str = "group",
    bucket: str = "day", scale: float = 1.0, unit: str = "",
) -> go.Figure:
    """One line per ``group`` of ``y`` over ``time`` (rows of the monitoring API): the
    :data:`TOP_GROUPS` largest groups in distinct colours, the rest as "other" in grey. A
    bucket without data (no runs that day) leaves a gap: lines are not drawn across it.
    ``scale`` divides the values (e.g. 1000 for ms → s) and ``unit`` labels them."""
    rows = top_groups(rows, y)
    groups: dict[str, dict[str, Any]] = {}
    for row in rows:
        groups.setdefault(str(row.get("group") or ""), {})[str(row.get("time") or "")] = row.get(y)
    times = every_bucket([r.get("time") for r in rows], bucket)
    order = sorted(groups, key=lambda g: (g == "other", g))
    colours = _colours(order)
    fig = go.Figure()
    for group in order:
        values = groups[group]
        name = plotly_text(group or "(none)" if len(groups) > 1 or group else "all")
        fig.add_trace(go.Scatter(
            name=name, mode="lines+markers", x=times, connectgaps=False,
            y=[None if values.get(t) is None else float(values[t]) / scale for t in times],
            line={"color": colours.get(group, OTHER_COLOUR)}, marker={"color": colours.get(group, OTHER_COLOUR)},
            hovertemplate="%{x}: %{y" + (":.1%" if percent else ":,.2f") + "}" + (f" {unit}" if unit else "")
                          + "<extra>" + name + "</extra>",
        ))
    return _layout(fig, y_title, percent=percent, legend=legend)


def latency_figure(rows: Sequence[Mapping[str, Any]], *, legend: str = "group", bucket: str = "day") -> go.Figure:
    """Agent latency over time, without the time runs spent waiting for a person (when the API
    has it: runs): p50/p95/p99 lines when ungrouped, p95 per group otherwise; in ms, s or min
    as the values need."""
    agent = any(r.get("agent_latency_p95_ms") is not None for r in rows)
    prefix = "agent_latency" if agent else "latency"
    scale, unit = duration_unit([r.get(f"{prefix}_{q.split('_')[1]}_ms") for r in rows for q in QUANTILES])
    title = ("agent latency, waits for people excluded" if agent else "latency") + f" ({unit})"
    if len({str(r.get("group") or "") for r in rows}) > 1:
        return series_figure(rows, f"{prefix}_p95_ms", y_title="p95 " + title, legend=legend, bucket=bucket,
                             scale=scale, unit=unit)
    times = every_bucket([r.get("time") for r in rows], bucket)
    by_time = {str(r.get("time") or ""): r for r in rows}
    fig = go.Figure()
    for q, colour in zip(QUANTILES, PALETTE):
        label = q.split("_")[1]
        key = f"{prefix}_{label}_ms"
        fig.add_trace(go.Scatter(
            name=label, mode="lines+markers", x=times, connectgaps=False, line={"color": colour},
            y=[None if (by_time.get(t) or {}).get(key) is None else float(by_time[t][key]) / scale for t in times],
            hovertemplate="%{x}: %{y:,.2f} " + unit + "<extra>" + label + "</extra>"))
    return _layout(fig, title, legend="quantile")


def human_wait_figure(rows: Sequence[Mapping[str, Any]], *, bucket: str = "day") -> go.Figure:
    """How long runs waited for a person at checkpoints (p50 and p95 per bucket, all groups),
    with how many runs waited in the hover."""
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
    fig = go.Figure()
    for label, colour in (("p50", PALETTE[0]), ("p95", PALETTE[1])):
        values = [max((v for v in merged[t][label] if v is not None), default=None) if t in merged else None
                  for t in times]
        fig.add_trace(go.Bar(name=label, x=times, y=[None if v is None else v / scale for v in values],
                             marker={"color": colour},
                             customdata=[merged[t]["waits"] if t in merged else 0 for t in times],
                             hovertemplate="%{x}: %{y:,.1f} " + unit + " (%{customdata} runs waited)<extra>"
                                           + label + "</extra>"))
    fig.update_layout(barmode="group")
    return _layout(fig, f"time waiting for a person ({unit})", legend="quantile")


def tool_errors_figure(errors: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Stacked bars: tool errors per tool, one colour per error type."""
    per_type: dict[str, dict[str, int]] = {}
    for row in errors:
        per_type.setdefault(str(row.get("error_type") or "error"), {})
        tool = str(row.get("tool") or "(no tool)")
        per_type[str(row.get("error_type") or "error")][tool] = (
            per_type[str(row.get("error_type") or "error")].get(tool, 0) + int(row.get("errors") or 0)
        )
    tools = sorted({t for counts in per_type.values() for t in counts})
    fig = go.Figure()
    for error_type, counts in sorted(per_type.items()):
        fig.add_trace(go.Bar(name=plotly_text(error_type), x=[plotly_text(t) for t in tools],
                             y=[counts.get(t, 0) for t in tools]))
    fig.update_layout(barmode="stack", height=360, margin={"l": 10, "r": 10, "t": 30, "b": 40},
                      xaxis={"title": {"text": "tool"}, "type": "category"},
                      yaxis={"title": {"text": "errors"}}, legend={"title": {"text": "error type"}})
    return fig


def bar_figure(rows: Sequence[Mapping[str, Any]], x: str, y: str, *, y_title: str, money: bool = False) -> go.Figure:
    """A simple bar chart of ``y`` per ``x`` (e.g. cost per successful run per agent)."""
    fig = go.Figure(go.Bar(
        x=[plotly_text(str(r.get(x) or "(none)")) for r in rows], y=[r.get(y) for r in rows],
        hovertemplate="%{x}: " + ("$%{y:.4f}" if money else "%{y:,.2f}") + "<extra></extra>",
    ))
    fig.update_layout(height=340, margin={"l": 10, "r": 10, "t": 30, "b": 40},
                      xaxis={"type": "category"},
                      yaxis={"title": {"text": y_title}, **({"tickprefix": "$"} if money else {})})
    return fig
