"""Monitoring page: success/error rate, latency p50/p95/p99, tokens per run, tool errors and
checkpoint escalation rate over time, broken down by agent version, prompt version, agent
or model (``GET /api/insights/monitoring``, read from the hourly rollup).

URL: ``/monitoring?range=7d&bucket=hour&by=prompt_version&agent=refund-bot&agent_version=2.3.0``
and ``&prompt_id=…&prompt_version=…&model=…`` (filters only LLM calls carry: the unit is then
the LLM call). An alert's link opens the page filtered to its scope (every key of it) and window.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from flightlog.ui import charts, monitor
from flightlog.ui import format as fmt
from flightlog.ui import session
from flightlog.ui.client import ApiError
from flightlog.ui.filters import DEFAULT_RANGE, TIME_RANGES, shared_range, time_window

_SAVED = "monitoring.saved"
_TABS = ("Success and latency", "Tokens", "Tool errors", "Checkpoints")

# Filters only LLM calls carry (URL name → label, facet); with one set the unit is the LLM call.
# (A comment, not a docstring: Streamlit would show a bare string of a page.)
LLM_FILTERS = {"prompt_id": ("Prompt", "prompt_ids"), "prompt_version": ("Prompt version", "prompt_versions"),
               "model": ("Model", "models")}


def _seed() -> None:
    """Starting values of the widgets that have none: all of them on arrival at the page, and
    any whose state Streamlit dropped after a run cut short by the next (see the Search page)."""
    url = st.query_params.to_dict()
    remembered = session.remembered_filters()
    saved = st.session_state.get(_SAVED) or {}  # not widgets: survive visits to other pages
    bucket, by = url.get("bucket", saved.get("bucket")), url.get("by", saved.get("by"))
    st.session_state.setdefault(
        "monitoring.range", url.get("range") if url.get("range") in TIME_RANGES else shared_range(remembered.range))
    st.session_state.setdefault("monitoring.bucket", bucket if bucket in monitor.BUCKETS else "day")
    st.session_state.setdefault("monitoring.by", by if by in monitor.BREAKDOWNS else "")
    st.session_state.setdefault("monitoring.agent", url.get("agent") or remembered.agent)
    st.session_state.setdefault("monitoring.agent_version", url.get("agent_version", ""))
    for key in LLM_FILTERS:
        st.session_state.setdefault(f"monitoring.{key}", url.get(key, ""))


def _chart(title: str, chart: alt.TopLevelMixin, rows: Sequence[dict[str, Any]], name: str) -> None:
    st.subheader(title)
    st.altair_chart(charts.for_page(chart), key=f"monitoring.{name}", width="stretch")
    # Built only when opened (a rerun): the closed expanders of seven charts cost nothing.
    data = st.expander("Data", key=f"monitoring.data.{name}", on_change="rerun")
    if data.open:
        with data:
            st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
            st.download_button("Download CSV", data=fmt.csv_bytes(list(rows)), file_name=f"flightlog-{name}.csv",
                               mime="text/csv", key=f"monitoring.download.{name}", icon=":material/download:")


def _tool_errors(tools: dict[str, Any], bucket: str) -> None:
    st.subheader("Tool errors")
    tool_rows = tools.get("tools") or []
    if tool_rows:
        st.dataframe(pd.DataFrame(tool_rows), hide_index=True, width="stretch",
                     column_config={"error_rate": st.column_config.NumberColumn("error rate", format="percent")})
    if tools.get("errors"):
        _chart("Tool errors by type", charts.tool_errors_figure(tools["errors"]), tools["errors"], "tool-errors")
        over_time = monitor.tool_error_series(tools["errors"])
        _chart("Tool errors over time", charts.series_figure(over_time, "errors", y_title="errors", legend="tool",
                                                             bucket=bucket), over_time, "tool-errors-over-time")
    else:
        st.info("No tool call failed in this time range.", icon=":material/check_circle:")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def render() -> None:
    st.title("Monitoring")
    agents = session.facets().get("agents", [])
    _seed()
    cols = st.columns(5)
    range_key = cols[0].selectbox("Time range", list(TIME_RANGES), key="monitoring.range",
                                  format_func=lambda k: TIME_RANGES[k][0])
    bucket = cols[1].selectbox("Per", list(monitor.BUCKETS), key="monitoring.bucket", format_func=monitor.BUCKETS.get)
    by = cols[2].selectbox("Break down by", list(monitor.BREAKDOWNS), key="monitoring.by",
                           format_func=monitor.BREAKDOWNS.get)
    current = st.session_state["monitoring.agent"]
    agent = cols[3].selectbox("Agent", ["", *sorted(set(agents) | ({current} if current else set()))],
                              key="monitoring.agent", format_func=lambda a: a or "Any")
    version_now = st.session_state["monitoring.agent_version"]
    versions = sorted(set(session.facets().get("agent_versions", [])) | ({version_now} if version_now else set()))
    agent_version = cols[4].selectbox("Agent version", ["", *versions], key="monitoring.agent_version",
                                      format_func=lambda v: v or "Any")
    llm_cols = st.columns(5)
    chosen: dict[str, str] = {}
    for col, (key, (label, facet)) in zip(llm_cols, LLM_FILTERS.items(), strict=False):
        now_value = st.session_state[f"monitoring.{key}"]
        values = sorted(set(session.facets().get(facet, [])) | ({now_value} if now_value else set()))
        chosen[key] = str(col.selectbox(label, ["", *values], key=f"monitoring.{key}",
                                        format_func=lambda v: v or "Any"))
    remembered = session.remembered_filters()
    if (range_key, agent) != (shared_range(remembered.range), remembered.agent):
        session.remember_filters(remembered.with_changes(range=range_key, agent=agent, page=1))
    params = {"range": range_key if range_key != DEFAULT_RANGE else "", "bucket": bucket if bucket != "day" else "",
              "by": by, "agent": agent, "agent_version": agent_version, **chosen}
    st.session_state[_SAVED] = {"bucket": bucket, "by": by}
    session.sync_url({k: v for k, v in params.items() if v})

    start, end = time_window(range_key, session.now())
    figures = {"start": start, "end": end, "bucket": bucket, "by": by, "agent": agent, "agent_version": agent_version,
               **chosen}
    # the same filters as the figures, as far as a score records them (it has no prompt id)
    scores = {"by": _score_group(by), "agent": agent, "start": start, "end": end, "agent_version": agent_version,
              "prompt_version": chosen.get("prompt_version", ""), "model": chosen.get("model", "")}
    scored: list[Any] | None = None
    try:
        with st.spinner("Loading monitoring figures…"):
            try:  # both reads at once: the page waits for the slower, not for their sum
                body, scored = session.cached_together(("monitoring", (), figures), ("evaluation_summary", (), scores))
            except ApiError:  # one of them failed: read them apart, to say which
                body = session.cached("monitoring", **figures)
    except ApiError as exc:
        session.show_api_error("Monitoring figures could not be loaded.", exc)
        return
    series = body.get("series") or []
    unit = "LLM call" if body.get("unit") == "llm call" else "run"
    if not any(r.get("units") for r in series):
        st.info(f"No {unit}s recorded in this time range. Try *All time* or another agent.",
                icon=":material/monitoring:")
        return
    tools = body.get("tools") or {}
    checkpoints = (body.get("checkpoints") or {}).get("series") or []
    total = monitor.totals(series)
    legend = monitor.legend_title(by)
    st.caption(f"Unit: one {unit}" + (" (LLM calls carry the prompt version and model)" if unit != "run" else
                                     " (a root agent span)") + ". Latency quantiles are approximate (t-digest)."
               + (" Tool errors and checkpoints are filtered by agent and agent version only."
                  if any(chosen.values()) else "")
               + (" Evaluation scores are filtered by prompt version and model, not by prompt (a score records no"
                  " prompt id)." if chosen.get("prompt_id") else ""))
    metrics = st.columns(4)
    metrics[0].metric(f"{unit[0].upper()}{unit[1:]}s", f"{total['units']:,}")
    metrics[1].metric("Success rate", _pct(total["success_rate"]))
    metrics[2].metric(f"Tokens per {unit}", "—" if total["tokens_per_unit"] is None else f"{total['tokens_per_unit']:,.0f}")
    metrics[3].metric("Checkpoint escalation rate", _pct(monitor.escalation_total(checkpoints)))
    st.page_link(session.CONTROL_PAGE, label="Pause an agent or one of its versions (kill switch)",
                 icon=":material/pause_circle:", query_params={"agent": agent} if agent else None)

    # Only the open tab's charts are built and drawn (a tab change is a rerun): a load draws
    # two or three charts, not seven (docs/performance-ui.md).
    tabs = st.tabs(list(_TABS), key="monitoring.tab", on_change="rerun")
    with tabs[0]:
        if tabs[0].open:
            _chart("Success rate", charts.series_figure(series, "success_rate", y_title="success rate", percent=True,
                                                        legend=legend, bucket=bucket), series, "success-rate")
            if unit == "run":
                _chart("Agent latency p50 / p95 / p99 (waits for people excluded)",
                       charts.latency_figure(series, legend=legend, bucket=bucket), series, "latency")
                if any(r.get("human_waits") for r in series):
                    _chart("Waiting for a person (checkpoints of tier ≥ 2)",
                           charts.human_wait_figure(series, bucket=bucket),
                           [r for r in series if r.get("human_waits")], "human-wait")
            else:
                _chart("Latency p50 / p95 / p99", charts.latency_figure(series, legend=legend, bucket=bucket), series,
                       "latency")
    with tabs[1]:
        if tabs[1].open:
            _chart(f"Tokens per {unit}", charts.series_figure(series, "tokens_per_unit", y_title=f"tokens per {unit}",
                                                              legend=legend, bucket=bucket), series, "tokens")
    with tabs[2]:
        if tabs[2].open:
            _tool_errors(tools, bucket)
    with tabs[3]:
        if tabs[3].open:
            if checkpoints:
                cp_legend = monitor.legend_title((body.get("checkpoints") or {}).get("by", ""))
                _chart("Checkpoint escalation rate", charts.series_figure(
                    checkpoints, "escalation_rate", y_title="escalated (tier ≥ 2)", percent=True, legend=cp_legend,
                    bucket=bucket), checkpoints, "escalations")
            else:
                st.info("No checkpoint in this time range.", icon=":material/gavel:")
    _evaluation_scores(scores, scored)


def _score_group(by: str) -> str:
    """What the evaluation scores are grouped by for the page's breakdown ``by``."""
    return by if by in ("prompt_version", "model") else "agent_version"


def _evaluation_scores(params: dict[str, Any], rows: list[Any] | None) -> None:
    """Online evaluation: the mean score of live runs per agent version or prompt version and
    evaluator (``GET /api/evaluation/summary`` with ``params``; ``rows`` if already read)."""
    group = str(params["by"])
    st.subheader(f"Evaluation scores by {monitor.BREAKDOWNS.get(group, group)}")
    if rows is None:
        try:
            rows = session.cached("evaluation_summary", **params)
        except ApiError as exc:
            session.show_api_error("The evaluation scores could not be loaded.", exc)
            return
    if not rows:
        narrowed = any(params.get(k) for k in ("agent", "agent_version", "prompt_version", "model"))
        st.text("No scores of live runs match these filters in this range." if narrowed else
                "No scores of live runs in this range: attach a rule with flightlog eval rules add.")
        return
    st.dataframe(pd.DataFrame([{"agent": r["agent"], monitor.BREAKDOWNS.get(group, group): r["group"] or "—",
                                "evaluator": r["evaluator"], "mean score": r["mean"], "scores": r["scores"],
                                "failed": r["failed"], "from": r["source"]} for r in rows]),
                 hide_index=True, width="stretch", key="monitoring.evaluation")


if __name__ == "__main__":
    render()
