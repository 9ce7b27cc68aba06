"""Reviews page: the queue of sampled agent runs, a form to score one (with a preview of the
run and a link to it), and the mean score per day by agent or prompt version, so drift shows
(``GET /api/audit/reviews/queue``, ``POST /api/audit/reviews/scores``,
``GET /api/audit/reviews/trend``). Scores are sent with the signed-in reviewer's own key, so
they are attributed to that person, never to the UI's shared key.

URL: ``/reviews``.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from flightlog.ui import format as fmt
from flightlog.ui import session
from flightlog.ui.client import ApiError

_QUEUE_COLUMNS = {
    "start": st.column_config.TextColumn("started (UTC)", width=135),
    "agent": st.column_config.TextColumn("agent", width=120),
    "agent_version": st.column_config.TextColumn("version", width=70),
    "prompt_version": st.column_config.TextColumn("prompts", width=220),
    "scores": st.column_config.NumberColumn("scores", format="%d", width=55),
    "open": st.column_config.LinkColumn("run", display_text="open ↗", width=60),
    "trace_id": st.column_config.TextColumn("trace id", width=260),
}
NO_GROUP = "(none recorded)"


def _preview(trace_id: str) -> None:
    """What the reviewer scores: the run's input and answer, and a link to the whole trace."""
    try:
        spans = session.trace_spans(trace_id)
    except ApiError as exc:
        session.show_api_error("The run could not be loaded.", exc)
        return
    root = spans[0] if spans else {}
    st.page_link(session.TRACE_PAGE, label="Open the whole run", icon=":material/account_tree:",
                 query_params={"trace_id": trace_id})
    said, answered = st.columns(2)
    said.caption("The user asked")
    said.code(fmt.truncate(str(root.get("input_text") or "(no input recorded)"))[0], language=None, wrap_lines=True)
    answered.caption(f"The agent answered ({fmt.span_status(root)})")
    answered.code(fmt.truncate(str(root.get("output_text") or "(no answer recorded)"))[0], language=None,
                  wrap_lines=True)


def _score_form(queue: list[dict]) -> None:
    person = session.signed_in()
    labels = {q["trace_id"]: f"{fmt.format_time(q['start'])[:19]} · {q['agent']} {q['agent_version']} · "
              f"{q['trace_id'][:12]}…" for q in queue}
    trace_id = st.selectbox("Run to score", list(labels), format_func=labels.get, key="reviews.trace")
    _preview(trace_id)
    if person is None:
        st.info("Sign in with your own key (sidebar, *Your key*) to score: a score is recorded under the "
                "reviewer's name, never under the UI's shared key.", icon=":material/key:")
    with st.form("reviews.score"):
        cols = st.columns(2)
        score = cols[0].slider("Score", 0.0, 10.0, 7.0, 0.5)
        label = cols[1].selectbox("Label", ["good", "acceptable", "wrong", "unsafe"])
        comment = st.text_area("Comment")
        submitted = st.form_submit_button("Save score", disabled=person is None)
    if submitted and person is not None:
        try:
            saved = session.get_client().add_review_score(trace_id, score, label=label, comment=comment,
                                                          api_key=person.key)
        except ApiError as exc:
            session.forget_refused_key(exc)
            session.show_api_error("The score was not saved.", exc)
            return
        st.success(f"Saved as {person.label}.", icon=":material/check:")
        st.text(f"prompts: {saved.get('prompt_version') or NO_GROUP}")


def render() -> None:
    st.title("Reviews")
    api = session.get_client()
    try:
        queue = api.review_queue(limit=200)
    except ApiError as exc:
        session.show_api_error("The review queue could not be loaded.", exc)
        return
    st.subheader(f"Waiting for review ({len(queue)})")
    if queue:
        rows = [{**q, "open": f"trace?trace_id={q['trace_id']}"} for q in queue]
        st.dataframe(pd.DataFrame(rows, columns=list(_QUEUE_COLUMNS)), hide_index=True, width="stretch",
                     column_config=_QUEUE_COLUMNS, height=fmt.table_height(len(rows), most=10))
        _score_form(list(queue))
    else:
        st.info("Nothing to review. Admins set sampling rates with PUT /api/admin/reviews/settings.")
    by = st.radio("Trend by", ["agent", "prompt_version"], horizontal=True, key="reviews.by",
                  format_func=lambda b: b.replace("_", " "))
    try:
        points = api.review_trend(by)
    except ApiError as exc:
        session.show_api_error("The review trend could not be loaded.", exc)
        return
    if points:
        frame = pd.DataFrame(points)
        # A score without a prompt version (or agent) is a group of its own, not a nameless column.
        frame[by] = frame[by].replace("", NO_GROUP)
        st.line_chart(frame.pivot_table(index="day", columns=by, values="mean_score"))
        st.dataframe(frame, hide_index=True, width="stretch", height=fmt.table_height(len(frame), most=10))


if __name__ == "__main__":
    render()
