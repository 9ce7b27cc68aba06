"""Streamlit glue shared by the pages: the API client, cached facets, page paths, and the
state that is remembered across pages (filters, the last trace) and mirrored in the URL.

Rules (docs/ui.md): a URL's query parameters win when a page is opened with them;
otherwise a page starts from what the session remembers; every change is written back to
the URL so a view can be bookmarked or shared.
"""
from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NoReturn

import streamlit as st

from flightlog.ui.client import (
    DEFAULT_API_URL,
    FLIGHTLOG_API_KEY,
    FLIGHTLOG_API_URL,
    ApiClient,
    ApiError,
)
from flightlog.ui.filters import SearchFilters, has_search_params
from flightlog.ui.inbox import person_label
from flightlog.ui.types import Session, SessionPage, TracePage, WhoAmI

# Page scripts, relative to app.py (what st.Page, st.switch_page and st.page_link take).
TRACES_PAGE = "views/traces.py"
SESSIONS_PAGE = "views/sessions.py"
SEARCH_PAGE = "views/search.py"
TRACE_PAGE = "views/trace.py"
COST_PAGE = "views/cost.py"
TRACEBACK_PAGE = "views/traceback.py"
MONITORING_PAGE = "views/monitoring.py"
APPROVALS_PAGE = "views/approvals.py"
CONTROL_PAGE = "views/control.py"
POLICIES_PAGE = "views/policies.py"
ALERTS_PAGE = "views/alerts.py"
DATASETS_PAGE = "views/datasets.py"
COMPARE_PAGE = "views/compare.py"

_FILTERS = "flightlog.search_filters"
_TRACE_ID = "flightlog.trace_id"
_SELECTED_SPAN = "flightlog.selected_span"
_PERSON = "flightlog.person"
_SIGN_IN_KEY = "flightlog.sign_in.key"
FACETS_TTL_SECONDS = 60
API_TTL_SECONDS = 15
"""How long a page reuses an identical read (a rerun for a click does not ask again)."""


def api_settings() -> tuple[str, str]:
    """``(base_url, read_key)`` from ``FLIGHTLOG_API_URL`` / ``FLIGHTLOG_API_KEY``."""
    return (
        os.environ.get(FLIGHTLOG_API_URL) or DEFAULT_API_URL,
        os.environ.get(FLIGHTLOG_API_KEY, ""),
    )


@st.cache_resource(show_spinner=False)
def _client(base_url: str, api_key: str) -> ApiClient:
    return ApiClient(base_url, api_key)


def get_client() -> ApiClient:
    """The process-wide client for the configured collector (httpx clients are thread-safe)."""
    return _client(*api_settings())


@st.cache_data(ttl=FACETS_TTL_SECONDS, show_spinner=False)
def _facets(base_url: str, api_key: str) -> dict[str, list[str]]:
    return _client(base_url, api_key).facets()


def facets() -> dict[str, list[str]]:
    """Filter choices from ``GET /api/facets`` (cached a minute); empty lists if it fails."""
    try:
        return _facets(*api_settings())
    except ApiError as exc:
        show_api_error("Filter choices could not be loaded.", exc)
        return {}


def now() -> dt.datetime:
    """The current time to the whole 10 s, so that the reads of one moment are cached as one."""
    t = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    return t - dt.timedelta(seconds=t.second % 10)


@st.cache_data(ttl=API_TTL_SECONDS, show_spinner=False)
def _cached(base_url: str, api_key: str, method: str, args: tuple[Any, ...], kwargs: tuple[tuple[str, Any], ...]) -> Any:
    return getattr(_client(base_url, api_key), method)(*args, **dict(kwargs))


def cached(method: str, *args: Any, **kwargs: Any) -> Any:
    """``ApiClient.<method>(*args, **kwargs)`` with the UI's key, answered from a cache for
    :data:`API_TTL_SECONDS`: a rerun for a click (selecting a span, opening an expander) does
    not ask the collector again. Failures are not cached."""
    return _cached(*api_settings(), method, args, tuple(sorted(kwargs.items())))


