"""Policies page: what each agent may and may not do — the central policy in force for every
agent (docs/control.md, "Central agent policy"), as readable tables: the tools it may call and
what each call needs, the escalation rules in plain words, the run limits, the daily budget,
fail-open or fail-closed, the policy's version, who changed it and when, and every earlier
version (``GET /api/policies``, ``GET /api/policies/{agent}/history``, ``GET /api/budgets``).

URL: ``/policies?agent=<agent>`` (``&agent_version=<version>`` for a version's own policy).
"""
from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from flightlog.ui import format as fmt
from flightlog.ui import rules, session
from flightlog.ui.client import ApiError
from flightlog.ui.types import PolicyDoc


def _table(rows: list[dict[str, Any]], empty: str) -> None:
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                     height=min(35 * (len(rows) + 1) + 3, 600))
    else:
        st.text(empty)


def _overview(policies: list[PolicyDoc]) -> None:
    rows = []
    for p in policies:
        doc = p["policy"]
        tools = doc.get("tools") or {}
        rows.append({"policy": p["id"], "version": f"v{p['version']}",
                     "allowed tools": ", ".join(tools.get("allowed") or []) or "any",
                     "denied tools": ", ".join(tools.get("denied") or []) or "none",
                     "escalation rules": len(doc.get("escalations") or []),
                     "if unreachable": f"fail-{doc.get('on_unreachable') or 'open'}",
                     "changed by": p["changed_by"], "changed at": fmt.format_time(p["changed_at"])})
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def _budgets(agent: str) -> None:
    try:
        budgets = session.get_client().budgets()
    except ApiError as exc:
        session.show_api_error("The daily budgets could not be loaded.", exc)
        return
    rows = [{"budget": {"project": "the project", "agent": f"agent {b['subject']}",
                        "user": f"user {b['subject']}"}.get(b["scope"], b["scope"]),
             "max tokens per day": f"{b['max_tokens']:,}" if b["max_tokens"] else "—",
             "max cost per day": fmt.format_money(b["max_cost_usd"]) if b["max_cost_usd"] else "—"}
            for b in budgets if b["scope"] in ("project", "user") or b["subject"] == agent]
    _table(rows, "No daily budget is set for this agent, its users or the project (admins: PUT /api/admin/budgets).")


def _detail(stored: PolicyDoc) -> None:
    doc = stored["policy"]
    st.subheader("In short")
    st.text("\n".join(f"• {line}" for line in rules.in_short(doc)))  # names come from the policy: text
    st.dataframe(pd.DataFrame(rules.summary_rows(stored)), hide_index=True, width="stretch")
    st.subheader("Tools")
    _table(rules.tool_rows(doc), "")
    st.subheader("Escalation rules")
    st.caption("A rule raises a call's tier when its condition holds; the highest tier wins.")
    escalations = rules.escalation_rows(doc)
    if escalations:  # sentences hold tool names and values from the policy: text, never markdown
        st.text("\n".join(f"{i}. {r['rule']}\n   as written: {r['tool']}: {r['condition']} → tier {r['tier']}"
                           for i, r in enumerate(escalations, 1)))
    else:
        st.text("No escalation rules: each call needs only its tool's tier.")
    st.subheader("Limits per run")
    _table(rules.limit_rows(doc), "No run limits in this policy (the SDK's local limits still apply).")
    if doc.get("daily_budget"):
        st.subheader("Daily budgets")
        _budgets(stored["agent"])
    with st.expander("The policy document (JSON)"):
        st.json(doc, expanded=True)


def _history(agent: str) -> None:
    st.subheader("History")
    try:
        history = session.get_client().policy_history(agent)
    except ApiError as exc:
        session.show_api_error("The policy history could not be loaded.", exc)
        return
    _table(rules.history_rows(history), "No earlier versions.")
    if len(history) > 1:
        labels = {f"{p['id']} v{p['version']}": p for p in history}
        chosen = st.selectbox("Show a version", list(labels), key=f"policies.version.{agent}")
        if chosen:
            st.json(labels[chosen]["policy"], expanded=True)


def render() -> None:
    st.title("Policies")
    st.caption("What each agent may and may not do: the policy in force, as every agent process applies it. "
               "Admins change it with PUT /api/policies; every change is a new version.")
    try:
        policies = session.get_client().policies()
    except ApiError as exc:
        session.show_api_error("The policies could not be loaded.", exc)
        return
    if not policies:
        st.info("No agent has a central policy yet. An admin stores one with PUT /api/policies "
                "(docs/control.md, “Central agent policy”).", icon=":material/policy:")
        return
    _overview(policies)
    ids = [p["id"] for p in policies]
    url = st.query_params.to_dict()
    wanted = f"{url['agent']}@{url['agent_version']}" if url.get("agent_version") else url.get("agent", "")
    if wanted in ids and wanted != st.session_state.get("policies.from_url"):
        st.session_state["policies.chosen"] = wanted  # a URL opened from elsewhere wins
    if st.session_state.get("policies.chosen") not in ids:
        st.session_state["policies.chosen"] = ids[0]
    chosen = st.selectbox("Policy", ids, key="policies.chosen")
    stored = next(p for p in policies if p["id"] == chosen)
    params = {"agent": stored["agent"], **({"agent_version": stored["agent_version"]} if stored["agent_version"] else {})}
    st.session_state["policies.from_url"] = chosen
    session.sync_url(params)
    _detail(stored)
    _history(stored["agent"])


if __name__ == "__main__":
    render()
