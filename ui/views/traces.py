"""Traces page (the landing page): one row per agent run (``GET /api/traces``) with the Search
filters, sorted and paged on the server; selecting a row opens the trace.

URL: ``/?q=refund&status=error&sort=duration&page=2`` (every parameter in docs/ui.md).
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from flightlog.ui import format as fmt
from flightlog.ui import session
from flightlog.ui.client import ApiError
from flightlog.ui.filters import SearchFilters, page_count
from flightlog.ui.searchform import FilterForm
from flightlog.ui.types import TracePage

FORM = FilterForm("traces", placeholder="Words that must appear in a span of the run (prompt, answer, tool call)")
_TABLE_GENERATION = "traces.table_generation"  # bumped to clear the table's row selection

# Sized so that at 1280–1440 px everything up to the link fits; the input comes last.
COLUMNS = {
    "started": st.column_config.TextColumn("started (UTC)", width=135),
    "status": st.column_config.TextColumn("status", width=65),
    "errors": st.column_config.NumberColumn("errors", format="%d", width=45),
    "trace": st.column_config.TextColumn("trace", width=160),
    "agent": st.column_config.TextColumn("agent", width=135),
    "duration s": st.column_config.NumberColumn("duration", format="%.2f s", width=75),
    "cost": st.column_config.NumberColumn("cost", format="$%.4f", width=65),
    "tokens": st.column_config.NumberColumn("tokens", format="%d", width=55),
    "spans": st.column_config.NumberColumn("spans", format="%d", width=45),
    "open": st.column_config.LinkColumn("open", display_text="open ↗", width=55),
    "user": st.column_config.TextColumn("user", width=140),
    "session": st.column_config.LinkColumn("session", display_text=r"session_id=(.*)", width=120),
    "input": st.column_config.TextColumn("first input", width="large"),
}


def _empty_state(filters: SearchFilters) -> None:
    if not filters.is_filtered():
        st.info(
            "No traces recorded yet. Point an agent at the collector: `flightlog.init()` in "
            "the agent, or any OpenTelemetry exporter sending OTLP to "
            "`<collector>:4318/v1/traces` with an ingest key. Then reload this page.",
            icon=":material/flight_takeoff:",
        )
        return
    st.info(
        "No traces match. Things to try: fewer or different words (every word must appear in one "
        "span), a wider time range such as *All time*, or fewer filters.",
        icon=":material/search_off:",
    )
    st.button("Clear filters", on_click=FORM.clear)


def _results(filters: SearchFilters, result: TracePage) -> None:
    total, items = result["total"], result["items"]
    pages = page_count(total, filters.page_size)
    first = (filters.page - 1) * filters.page_size + 1
    last = first + len(items) - 1
    st.caption(
        f"{total:,} trace{'s' if total != 1 else ''} · showing {first:,}–{last:,} · page {filters.page} of "
        f"{pages} · sorted by {filters.sort} ({filters.order}ending) · select a row (or click *open*) to see it"
    )
    generation = st.session_state.setdefault(_TABLE_GENERATION, 0)
    rows = fmt.trace_rows(items, filters.q)
    event = st.dataframe(
        pd.DataFrame(rows, columns=list(COLUMNS)),
        key=f"traces.results.{generation}",
        hide_index=True,
        column_config=COLUMNS,
        on_select="rerun",
        selection_mode="single-row",
        width="stretch",
        height=fmt.table_height(len(rows)),
    )
    FORM.pager(filters, pages)
    chosen = event.selection.rows if event is not None else []
    if chosen:
        st.session_state[_TABLE_GENERATION] = generation + 1
        session.open_trace(str(items[chosen[0]]["trace_id"]))


def render() -> None:
    st.title("Traces")
    FORM.arrive()
    FORM.widgets(session.facets(), compact=True)
    filters = FORM.current()
    if not FORM.query_ok(filters):
        return
    params = filters.api_params(session.now())
    try:
        with st.spinner("Loading traces…"):
            result = session.list_traces(params)
    except ApiError as exc:
        session.show_api_error("The traces could not be loaded.", exc)
        return
    if result["total"] and not result["items"] and filters.page > 1:
        FORM.past_the_last_page(filters, result["total"])
        return
    if not result["total"]:
        _empty_state(filters)
        return
    _results(filters, result)


if __name__ == "__main__":
    render()
