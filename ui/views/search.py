"""Search page: full-text search and filters over spans (``GET /api/spans``), one page of
results at a time; selecting a result opens its trace, or, with *Pick rows for a dataset* on,
selected results are added to a dataset as items (with the signed-in person's key).

URL: ``/search?q=refund&agent=…&model=…&range=7d&page=2`` (every parameter in docs/ui.md).
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from flightlog.ui import format as fmt
from flightlog.ui import datasetform, session
from flightlog.ui.client import ApiError, SearchResult
from flightlog.ui.filters import SearchFilters, page_count
from flightlog.ui.searchform import FilterForm

FORM = FilterForm("search", placeholder="Words that must all appear in a prompt, answer or tool call")
_TABLE_GENERATION = "search.table_generation"  # bumped to clear the table's row selection
_PICKING = "search.pick"  # rows are picked for a dataset instead of opening their trace

# Sized so that at 1280–1440 px everything up to the link fits; the snippets come last.
_COLUMNS = {
    "time": st.column_config.TextColumn("time (UTC)", width=160),
    "type": st.column_config.TextColumn("type", width=60),
    "name": st.column_config.TextColumn("name", width=180),
    "agent": st.column_config.TextColumn("agent", width=100),
    "model": st.column_config.TextColumn("model", width=100),
    "prompt version": st.column_config.TextColumn("prompt", width=60),
    "tokens": st.column_config.NumberColumn("tokens", format="%d", width=60),
    "cost": st.column_config.NumberColumn("cost", format="$%.4f", width=70),
    "duration s": st.column_config.NumberColumn("duration", format="%.2f s", width=75),
    "status": st.column_config.TextColumn("status", width=55),
    "trace": st.column_config.LinkColumn("trace", display_text="open ↗", width=60),
    "input": st.column_config.TextColumn("input", width=300),
    "output": st.column_config.TextColumn("output", width=300),
}
_ORDER = ["time", "status", "name", "duration s", "cost", "tokens", "trace", "input", "output", "type", "agent",
          "model", "prompt version"]


def _empty_state(filters: SearchFilters) -> None:
    if not filters.is_filtered():
        st.info(
            "No spans recorded yet. Point an agent at the collector: `flightlog.init()` in "
            "the agent, or any OpenTelemetry exporter sending OTLP to "
            "`<collector>:4318/v1/traces` with an ingest key. Then reload this page.",
            icon=":material/flight_takeoff:",
        )
        return
    st.info(
        "No spans match. Things to try: fewer or different words (every word must appear), "
        "a wider time range such as *All time*, or fewer filters.",
        icon=":material/search_off:",
    )
    st.button("Clear filters", on_click=FORM.clear)


def _results(filters: SearchFilters, result: SearchResult) -> None:
    pages = page_count(result.total, filters.page_size)
    first = (filters.page - 1) * filters.page_size + 1
    last = first + len(result.items) - 1
    st.caption(
        f"{result.total:,} matching span{'s' if result.total != 1 else ''} · "
        f"showing {first:,}–{last:,} · page {filters.page} of {pages} · "
        + ("select the rows to add to a dataset" if st.session_state.get(_PICKING)
           else "select a row (or click *open*) to see its trace")
    )
    picking = st.toggle("Pick rows for a dataset", key=_PICKING,
                        help="Select several rows, then add their spans to a dataset (rows no longer open traces).")
    generation = st.session_state.setdefault(_TABLE_GENERATION, 0)
    rows = fmt.result_rows(result.items, filters.q)
    for row in rows:
        row["duration s"] = row.pop("duration ms") / 1000
    table = pd.DataFrame(rows, columns=_ORDER)
    event = st.dataframe(
        table,
        key=f"search.results.{generation}{'.pick' if picking else ''}",
        hide_index=True,
        column_config=_COLUMNS,
        column_order=_ORDER,
        on_select="rerun",
        selection_mode="multi-row" if picking else "single-row",
        width="stretch",
        height=fmt.table_height(len(rows)),
    )
    FORM.pager(filters, pages)
    chosen = event.selection.rows if event is not None else []
    if picking:
        datasetform.add_spans("search", [
            datasetform.SpanRef(str(result.items[i].get("trace_id") or ""), str(result.items[i].get("span_id") or ""),
                                str(result.items[i].get("span_name") or "")) for i in chosen if i < len(result.items)],
            expanded=True, on_added=lambda: st.session_state.update({_TABLE_GENERATION: generation + 1}))
        return  # once added, the rows are unselected (a new table), so a second click adds nothing twice
    if chosen:
        span = result.items[chosen[0]]
        st.session_state[_TABLE_GENERATION] = generation + 1
        session.open_trace(str(span.get("trace_id") or ""), str(span.get("span_id") or ""))


def render() -> None:
    st.title("Search")
    FORM.arrive()
    FORM.widgets(session.facets())
    filters = FORM.current()
    if not FORM.query_ok(filters):
        return
    try:
        with st.spinner("Searching…"):
            result = session.cached("search_spans", **filters.api_params(session.now()))
    except ApiError as exc:
        session.show_api_error("Search failed.", exc)
        return
    if result.total and not result.items and filters.page > 1:
        FORM.past_the_last_page(filters, result.total)
        return
    if not result.total:
        _empty_state(filters)
        return
    _results(filters, result)


if __name__ == "__main__":
    render()
