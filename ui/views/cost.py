"""Cost page: cost per model per day (``GET /api/cost?group_by=day&group_by=model``) as a
stacked bar chart, and totals by agent (``group_by=agent``); both tables download as CSV.

URL: ``/cost?range=30d`` (the time range is shared with the Search page).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from flightlog.ui import charts
from flightlog.ui import format as fmt
from flightlog.ui import session
from flightlog.ui.client import ApiError
from flightlog.ui.filters import DEFAULT_RANGE, TIME_RANGES, shared_range, time_window

_RANGE = "cost.range"
_TABS = ("By day and model", "Totals by agent", "Cost per successful run", "Costliest traces")
TOP_TRACES = 20
_NUMBERS = ("cost_usd", "calls", "input_tokens", "output_tokens")
_COLUMNS = {
    "cost_usd": st.column_config.NumberColumn("cost (USD)", format="$%.4f"),
    "calls": st.column_config.NumberColumn("calls", format="%d"),
    "input_tokens": st.column_config.NumberColumn("input tokens", format="%d"),
    "output_tokens": st.column_config.NumberColumn("output tokens", format="%d"),
}


def _table(title: str, rows: list[dict[str, Any]], keys: Sequence[str], filename: str) -> None:
    """A table of cost rows (group columns first) with a CSV download of the same rows."""
    st.subheader(title)
    columns = [*keys, *(c for c in _NUMBERS if any(c in r for r in rows))]
    st.dataframe(
        pd.DataFrame(rows, columns=columns),
        hide_index=True,
        column_config=_COLUMNS,
        width="stretch",
    )
    st.download_button(
        "Download CSV",
        data=fmt.csv_bytes(rows, columns),
        file_name=filename,
        mime="text/csv",
        key=f"cost.download.{filename}",
        icon=":material/download:",
    )


def _per_run(rows: list[dict[str, Any]]) -> None:
    """Cost per successful run per agent: all spend divided by the runs that succeeded."""
    rows = [r for r in rows if r.get("runs")]
    if not rows:
        st.info("No runs in this time range.", icon=":material/payments:")
        return
    st.subheader("Cost per successful run")
    st.caption("All spend of an agent (failed runs included) divided by its runs that succeeded.")
    st.altair_chart(
        charts.for_page(charts.bar_figure(rows, "agent", "cost_per_successful_run", y_title="USD per successful run",
                                          money=True)),
        key="cost.per_run_chart", width="stretch",
    )
    columns = ["agent", "runs", "successful_runs", "cost_usd", "cost_per_run", "cost_per_successful_run"]
    st.dataframe(pd.DataFrame(rows, columns=columns), hide_index=True, width="stretch", column_config={
        **_COLUMNS,
        "cost_per_run": st.column_config.NumberColumn("cost per run", format="$%.6f"),
        "cost_per_successful_run": st.column_config.NumberColumn("cost per successful run", format="$%.6f"),
    })
    st.download_button("Download CSV", data=fmt.csv_bytes(rows, columns), file_name="flightlog-cost-per-run.csv",
                       mime="text/csv", key="cost.download.per_run", icon=":material/download:")


def _top_traces(rows: list[dict[str, Any]]) -> None:
    if not rows:
        st.info("No trace with a cost in this time range.", icon=":material/payments:")
        return
    st.subheader("Costliest traces")
    columns = ["trace", "started", "agent", "name", "user", "cost_usd", "tokens", "spans", "errors", "trace_id"]
    table = [{**r, "trace": f"trace?trace_id={r['trace_id']}", "started": fmt.format_time(r.get("started")),
              "tokens": int(r.get("input_tokens") or 0) + int(r.get("output_tokens") or 0)} for r in rows]
    st.dataframe(pd.DataFrame(table, columns=columns), hide_index=True, width="stretch", column_config={
        **_COLUMNS,
        "trace": st.column_config.LinkColumn("trace", display_text="open ↗"),
        "cost_usd": st.column_config.NumberColumn("cost (USD)", format="$%.6f"),
    }, key="cost.top_traces")
    st.download_button("Download CSV", data=fmt.csv_bytes(table, columns), file_name="flightlog-costliest-traces.csv",
                       mime="text/csv", key="cost.download.top", icon=":material/download:")


def render() -> None:
    st.title("Cost")
    remembered = session.remembered_filters()
    if _RANGE not in st.session_state:
        from_url = st.query_params.get("range", "")
        st.session_state[_RANGE] = from_url if from_url in TIME_RANGES else shared_range(remembered.range)
    range_key = st.selectbox(
        "Time range", list(TIME_RANGES), key=_RANGE, format_func=lambda k: TIME_RANGES[k][0]
    )
    if range_key != shared_range(remembered.range):
        session.remember_filters(remembered.with_changes(range=range_key, page=1))
    session.sync_url({"range": range_key} if range_key != DEFAULT_RANGE else {})

    start, end = time_window(range_key, session.now())
    try:
        with st.spinner("Loading costs…"):
            by_day, by_agent, per_run, top, budgets = session.cached_together(
                ("cost", (("day", "model"), start, end), {}),
                ("cost", (("agent",), start, end), {}),
                ("cost_per_run", (), {"start": start, "end": end, "by": "agent"}),
                ("list_traces", (), {"start": start, "end": end, "sort": "cost", "limit": TOP_TRACES}),
                ("budgets", (), {}),
            )
            top = [t for t in top["items"] if t["cost_usd"] > 0]
    except ApiError as exc:
        session.show_api_error("Costs could not be loaded.", exc)
        return
    if not by_day and not by_agent:
        st.info(
            "No cost recorded in this time range. Costs come from LLM spans that carry a "
            "model and token counts, or a cost sent by the client. Try *All time*.",
            icon=":material/payments:",
        )
        return

    totals = st.columns(4)
    totals[0].metric("Total cost", fmt.format_money(sum(float(r.get("cost_usd") or 0) for r in by_agent)))
    totals[1].metric("Calls", fmt.format_tokens(sum(int(r.get("calls") or 0) for r in by_agent)))
    totals[2].metric("Input tokens", fmt.format_tokens(sum(int(r.get("input_tokens") or 0) for r in by_agent)))
    totals[3].metric("Output tokens", fmt.format_tokens(sum(int(r.get("output_tokens") or 0) for r in by_agent)))

    st.subheader("Cost per model per day")
    snapshots = st.toggle("Add dated snapshots to their model (gpt-4o-mini-2024-07-18 → gpt-4o-mini)", value=True,
                          key="cost.snapshots")
    by_day = fmt.group_models(by_day, snapshots=snapshots)
    if any(r["model"] == fmt.NO_MODEL for r in by_day):
        st.caption(f"{fmt.NO_MODEL}: spans with a cost but no model (e.g. a cost sent by the client).")
    budget = charts.daily_cost_budget(budgets)
    st.altair_chart(charts.for_page(charts.cost_by_day_figure(by_day, budget)), key="cost.by_day_chart", width="stretch")
    if budget:
        st.caption(f"Dashed line: the project's daily cost budget ({fmt.format_money(budget)}).")
    agent_budgets = [b for b in budgets if b.get("scope") in ("agent", "user")]
    if agent_budgets:
        st.subheader("Daily budgets per agent and user")
        st.dataframe(pd.DataFrame(agent_budgets, columns=["scope", "subject", "max_cost_usd", "max_tokens"]),
                     hide_index=True, width="stretch")
    # Below the chart, one tab at a time: only the open tab's tables (and chart) are built
    # and drawn (a tab change is a rerun), so a load draws one chart and one table.
    tabs = st.tabs(list(_TABS), key="cost.tab", on_change="rerun")
    with tabs[0]:
        if tabs[0].open:
            _table("By day and model", by_day, ("day", "model", "snapshots") if snapshots else ("day", "model"),
                   "flightlog-cost-by-day-model.csv")
    with tabs[1]:
        if tabs[1].open:
            by_agent = sorted(by_agent, key=lambda r: -float(r.get("cost_usd") or 0))
            _table("Totals by agent", by_agent, ("agent",), "flightlog-cost-by-agent.csv")
    with tabs[2]:
        if tabs[2].open:
            _per_run(per_run)
    with tabs[3]:
        if tabs[3].open:
            _top_traces(top)


if __name__ == "__main__":
    render()
