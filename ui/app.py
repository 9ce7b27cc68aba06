"""Streamlit entry point of the Flightlog UI: ``streamlit run ui/app.py``.

Reads ``FLIGHTLOG_API_URL`` (default http://127.0.0.1:4318) and ``FLIGHTLOG_API_KEY``
(a read key). Deciding approvals and pausing agents use the signed-in person's own key
(the sidebar's "Your key"). Pages and their URLs: see docs/ui.md.
"""
from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="Flightlog", page_icon=":material/flight:", layout="wide")

try:
    from flightlog.ui import session, warmup
except ImportError as exc:  # the package (or its [ui] extra) is not installed
    st.error("The Flightlog UI is not installed in this Python environment.")
    st.code(f"{exc}\n\npip install 'flightlog[ui]'", language=None)
    st.stop()

warmup.freeze_once()  # once per process: the post-run collections stop scanning the modules (ui/warmup.py)

page = st.navigation(
    [
        st.Page(session.TRACES_PAGE, title="Traces", icon=":material/list:", default=True),
        st.Page(session.SESSIONS_PAGE, title="Sessions", icon=":material/forum:"),
        st.Page(session.SEARCH_PAGE, title="Search", icon=":material/search:"),
        st.Page(session.TRACE_PAGE, title="Trace", icon=":material/account_tree:"),
        st.Page(session.COST_PAGE, title="Cost", icon=":material/payments:"),
        st.Page(session.TRACEBACK_PAGE, title="Trace-back", icon=":material/manage_search:"),
        st.Page(session.MONITORING_PAGE, title="Monitoring", icon=":material/monitoring:"),
        st.Page(session.ALERTS_PAGE, title="Alerts", icon=":material/notifications:"),  # docs/alerts.md
        st.Page("views/audit.py", title="Audit", icon=":material/verified_user:"),  # audit (docs/audit.md)
        st.Page("views/reviews.py", title="Reviews", icon=":material/rate_review:"),  # audit (docs/audit.md)
        # the control loop (docs/control.md)
        st.Page(session.APPROVALS_PAGE, title="Approvals", icon=":material/gavel:"),
        st.Page(session.CONTROL_PAGE, title="Control", icon=":material/pause_circle:"),
        st.Page(session.POLICIES_PAGE, title="Policies", icon=":material/policy:"),
        # evaluation (docs/evaluation.md)
        st.Page(session.DATASETS_PAGE, title="Datasets", icon=":material/dataset:"),
        st.Page(session.COMPARE_PAGE, title="Compare", icon=":material/compare:"),
    ]
)
with st.sidebar:
    session.sign_in_box()  # the person's own key, for decisions and pauses (never the UI's key)
    st.caption("Collector")
    st.text(session.api_settings()[0])
page.run()