@st.cache_data(ttl=API_TTL_SECONDS, show_spinner=False)
def _cached_together(base_url: str, api_key: str, calls: tuple[tuple[str, tuple[Any, ...], tuple[tuple[str, Any], ...]], ...]
                     ) -> list[Any]:
    client = _client(base_url, api_key)
    with ThreadPoolExecutor(max_workers=len(calls) or 1) as pool:
        futures = [pool.submit(getattr(client, method), *args, **dict(kwargs)) for method, args, kwargs in calls]
        return [f.result() for f in futures]


def cached_together(*calls: tuple[str, tuple[Any, ...], dict[str, Any]]) -> list[Any]:
    """Several reads of one page at once (each ``(method, args, kwargs)`` of :class:`ApiClient`),
    cached together like :func:`cached`: the page waits for the slowest, not for their sum."""
    return _cached_together(*api_settings(), tuple((m, a, tuple(sorted(k.items()))) for m, a, k in calls))


@st.cache_data(ttl=API_TTL_SECONDS, show_spinner=False)
def _list_traces(base_url: str, api_key: str, params: dict[str, Any]) -> TracePage:
    return _client(base_url, api_key).list_traces(**params)


def list_traces(params: dict[str, Any]) -> TracePage:
    """``GET /api/traces`` with these parameters (cached for a few seconds)."""
    return _list_traces(*api_settings(), params)


@st.cache_data(ttl=API_TTL_SECONDS, show_spinner=False)
def _sessions(base_url: str, api_key: str, params: dict[str, Any]) -> SessionPage:
    return _client(base_url, api_key).sessions(**params)


def sessions(params: dict[str, Any]) -> SessionPage:
    """``GET /api/sessions`` (cached for a few seconds)."""
    return _sessions(*api_settings(), params)


@st.cache_data(ttl=API_TTL_SECONDS, show_spinner=False)
def _session(base_url: str, api_key: str, session_id: str) -> Session:
    return _client(base_url, api_key).session(session_id)


def get_session(session_id: str) -> Session:
    """``GET /api/sessions/{session_id}`` (cached for a few seconds)."""
    return _session(*api_settings(), session_id)


@st.cache_data(ttl=API_TTL_SECONDS, show_spinner=False)
def _trace_spans(base_url: str, api_key: str, trace_id: str) -> list[Any]:
    return list(_client(base_url, api_key).get_trace(trace_id).spans)


def trace_spans(trace_id: str) -> list[Any]:
    """The spans of ``GET /api/traces/{trace_id}`` (cached for a few seconds)."""
    return _trace_spans(*api_settings(), trace_id)


def show_api_error(summary: str, exc: ApiError) -> None:
    """Report a failed call: our own summary, then the server's message shown as plain text."""
    st.error(summary, icon=":material/error:")
    st.code(exc.message, language=None, wrap_lines=True)


def cached_or_explained(method: str, *args: Any, spinner: str, missing: Callable[[], None], failed: str,
                        **kwargs: Any) -> Any | None:
    """:func:`cached`, or None once the person is told why not: ``missing()`` for a 404 (the
    page's own way back), else the ``failed`` summary with the server's message."""
    try:
        with st.spinner(spinner):
            return cached(method, *args, **kwargs)
    except ApiError as exc:
        if exc.status_code == 404:
            missing()
        else:
            show_api_error(failed, exc)
        return None


def sync_url(params: dict[str, str]) -> None:
    """Make the browser's query string equal ``params`` (no write when already equal)."""
    if st.query_params.to_dict() != params:
        st.query_params.from_dict(params)


# -- Search filters -------------------------------------------------------------------


def arriving_search_filters() -> SearchFilters:
    """Filters to start the Search page from: the URL's if it has any, else the remembered."""
    params = st.query_params.to_dict()
    if has_search_params(params):
        return SearchFilters.from_query_params(params)
    return remembered_filters()


