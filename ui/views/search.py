"""Search page: full-text search and filters over spans (``GET /api/spans``), one page of
results at a time; selecting a result opens its trace.

URL: ``/?q=refund&agent=…&model=…&range=7d&page=2`` (every parameter in docs/ui.md).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import streamlit as st

from flightlog.search import FACET_FILTERS
from flightlog.ui import format as fmt
from flightlog.ui import session
from flightlog.ui.client import ApiError, SearchResult
from flightlog.ui.filters import (
    ORDERS,
    PAGE_SIZES,
    SEARCH_RANGES,
    SORTS,
    STATUSES,
    SearchFilters,
    page_count,
    parse_date,
)

# Widget keys are "search.<field>" for each of these SearchFilters fields.
_WIDGET_FIELDS = (
    "q", "range", "agent", "agent_version", "model", "prompt_id", "prompt_version", "tool", "span_type",
    "status", "user", "session", "sort", "order", "page_size",
)
_DATE_FIELDS = ("start_date", "end_date")  # date_input widgets hold dates; the filters hold text
# Filters whose choices come from GET /api/facets: (label, SearchFilters field, facet name).
_FACET_FILTERS = FACET_FILTERS  # flightlog.search: one definition for storage, API and UI
_ORDER_LABELS = {"desc": "descending", "asc": "ascending"}
_PAGE = "search.page"  # not a widget: survives visits to other pages
_TABLE_GENERATION = "search.table_generation"  # bumped to clear the table's row selection

_COLUMNS = {
    "time": st.column_config.TextColumn("time (UTC)"),
    "tokens": st.column_config.NumberColumn("tokens", format="%d"),
    "cost": st.column_config.NumberColumn("cost", format="$%.6f"),
    "duration ms": st.column_config.NumberColumn("duration", format="%.0f ms"),
    "input": st.column_config.TextColumn("input", width="large"),
    "output": st.column_config.TextColumn("output", width="large"),
    "trace": st.column_config.LinkColumn("trace", display_text="open ↗"),
}


def _widget_values(filters: SearchFilters) -> dict[str, Any]:
    """The filter widgets' session-state values that show ``filters``."""
    values: dict[str, Any] = {f"search.{name}": getattr(filters, name) for name in _WIDGET_FIELDS}
    for name in _DATE_FIELDS:
        text = getattr(filters, name)
        values[f"search.{name}"] = dt.date.fromisoformat(text) if text else None
    return values


def _seed_widgets(filters: SearchFilters) -> None:
    """Give the filter widgets their starting values (on arrival at the page)."""
    st.session_state.update(_widget_values(filters))
    st.session_state[_PAGE] = filters.page
    session.remember_filters(filters)


def _reseed_missing(filters: SearchFilters) -> None:
    """Put back the state of filter widgets Streamlit dropped.

    A run cut short by the next one (typing, then Enter, while the page is still drawing) can
    leave some widgets unregistered; Streamlit then forgets their values, and they would come
    back at their first option (the time range at "Last 15 minutes") while the results still
    showed the remembered filters.
    """
    for key, value in _widget_values(filters).items():
        st.session_state.setdefault(key, value)


def _widget_filters() -> SearchFilters:
    values = {name: st.session_state[f"search.{name}"] for name in _WIDGET_FIELDS}
    for name in _DATE_FIELDS:
        day = st.session_state.get(f"search.{name}")
        values[name] = parse_date(day.isoformat()) if values["range"] == "custom" and day else ""
    return SearchFilters(**values, page=int(st.session_state.get(_PAGE, 1)))


def _clear_filters() -> None:
    defaults = SearchFilters()
    for name in _WIDGET_FIELDS:
        st.session_state[f"search.{name}"] = getattr(defaults, name)
    for name in _DATE_FIELDS:
        st.session_state[f"search.{name}"] = None
    st.session_state[_PAGE] = 1


def _turn_page(step: int) -> None:
    st.session_state[_PAGE] = max(1, int(st.session_state.get(_PAGE, 1)) + step)


def _choices(values: list[str], current: str) -> list[str]:
    """Options for a filter: "" (any), the known values, and the current one if unseen."""
    return ["", *sorted({v for v in values if v} | ({current} if current else set()))]


