"""Sessions page: conversations (``GET /api/sessions``), and one conversation's runs in order
with one transcript across them (``GET /api/sessions/{session_id}``).

URL: ``/sessions?q=refund&range=7d&agent=refund-bot&agent_version=2.3.0&user=u-1&errors=1&page=2``
(the list) or ``/sessions?session_id=…`` (one session; docs/ui.md).
"""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pandas as pd
import streamlit as st

from flightlog.ui import format as fmt
from flightlog.ui import session
from flightlog.ui.client import ApiError
from flightlog.ui.filters import DEFAULT_RANGE, MAX_QUERY_CHARS, TIME_RANGES, page_count, shared_range, time_window
from flightlog.ui.types import Session
from flightlog.ui.views.traces import COLUMNS as RUN_COLUMNS

_PAGE_SIZE = 50
# Every column wholly inside the grid from 1280 px up (with the sidebar open, the grid is ~820 px
# wide at 1280): the session id is the link to its transcript, rows are three lines high so that
# long values (the first input, a user's address) wrap instead of running past the grid's edge,
# and at wider screens the columns grow to fill it. The browser test checks nothing is cut off.
_LIST_COLUMNS = {
    "last activity": st.column_config.TextColumn("last activity (UTC)", width=125),
    "session": st.column_config.LinkColumn("session", display_text=r"session_id=(.*)", width=130,
                                           help="Opens the session's transcript"),
    "runs": st.column_config.NumberColumn("runs", format="%d", width=40),
    "errors": st.column_config.NumberColumn("errors", format="%d", width=45),
    "user": st.column_config.TextColumn("user", width=110),
    "agents": st.column_config.TextColumn("agents", width=90),
    "duration s": st.column_config.NumberColumn("duration", format="%.1f s", width=65),
    "cost": st.column_config.NumberColumn("cost", format="$%.4f", width=60),
    "first input": st.column_config.TextColumn("first input", width=120),
}
_LIST_ROW_PX = 66  # three lines of text (Streamlit wraps a grid's text only in rows over 64 px)
# The list's filters: widget keys "sessions.<name>"; the same as Traces where they make sense.
_FIELDS = ("q", "range", "agent", "agent_version", "user", "errors")
_SAVED = "sessions.saved"  # not widgets: survive visits to other pages (and to one session)
_PAGE = "sessions.page"
_TABLE_GENERATION = "sessions.table_generation"  # bumped to clear the table's row selection


def _arriving() -> dict[str, Any]:
    """Starting filters: the URL's if it has any, else this page's last, else the shared ones
    (the Traces/Search filters' words, time range, agent, agent version and user)."""
    url = st.query_params.to_dict()
    if any(name in url for name in (*_FIELDS, "page")):
        values: dict[str, Any] = {name: url.get(name, "") for name in _FIELDS}
        values["errors"] = url.get("errors") in ("1", "true")
        values["range"] = values["range"] if values["range"] in TIME_RANGES else DEFAULT_RANGE
        page = url.get("page", "1")
        values["page"] = int(page) if page.isdigit() and int(page) >= 1 else 1
        return values
    saved = st.session_state.get(_SAVED)
    if isinstance(saved, dict):
        return saved
    shared = session.remembered_filters()
    return {"q": shared.q, "range": shared_range(shared.range), "agent": shared.agent,
            "agent_version": shared.agent_version, "user": shared.user, "errors": False, "page": 1}


def _seed() -> None:
    """Widget values on arrival; and again for any whose state Streamlit dropped (a run cut
    short by the next one, see the Search page)."""
    if "sessions.q" not in st.session_state:
        values = _arriving()
        for name in _FIELDS:
            st.session_state[f"sessions.{name}"] = values[name]
        st.session_state[_PAGE] = values.get("page", 1)
        st.session_state[_SAVED] = values
        return
    saved = st.session_state.get(_SAVED) or _arriving()
    for name in _FIELDS:
        st.session_state.setdefault(f"sessions.{name}", saved[name])


