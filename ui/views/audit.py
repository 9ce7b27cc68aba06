"""Audit page: chain verification, the access log, human checkpoints, governance changes and
budget alerts, and span exports. Each tab is one documented API call (docs/audit.md):
``/api/audit/verify``, ``/api/audit/access``, ``/api/audit/checkpoints``,
``/api/audit/governance`` + ``/api/audit/budget-alerts``, ``/api/audit/export``.

Most audit endpoints need an auditor or admin key: the page uses the signed-in person's own
key (the sidebar's "Your key", kept in this browser session only), else the configured key.

URL: ``/audit``.
"""
from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from flightlog.ui import session
from flightlog.ui.client import ApiClient, ApiError


def _client() -> ApiClient:
    person = session.signed_in()
    if person is None:
        return session.get_client()
    return ApiClient(session.api_settings()[0], person.key)


def _call(what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except ApiError as exc:
        if exc.status_code == 403:
            st.warning(f"{what} needs an auditor or admin key: sign in with yours under “Your key” in the sidebar.")
        else:
            st.error(f"{what}: {exc}")
        return None


def _verify() -> None:
    st.caption("Recomputes every span's hash and every stream of the project's batch chain, one per collector "
               "(GET /api/audit/verify).")
    if not st.button("Verify the chain", key="audit.verify", icon=":material/verified:"):
        return
    report = _call("Verification", _client().verify_chain)
    if report is None:
        return
    (st.success if report["ok"] else st.error)(report["summary"])
    cols = st.columns(4)
    cols[0].metric("Batches", report["batches"])
    cols[1].metric("Spans verified", report["spans_ok"])
    cols[2].metric("Removed by retention", report["deleted_by_retention"])
    cols[3].metric("Head", f"#{report['head']['seq']}", help=report["head"]["hash"])
    streams = report.get("streams", [])
    if len(streams) > 1:
        st.dataframe(pd.DataFrame([{"stream": s["stream"] or "(before streams)", "batches": s["batches"],
                                    "head": s["head"]["seq"], "hash": s["head"]["hash"]} for s in streams]),
                     hide_index=True, width="stretch")
    for kind, title in (("altered", "Altered spans"), ("deleted", "Deleted spans"),
                        ("inserted_out_of_band", "Spans inserted out of band"),
                        ("chained_twice", "Spans also chained by a collector that did not store them (not a failure)")):
        if report[kind]["count"]:
            st.subheader(f"{title} ({report[kind]['count']})")
            _table(report[kind]["spans"])
    for problem in report["chain_errors"]:
        st.error(problem)


TRACE_LINK = st.column_config.LinkColumn("trace id", display_text=r"trace_id=([0-9a-f]+)")


def linked(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows whose ``trace_id`` is a link to the Trace page (on the row's span when it has one)."""
    out = []
    for row in rows:
        trace_id = str(row.get("trace_id") or "")
        if trace_id:
            span = str(row.get("span_id") or "")
            row = {**row, "trace_id": f"trace?trace_id={trace_id}" + (f"&span_id={span}" if span else "")}
        out.append(row)
    return out


def _table(rows: list[Any], config: dict[str, Any] | None = None) -> None:
    """A table whose trace ids open the trace."""
    st.dataframe(pd.DataFrame(linked([dict(r) for r in rows])), hide_index=True, width="stretch",
                 column_config={"trace_id": TRACE_LINK, **(config or {})})


def _access() -> None:
    cols = st.columns(4)
    key_id = cols[0].text_input("Key id", key="audit.access.key_id")
    endpoint = cols[1].text_input("Endpoint", key="audit.access.endpoint", placeholder="/api/spans")
    contains = cols[2].text_input("Path or parameters contain", key="audit.access.contains")
    limit = cols[3].number_input("Rows", 10, 1000, 200, step=50, key="audit.access.limit")
    found = _call("The access log", _client().access_log, key_id=key_id, endpoint=endpoint, contains=contains,
                  limit=int(limit))
    if found is None:
        return
    rows = [{**e, "params": ", ".join(f"{k}={v}" for k, v in e["params"].items())} for e in found["entries"]]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    if found["truncated"]:
        st.caption(f"Showing the newest {limit}; narrow the filters for older entries.")


def _checkpoints() -> None:
    cols = st.columns(2)
    flagged = cols[0].toggle("Only red flags (tier 3 without approval)", key="audit.cp.flagged")
    tier = cols[1].selectbox("Lowest tier", [2, 3, 1], key="audit.cp.tier")
    found = _call("Checkpoints", _client().checkpoints, min_tier=tier, flagged_only=flagged)
    if found is None:
        return
    if found["by_tier"]:
        st.dataframe(pd.DataFrame(found["by_tier"]), hide_index=True)
    rows = found["checkpoints"]
    if not rows:
        st.info("No checkpoints in this range.")
        return
    n_flagged = sum(1 for r in rows if r["flagged"])
    if n_flagged:
        st.error(f"{n_flagged} tier-3 action(s) ran without an approval.")
    _table(rows, {"flagged": st.column_config.CheckboxColumn("red flag")})


def _governance() -> None:
    changes = _call("The governance log", _client().governance_log)
    if changes is not None:
        st.subheader("Retention, legal hold, budget and review-setting changes")
        st.dataframe(pd.DataFrame(changes), hide_index=True, width="stretch")
    alerts = _call("Budget alerts", _client().budget_alerts)
    if alerts is not None:
        st.subheader("Budget alerts")
        st.dataframe(pd.DataFrame(alerts), hide_index=True, width="stretch")


def _export() -> None:
    st.caption("Small exports here; for large ones use `flightlog export`, which pages in constant memory and "
               "writes a manifest that `flightlog verify-export` checks offline.")
    cols = st.columns(3)
    fmt = cols[0].selectbox("Format", ["jsonl", "csv", "parquet"], key="audit.export.format")
    agent = cols[1].text_input("Agent", key="audit.export.agent")
    user = cols[2].text_input("User", key="audit.export.user")
    if st.button("Prepare export", key="audit.export.go"):
        data = _call("Export", _client().export_bytes, fmt, agent=agent, user=user)
        if data is not None:
            st.download_button("Download", data=data, file_name=f"flightlog-spans.{fmt}", key="audit.export.download",
                               icon=":material/download:")


def render() -> None:
    st.title("Audit")
    tabs = st.tabs(["Verify", "Access log", "Checkpoints", "Governance", "Export"])
    with tabs[0]:
        _verify()
    with tabs[1]:
        _access()
    with tabs[2]:
        _checkpoints()
    with tabs[3]:
        _governance()
    with tabs[4]:
        _export()


if __name__ == "__main__":
    render()