def remembered_filters() -> SearchFilters:
    """The filters last used in this session (also the Cost page's time range)."""
    value = st.session_state.get(_FILTERS)
    return value if isinstance(value, SearchFilters) else SearchFilters()


def remember_filters(filters: SearchFilters) -> None:
    st.session_state[_FILTERS] = filters


# -- Trace ----------------------------------------------------------------------------


def remembered_trace_id() -> str:
    return str(st.session_state.get(_TRACE_ID) or "")


def remember_trace_id(trace_id: str) -> None:
    st.session_state[_TRACE_ID] = trace_id


def select_span(trace_id: str, span_id: str) -> None:
    """Remember which span of which trace the Trace page shows in detail."""
    st.session_state[_SELECTED_SPAN] = (trace_id, span_id)


def selected_span(trace_id: str, url_span_id: str) -> str:
    """The span to show for ``trace_id``: the one chosen in this session, else the URL's."""
    chosen = st.session_state.get(_SELECTED_SPAN)
    if isinstance(chosen, tuple) and chosen[0] == trace_id and chosen[1]:
        return str(chosen[1])
    return url_span_id


def open_trace(trace_id: str, span_id: str = "") -> NoReturn:
    """Switch to the Trace page showing ``trace_id`` (and ``span_id`` selected)."""
    select_span(trace_id, span_id)
    params = {"trace_id": trace_id, **({"span_id": span_id} if span_id else {})}
    st.switch_page(TRACE_PAGE, query_params=params)


# -- the signed-in person -------------------------------------------------------------
#
# The UI reads with its own key (FLIGHTLOG_API_KEY), which is shared and may not decide.
# Deciding approvals and pausing agents use the key of the person at the screen, typed into
# the sidebar: kept only in this browser session's server-side state (st.session_state),
# sent only as the Authorization header of their own actions, never put in the URL, logged
# or written to disk. Signing out, closing the tab or a restart of the UI forgets it.


@dataclass(frozen=True)
class Person:
    """Who is signed in: their key (never shown, never in a repr) and ``GET /api/whoami``."""

    key: str = field(repr=False)
    who: WhoAmI

    @property
    def label(self) -> str:
        return person_label(self.who)


def signed_in() -> Person | None:
    """The person signed in in this browser session, if any."""
    person = st.session_state.get(_PERSON)
    return person if isinstance(person, Person) else None


def sign_out() -> None:
    st.session_state.pop(_PERSON, None)


def sign_in(key: str) -> Person:
    """Check ``key`` with ``GET /api/whoami`` and remember who it is; ApiError if refused."""
    who = get_client().whoami(api_key=key.strip())
    person = Person(key=key.strip(), who=who)
    st.session_state[_PERSON] = person
    return person


def forget_refused_key(exc: ApiError) -> None:
    """After a 401 the person's key no longer works (revoked): sign them out."""
    if exc.status_code == 401:
        sign_out()


def sign_in_box() -> None:
    """The sidebar's "Your key" box, or who is signed in with a Sign out button."""
    person = signed_in()
    if person is not None:
        st.caption("Your key (kept in this browser session only)")
        st.text(f"Signed in as {person.label}")
        st.button("Sign out", key="flightlog.sign_out", on_click=sign_out, icon=":material/logout:")
        return
    with st.form("flightlog.sign_in", clear_on_submit=True, border=False):
        typed = st.text_input(
            "Your key", type="password", key=_SIGN_IN_KEY, autocomplete="off",
            help="Your own API key, to approve, reject or pause as yourself. Kept in this browser "
                 "session only: never in the URL, never logged or stored. The UI's own key only reads.")
        submitted = st.form_submit_button("Sign in", icon=":material/login:")
    if submitted and typed.strip():
        try:
            sign_in(typed)
        except ApiError as exc:
            st.error("That key was refused." if exc.status_code in (401, 403) else "The key could not be checked.",
                     icon=":material/error:")
            st.code(exc.message, language=None, wrap_lines=True)
            return
        st.rerun()
