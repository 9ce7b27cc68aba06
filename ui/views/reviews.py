"""Reviews page: the queue of sampled agent runs, a form to score one, and the mean score per
day by agent or prompt version, so drift shows (``GET /api/audit/reviews/queue``,
``POST /api/audit/reviews/scores``, ``GET /api/audit/reviews/trend``).

URL: ``/reviews``.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from flightlog.ui import session
from flightlog.ui.client import ApiError


def render() -> None:
    st.title("Reviews")
    api = session.get_client()
    try:
        queue = api.review_queue(limit=200)
    except ApiError as exc:
        st.error(f"Review queue: {exc}")
        return
    st.subheader(f"Waiting for review ({len(queue)})")
    if queue:
        st.dataframe(pd.DataFrame(queue), hide_index=True, width="stretch")
        with st.form("reviews.score"):
            trace_id = st.selectbox("Run (trace id)", [q["trace_id"] for q in queue])
            cols = st.columns(2)
            score = cols[0].slider("Score", 0.0, 10.0, 7.0, 0.5)
            label = cols[1].selectbox("Label", ["good", "acceptable", "wrong", "unsafe"])
            comment = st.text_area("Comment")
            if st.form_submit_button("Save score"):
                try:
                    api.add_review_score(trace_id, score, label=label, comment=comment)
                    st.success("Saved.")
                except ApiError as exc:
                    st.error(str(exc))
    else:
        st.info("Nothing to review. Admins set sampling rates with PUT /api/admin/reviews/settings.")
    by = st.radio("Trend by", ["agent", "prompt_version"], horizontal=True, key="reviews.by")
    try:
        points = api.review_trend(by)
    except ApiError as exc:
        st.error(f"Review trend: {exc}")
        return
    if points:
        frame = pd.DataFrame(points).pivot_table(index="day", columns=by, values="mean_score")
        st.line_chart(frame)
        st.dataframe(pd.DataFrame(points), hide_index=True, width="stretch")


if __name__ == "__main__":
    render()