def _filters(facets: dict[str, list[str]]) -> dict[str, Any]:
    """The search box and one row of filters; their values, the page reset to 1 when they change."""
    st.text_input("Search text", key="sessions.q",
                  placeholder="Words that must appear in a span of one of the session's runs",
                  help="Case-insensitive; every word must match one span of a run. Press Enter to search.")
    cells = st.columns([1, 1, 1, 1.2, 0.9], vertical_alignment="bottom")
    cells[0].selectbox("Time range", list(TIME_RANGES), key="sessions.range",
                       format_func=lambda k: TIME_RANGES[k][0])
    for cell, name, facet, label in ((cells[1], "agent", "agents", "Agent"),
                                     (cells[2], "agent_version", "agent_versions", "Agent version"),
                                     (cells[3], "user", "users", "User")):
        current = st.session_state[f"sessions.{name}"]
        options = ["", *sorted({v for v in facets.get(facet, []) if v} | ({current} if current else set()))]
        cell.selectbox(label, options, key=f"sessions.{name}", format_func=lambda v: v or "Any")
    cells[4].toggle("Errors only", key="sessions.errors", help="Only sessions with a run that has a failed span.")
    values = {name: st.session_state[f"sessions.{name}"] for name in _FIELDS}
    saved = st.session_state.get(_SAVED)
    if isinstance(saved, dict) and any(saved.get(name) != values[name] for name in _FIELDS):
        st.session_state[_PAGE] = 1
    values["page"] = max(1, int(st.session_state.get(_PAGE, 1)))
    st.session_state[_SAVED] = values
    shared = session.remembered_filters()
    changes = {name: values[name] for name in ("q", "agent", "agent_version", "user")}
    if values["range"] != shared_range(shared.range):
        changes["range"] = values["range"]
    if any(getattr(shared, name) != value for name, value in changes.items()):
        session.remember_filters(shared.with_changes(**changes, page=1))
    url = {name: str(values[name]) for name in ("q", "agent", "agent_version", "user") if values[name]}
    if values["range"] != DEFAULT_RANGE:
        url["range"] = values["range"]
    if values["errors"]:
        url["errors"] = "1"
    if values["page"] > 1:
        url["page"] = str(values["page"])
    session.sync_url(url)
    return values


def _turn_page(page: int) -> None:
    st.session_state[_PAGE] = page


def _list() -> None:
    st.title("Sessions")
    facets = session.facets()
    _seed()
    values = _filters(facets)
    if len(values["q"]) > MAX_QUERY_CHARS:
        st.warning(f"The search text has {len(values['q']):,} characters; at most {MAX_QUERY_CHARS:,} are "
                   "searched. Shorten it to a few distinctive words.", icon=":material/warning:")
        return
    start, end = time_window(values["range"], session.now())
    page = values["page"]
    try:
        with st.spinner("Loading sessions…"):
            found = session.sessions({
                "start": start, "end": end, "q": values["q"].strip(), "agent": values["agent"],
                "agent_version": values["agent_version"], "user": values["user"],
                "errors_only": bool(values["errors"]), "limit": _PAGE_SIZE, "offset": (page - 1) * _PAGE_SIZE})
    except ApiError as exc:
        session.show_api_error("The sessions could not be loaded.", exc)
        return
    filtered = any(values[name] for name in ("q", "agent", "agent_version", "user", "errors")) \
        or values["range"] != DEFAULT_RANGE
    if not found["total"]:
        if filtered:
            st.info("No sessions match. Try fewer words, a wider time range such as *All time*, or fewer filters.",
                    icon=":material/search_off:")
        else:
            st.info("No sessions recorded yet. A session is the conversation id an agent sets on its runs "
                    "(`session_id` in `flightlog.agent(...)`, or the `session.id` attribute).",
                    icon=":material/forum:")
        return
    pages = page_count(found["total"], _PAGE_SIZE)
    if page > pages:
        st.warning(f"Page {page:,} is past the last page: {found['total']:,} sessions fill {pages:,} "
                   f"page{'s' if pages != 1 else ''}.", icon=":material/warning:")
        st.button(f"Go to page {pages:,}", on_click=_turn_page, args=(pages,), key="sessions.last_page")
        return
    first = (page - 1) * _PAGE_SIZE + 1
    st.caption(f"{found['total']:,} sessions · showing {first:,}–{first + len(found['items']) - 1:,} · "
               f"page {page} of {pages} · most recently active first · select a row (or click its session) "
               "to read its transcript")
    items = found["items"]
    rows = [{
        "last activity": fmt.format_time(s["last_activity"])[:19],
        "session": "sessions?session_id=" + quote(s["session_id"], safe=""),
        "runs": s["traces"], "errors": s["errors"], "user": s["user"], "agents": ", ".join(s["agents"]),
        "duration s": s["duration_ms"] / 1000, "cost": s["cost_usd"],
        "first input": fmt.snippet(s["first_input"], values["q"]),
    } for s in items]
    generation = st.session_state.setdefault(_TABLE_GENERATION, 0)
    event = st.dataframe(pd.DataFrame(rows, columns=list(_LIST_COLUMNS)), hide_index=True,
                         column_config=_LIST_COLUMNS, width="stretch", row_height=_LIST_ROW_PX,
                         height=fmt.table_height(len(rows), 12, row_px=_LIST_ROW_PX),
                         key=f"sessions.results.{generation}", on_select="rerun", selection_mode="single-row")
    prev_col, next_col, _ = st.columns([1, 1, 6])
    prev_col.button("← Previous", disabled=page <= 1, on_click=_turn_page, args=(page - 1,))
    next_col.button("Next →", disabled=page >= pages, on_click=_turn_page, args=(page + 1,))
    chosen = event.selection.rows if event is not None else []
    if chosen:
        st.session_state[_TABLE_GENERATION] = generation + 1
        st.switch_page(session.SESSIONS_PAGE, query_params={"session_id": items[chosen[0]]["session_id"]})