def _any(value: str) -> str:
    return value or "Any"


def _filter_widgets(facets: dict[str, list[str]]) -> None:
    st.text_input(
        "Search text",
        key="search.q",
        placeholder="Words that must all appear in a prompt, answer or tool call",
        help="Case-insensitive; every word must match. Press Enter to search.",
    )
    cells = [*st.columns(4), *st.columns(4), *st.columns(4)]  # three rows of four
    cells[0].selectbox(
        "Time range", list(SEARCH_RANGES), key="search.range", format_func=lambda k: SEARCH_RANGES[k][0]
    )
    for cell, (label, field, facet) in zip(cells[1:9], _FACET_FILTERS):
        options = _choices(facets.get(facet, []), st.session_state[f"search.{field}"])
        cell.selectbox(label, options, key=f"search.{field}", format_func=_any)
    cells[9].selectbox("Status", ["", *STATUSES], key="search.status", format_func=_any)
    cells[10].text_input("Session", key="search.session", placeholder="session / conversation id")
    if st.session_state["search.range"] == "custom":
        cells[11].date_input("From (UTC)", key="search.start_date")
        cells[11].date_input("To (UTC, inclusive)", key="search.end_date")
    with st.expander("Sort and page size"):
        sort_by, order, size = st.columns(3)
        sort_by.selectbox("Sort by", SORTS, key="search.sort")
        order.selectbox("Order", ORDERS, key="search.order", format_func=_ORDER_LABELS.get)
        size.selectbox("Results per page", PAGE_SIZES, key="search.page_size")


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
    st.button("Clear filters", on_click=_clear_filters)


def _results(filters: SearchFilters, result: SearchResult) -> None:
    pages = page_count(result.total, filters.page_size)
    first = (filters.page - 1) * filters.page_size + 1
    last = first + len(result.items) - 1
    st.caption(
        f"{result.total:,} matching span{'s' if result.total != 1 else ''} · "
        f"showing {first:,}–{last:,} · page {filters.page} of {pages} · "
        "select a row (or click *open*) to see its trace"
    )
    generation = st.session_state.setdefault(_TABLE_GENERATION, 0)
    table = pd.DataFrame(fmt.result_rows(result.items, filters.q))
    event = st.dataframe(
        table,
        key=f"search.results.{generation}",
        hide_index=True,
        column_config=_COLUMNS,
        on_select="rerun",
        selection_mode="single-row",
        width="stretch",
    )
    prev_col, next_col, _ = st.columns([1, 1, 6])
    prev_col.button("← Previous", on_click=_turn_page, args=(-1,), disabled=filters.page <= 1)
    next_col.button("Next →", on_click=_turn_page, args=(1,), disabled=filters.page >= pages)
    rows = event.selection.rows if event is not None else []
    if rows:
        span = result.items[rows[0]]
        st.session_state[_TABLE_GENERATION] = generation + 1
        session.open_trace(str(span.get("trace_id") or ""), str(span.get("span_id") or ""))


def render() -> None:
    st.title("Search")
    if "search.q" not in st.session_state:
        _seed_widgets(session.arriving_search_filters())
    else:
        _reseed_missing(session.remembered_filters())
    facets = session.facets()
    _filter_widgets(facets)

    filters = _widget_filters()
    if not filters.same_query(session.remembered_filters()):
        filters = filters.with_changes(page=1)
        st.session_state[_PAGE] = 1
    session.remember_filters(filters)
    session.sync_url(filters.to_query_params())

    try:
        with st.spinner("Searching…"):
            result = session.get_client().search_spans(**filters.api_params(dt.datetime.now(dt.timezone.utc)))
    except ApiError as exc:
        session.show_api_error("Search failed.", exc)
        return
    if result.total and not result.items and filters.page > 1:
        # Past the last page (an old link, or results shrank): go to the last page.
        st.session_state[_PAGE] = page_count(result.total, filters.page_size)
        st.rerun()
    if not result.total:
        _empty_state(filters)
        return
    _results(filters, result)


if __name__ == "__main__":
    render()
