"""Plotly figures for the pages, built from plain API data (docs/contracts.md, "HTTP API answers").

Pure functions: data in, ``plotly.graph_objects.Figure`` out. Span-derived text goes
through :func:`flightlog.ui.format.plotly_text`, because Plotly labels are not plain text.
"""
from __future__ import annotations

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
    "ERROR_COLOUR", "MIN_BAR_FRACTION", "QUANTILES", "SPAN_TYPE_COLOURS", "bar_figure", "cost_by_day_figure",
    "latency_figure", "series_figure", "tool_errors_figure", "waterfall_figure",
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


def waterfall_figure(trace: Mapping[str, Any], *, label_chars: int = 48) -> go.Figure:
    """A horizontal-bar waterfall of a trace: one bar per span, top to bottom in tree order.

    ``trace`` is the body of ``GET /api/traces/{id}`` (only ``spans`` is read). The x axis
    is milliseconds from the trace's first start; bars are coloured by span type, and error
    spans get a red outline and a red ✕ at their end. Row ``i`` sits at ``y = i``, so a
    clicked point's ``y`` is the index of the span in ``trace["spans"]``.
    """
    spans = list(trace.get("spans") or [])
    origin = min((start_ns(s) for s in spans), default=0)
    labels = [
        plotly_text(truncate(row["span"], label_chars)[0]) for row in tree_rows(spans)
    ]
    ends = [(start_ns(s) - origin) / 1e6 + float(s.get("duration_ms") or 0.0) for s in spans]
    min_width = max(max(ends, default=0.0) * MIN_BAR_FRACTION, 0.001)
    fig = go.Figure()
    by_type: dict[str, list[int]] = {}
    for i, span in enumerate(spans):
        by_type.setdefault(str(span.get("span_type") or "other"), []).append(i)
    for span_type, rows in by_type.items():
        offsets = [(start_ns(spans[i]) - origin) / 1e6 for i in rows]
        durations = [float(spans[i].get("duration_ms") or 0.0) for i in rows]
        colour = SPAN_TYPE_COLOURS.get(span_type, SPAN_TYPE_COLOURS["other"])
        # Legend entry of its own, so an error outline never paints the legend swatch.
        fig.add_trace(go.Bar(name=plotly_text(span_type), x=[None], y=[None], marker={"color": colour}))
        fig.add_trace(
            go.Bar(
                name=plotly_text(span_type),
                showlegend=False,
                orientation="h",
                y=rows,
                base=offsets,
                # A very short span still gets a visible, clickable sliver.
                x=[max(d, min_width) for d in durations],
                marker={
                    "color": colour,
                    "line": {
                        "color": [ERROR_COLOUR if is_error(spans[i]) else "rgba(0,0,0,0)" for i in rows],
                        "width": 2,
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
    fig.update_layout(
        barmode="overlay",
        height=min(120 + 26 * len(spans), 4000),
        margin={"l": 10, "r": 10, "t": 30, "b": 40},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        xaxis={"title": {"text": "ms since trace start"}, "rangemode": "tozero"},
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


def series_figure(
    rows: Sequence[Mapping[str, Any]], y: str, *, y_title: str, percent: bool = False, legend: str = "group"
) -> go.Figure:
    """One line per ``group`` of ``y`` over ``time`` (rows of the monitoring API); rows whose
    ``y`` is missing (no runs in that bucket) leave a gap."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(str(row.get("group") or ""), []).append(row)
    fig = go.Figure()
    for group, items in sorted(groups.items()):
        items = sorted(items, key=lambda r: str(r.get("time") or ""))
        name = plotly_text(group or "(none)" if len(groups) > 1 or group else "all")
        fig.add_trace(go.Scatter(
            name=name, mode="lines+markers", x=[r.get("time") for r in items], y=[r.get(y) for r in items],
            hovertemplate="%{x}: %{y" + (":.1%" if percent else ":,.2f") + "}<extra>" + name + "</extra>",
        ))
    return _layout(fig, y_title, percent=percent, legend=legend)


def latency_figure(rows: Sequence[Mapping[str, Any]], *, legend: str = "group") -> go.Figure:
    """Latency quantiles over time: p50/p95/p99 lines when ungrouped, p95 per group otherwise."""
    if len({str(r.get("group") or "") for r in rows}) > 1:
        return series_figure(rows, "latency_p95_ms", y_title="p95 latency (ms)", legend=legend)
    fig = go.Figure()
    items = sorted(rows, key=lambda r: str(r.get("time") or ""))
    for q in QUANTILES:
        label = q.split("_")[1]
        fig.add_trace(go.Scatter(name=label, mode="lines+markers", x=[r.get("time") for r in items],
                                 y=[r.get(q) for r in items],
                                 hovertemplate="%{x}: %{y:,.0f} ms<extra>" + label + "</extra>"))
    return _layout(fig, "latency (ms)", legend="quantile")


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
