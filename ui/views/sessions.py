"""Sessions page: conversations (``GET /api/sessions``), and one conversation's runs in order
with one transcript across them (``GET /api/sessions/{session_id}``).

URL: ``/sessions`` (the list) or ``/sessions?session_id=…`` (docs/ui.md).
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from flightlog.ui import format as fmt
from flightlog.ui import session
from flightlog.ui.client import ApiError
from flightlog.ui.filters import TIME_RANGES, page_count, shared_range, time_window
from flightlog.ui.types import Session
from flightlog.ui.views.traces import COLUMNS as RUN_COLUMNS

_PAGE_SIZE = 50
_LIST_COLUMNS = {
    "last activity": st.column_config.TextColumn("last activity (UTC)", width=135),
    "runs": st.column_config.NumberColumn("runs", format="%d", width=45),
    "errors": st.column_config.NumberColumn("errors", format="%d", width=45),
    "user": st.column_config.TextColumn("user", width=170),
    "agents": st.column_config.TextColumn("agents", width=140),
    "duration s": st.column_config.NumberColumn("duration", format="%.1f s", width=80),
    "cost": st.column_config.NumberColumn("cost", format="$%.4f", width=65),
    "open": st.column_config.LinkColumn("session", display_text=r"session_id=(.*)", width=140),
    "first input": st.column_config.TextColumn("first input", width="large"),
}


def _list() -> None:
    st.title("Sessions")
    remembered = session.remembered_filters()
    left, right, _ = st.columns([1, 1, 2])
    range_key = left.selectbox("Time range", list(TIME_RANGES), index=list(TIME_RANGES).index(
        shared_range(remembered.range)), format_func=lambda k: TIME_RANGES[k][0], key="sessions.range")
    user = right.text_input("User", value=remembered.user, key="sessions.user")
    start, end = time_window(range_key, session.now())
    page = int(st.session_state.get("sessions.page", 1))
    try:
        with st.spinner("Loading sessions…"):
            found = session.sessions({"start": start, "end": end, "user": user, "agent": remembered.agent,
                                      "limit": _PAGE_SIZE, "offset": (page - 1) * _PAGE_SIZE})
    except ApiError as exc:
        session.show_api_error("The sessions could not be loaded.", exc)
        return
    if not found["total"]:
        st.info("No sessions in this time range. A session is the conversation id an agent sets on its runs "
                "(`session_id` in `flightlog.agent(...)`, or the `session.id` attribute).",
                icon=":material/forum:")
        return
    pages = page_count(found["total"], _PAGE_SIZE)
    st.caption(f"{found['total']:,} sessions · most recently active first · page {page} of {pages}"
               + (f" · agent {remembered.agent}" if remembered.agent else ""))
    rows = [{
        "last activity": fmt.format_time(s["last_activity"])[:19], "runs": s["traces"], "errors": s["errors"],
        "user": s["user"], "agents": ", ".join(s["agents"]), "duration s": s["duration_ms"] / 1000,
        "cost": s["cost_usd"], "open": "sessions?session_id=" + s["session_id"],
        "first input": fmt.snippet(s["first_input"]),
    } for s in found["items"]]
    st.dataframe(pd.DataFrame(rows, columns=list(_LIST_COLUMNS)), hide_index=True, column_config=_LIST_COLUMNS,
                 width="stretch", height=fmt.table_height(len(rows)))
    prev_col, next_col, _ = st.columns([1, 1, 6])
    prev_col.button("← Previous", disabled=page <= 1, on_click=st.session_state.__setitem__,
                    args=("sessions.page", page - 1))
    next_col.button("Next →", disabled=page >= pages, on_click=st.session_state.__setitem__,
                    args=("sessions.page", page + 1))


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