def _one(session_id: str) -> None:
    st.title("Session")
    st.page_link(session.SESSIONS_PAGE, label="All sessions", icon=":material/arrow_back:")
    try:
        with st.spinner("Loading the session…"):
            found: Session = session.get_session(session_id)
    except ApiError as exc:
        if exc.status_code == 404:
            st.warning("No session with this id in the project.", icon=":material/search_off:")
            st.code(session_id, language=None, wrap_lines=True)
        else:
            session.show_api_error("The session could not be loaded.", exc)
        return
    runs = found["runs"]
    st.code(session_id, language=None)
    cells = st.columns([1, 1, 1, 3])
    cells[0].metric("Runs", f"{len(runs):,}")
    cells[1].metric("Cost", fmt.format_money(found["cost_usd"]))
    cells[2].metric("Errors", f"{found['errors']:,}")
    cells[3].caption("User")  # user ids are data: plain text, never Markdown
    cells[3].text(found["user"] or "—")
    if found["truncated"]:
        st.caption(f"Only the first {len(runs):,} runs are shown.")
    st.subheader("Runs, in order")
    rows = fmt.trace_rows(runs)
    columns = [c for c in RUN_COLUMNS if c != "session"]
    st.dataframe(pd.DataFrame(rows, columns=columns), hide_index=True,
                 column_config={c: RUN_COLUMNS[c] for c in columns}, width="stretch",
                 height=fmt.table_height(len(rows)))
    st.subheader("Transcript")
    numbers = {r["trace_id"]: i for i, r in enumerate(runs, 1)}
    shown = ""
    for turn in found["turns"]:
        if turn["trace_id"] != shown:
            shown = turn["trace_id"]
            run = runs[numbers[shown] - 1]
            head, link = st.columns([5, 1])
            head.caption(f"Run {numbers[shown]} · {fmt.format_time(run['started'])[:19]} UTC · {run['name']} · "
                         f"{fmt.format_duration(run['duration_ms'])} · {run['status']}")
            link.page_link(session.TRACE_PAGE, label="open trace", icon=":material/account_tree:",
                           query_params={"trace_id": shown})
        with st.chat_message(turn["role"]):
            if turn["text"]:
                st.text(turn["text"])
            else:
                st.caption("No answer: the run failed." if turn["status"] == "error" else "No answer recorded.")


def render() -> None:
    session_id = str(st.query_params.get("session_id") or "").strip()
    if session_id:
        _one(session_id)
    else:
        _list()


if __name__ == "__main__":
    render()
