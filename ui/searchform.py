"""Streamlit glue: the search filters form shared by the Traces and Search pages.

Each page gets its own widget keys (``<prefix>.<field>``), while the filters themselves are
one :class:`SearchFilters` remembered for the session, so moving between Traces and Search
keeps the search (docs/ui.md).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import streamlit as st

from flightlog import search
from flightlog.ui import session
from flightlog.ui.filters import (
    MAX_OFFSET,
    MAX_QUERY_CHARS,
    ORDERS,
    PAGE_SIZES,
    SEARCH_RANGES,
    SORTS,
    STATUSES,
    SearchFilters,
    page_count,
    parse_date,
)

# Widget keys are "<prefix>.<field>" for each of these SearchFilters fields.
WIDGET_FIELDS = (
    "q", "range", "agent", "agent_version", "model", "prompt_id", "prompt_version", "tool", "span_type",
    "status", "user", "session", "sort", "order", "page_size",
)
_DATE_FIELDS = ("start_date", "end_date")  # date_input widgets hold dates; the filters hold text
# Filters whose choices come from GET /api/facets: (label, SearchFilters field, facet name);
# flightlog.search is the one definition for storage, the API and the UI.
FACET_FILTERS = search.FACET_FILTERS
ORDER_LABELS = {"desc": "descending", "asc": "ascending"}
SORT_LABELS = {"time": "time", "cost": "cost", "tokens": "tokens", "duration": "duration"}


class FilterForm:
    """The filter widgets of one page (keys ``<prefix>.*``) and its page number."""

    def __init__(self, prefix: str, *, placeholder: str) -> None:
        self.prefix = prefix
        self.placeholder = placeholder
        self.page_key = f"{prefix}.page"  # not a widget: survives visits to other pages

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}"

    def widget_values(self, filters: SearchFilters) -> dict[str, Any]:
        """The filter widgets' session-state values that show ``filters``."""
        values: dict[str, Any] = {self.key(name): getattr(filters, name) for name in WIDGET_FIELDS}
        for name in _DATE_FIELDS:
            text = getattr(filters, name)
            values[self.key(name)] = dt.date.fromisoformat(text) if text else None
        return values

    def seed(self, filters: SearchFilters) -> None:
        """Give the filter widgets their starting values (on arrival at the page)."""
        st.session_state.update(self.widget_values(filters))
        st.session_state[self.page_key] = filters.page
        session.remember_filters(filters)

    def reseed_missing(self, filters: SearchFilters) -> None:
        """Put back the state of filter widgets Streamlit dropped.

        A run cut short by the next one (typing, then Enter, while the page is still drawing)
        can leave some widgets unregistered; Streamlit then forgets their values, and they
        would come back at their first option while the results still showed the remembered
        filters.
        """
        for key, value in self.widget_values(filters).items():
            st.session_state.setdefault(key, value)

    def arrive(self) -> None:
        """Seed the widgets on arrival (URL, else remembered filters), or restore dropped ones."""
        if self.key("q") not in st.session_state:
            self.seed(session.arriving_search_filters())
        else:
            self.reseed_missing(session.remembered_filters())

    def filters(self) -> SearchFilters:
        """The filters the widgets show, at the remembered page."""
        values = {name: st.session_state[self.key(name)] for name in WIDGET_FIELDS}
        for name in _DATE_FIELDS:
            day = st.session_state.get(self.key(name))
            values[name] = parse_date(day.isoformat()) if values["range"] == "custom" and day else ""
        return SearchFilters(**values, page=int(st.session_state.get(self.page_key, 1)))

    def current(self) -> SearchFilters:
        """The filters to show now: page 1 again when anything but the page changed; remembered
        for the other pages and written to the URL."""
        filters = self.filters()
        if not filters.same_query(session.remembered_filters()):
            filters = filters.with_changes(page=1)
            st.session_state[self.page_key] = 1
        session.remember_filters(filters)
        session.sync_url(filters.to_query_params())
        return filters

    def clear(self) -> None:
        defaults = SearchFilters()
        for name in WIDGET_FIELDS:
            st.session_state[self.key(name)] = getattr(defaults, name)
        for name in _DATE_FIELDS:
            st.session_state[self.key(name)] = None
        st.session_state[self.page_key] = 1

    def turn_page(self, step: int) -> None:
        st.session_state[self.page_key] = max(1, int(st.session_state.get(self.page_key, 1)) + step)

    def pager(self, filters: SearchFilters, pages: int) -> None:
        """The "← Previous" and "Next →" buttons under a page of results."""
        prev_col, next_col, _ = st.columns([1, 1, 6])
        prev_col.button("← Previous", on_click=self.turn_page, args=(-1,), disabled=filters.page <= 1)
        next_col.button("Next →", on_click=self.turn_page, args=(1,), disabled=filters.page >= pages)

    def go_to_page(self, page: int) -> None:
        st.session_state[self.page_key] = max(1, page)

    def query_ok(self, filters: SearchFilters) -> bool:
        """False (with a message and a way back) for a search the API would refuse: words over
        1,000 characters, or a page beyond the 100,000th result."""
        if len(filters.q) > MAX_QUERY_CHARS:
            st.warning(f"The search text has {len(filters.q):,} characters; at most {MAX_QUERY_CHARS:,} are "
                       "searched. Shorten it to a few distinctive words.", icon=":material/warning:")
            st.button("Clear the search text", on_click=self._clear_text, key=self.key("clear_text"))
            return False
        if (filters.page - 1) * filters.page_size > MAX_OFFSET:
            st.warning(f"Page {filters.page:,} is beyond the first {MAX_OFFSET:,} results, which is as far as "
                       "pages go. Narrow the search (time range, filters) or sort the other way.",
                       icon=":material/warning:")
            st.button("Back to page 1", on_click=self.go_to_page, args=(1,), key=self.key("first_page"))
            return False
        return True

    def past_the_last_page(self, filters: SearchFilters, total: int) -> None:
        """Say that the page asked for is past the end (an old link, or results shrank)."""
        last = page_count(total, filters.page_size)
        st.warning(f"Page {filters.page:,} is past the last page: {total:,} results fill {last:,} "
                   f"page{'s' if last != 1 else ''}.", icon=":material/warning:")
        st.button(f"Go to page {last:,}", on_click=self.go_to_page, args=(last,), key=self.key("last_page"))

    def _clear_text(self) -> None:
        st.session_state[self.key("q")] = ""
        st.session_state[self.page_key] = 1

    def widgets(self, facets: dict[str, list[str]], *, compact: bool = False) -> None:
        """The search box, three rows of four filters, and the sort and page size.

        ``compact``: one row (time range, agent, status, user) and the rest folded under
        *More filters, sort and page size*, so that the results start higher up.
        """
        st.text_input(
            "Search text",
            key=self.key("q"),
            placeholder=self.placeholder,
            help="Case-insensitive; every word must match. Press Enter to search.",
        )
        first = ("agent", "user") if compact else ()
        row = st.columns(4)
        cells = list(row) if compact else [*row, *st.columns(4), *st.columns(4)]
        cells[0].selectbox(
            "Time range", list(SEARCH_RANGES), key=self.key("range"), format_func=lambda k: SEARCH_RANGES[k][0]
        )
        if compact:
            self._facet(cells[1], facets, "agent")
            cells[2].selectbox("Status", ["", *STATUSES], key=self.key("status"), format_func=_any)
            self._facet(cells[3], facets, "user")
            more = st.expander("More filters, sort and page size")
            cells = [*more.columns(4), *more.columns(4)]
            rest = [f for f in FACET_FILTERS if f[1] not in first]
            for cell, (_, field, _) in zip(cells, rest):
                self._facet(cell, facets, field)
            session_cell, date_cell = cells[len(rest)], cells[len(rest) + 1]
            sorting = more
        else:
            for cell, (_, field, _) in zip(cells[1:9], FACET_FILTERS):
                self._facet(cell, facets, field)
            cells[9].selectbox("Status", ["", *STATUSES], key=self.key("status"), format_func=_any)
            session_cell, date_cell = cells[10], cells[11]
            sorting = st.expander("Sort and page size")
        session_cell.text_input("Session", key=self.key("session"), placeholder="session / conversation id")
        if st.session_state[self.key("range")] == "custom":
            date_cell.date_input("From (UTC)", key=self.key("start_date"))
            date_cell.date_input("To (UTC, inclusive)", key=self.key("end_date"))
        sort_by, order, size = sorting.columns(3)
        sort_by.selectbox("Sort by", SORTS, key=self.key("sort"), format_func=SORT_LABELS.get)
        order.selectbox("Order", ORDERS, key=self.key("order"), format_func=ORDER_LABELS.get)
        size.selectbox("Results per page", PAGE_SIZES, key=self.key("page_size"))

    def _facet(self, cell: Any, facets: dict[str, list[str]], field: str) -> None:
        label, _, facet = next(f for f in FACET_FILTERS if f[1] == field)
        options = _choices(facets.get(facet, []), st.session_state[self.key(field)])
        cell.selectbox(label, options, key=self.key(field), format_func=_any)


def _choices(values: list[str], current: str) -> list[str]:
    """Options for a filter: "" (any), the known values, and the current one if unseen."""
    return ["", *sorted({v for v in values if v} | ({current} if current else set()))]


def _any(value: str) -> str:
    return value or "Any"
