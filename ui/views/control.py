"""Control page: the kill switch (docs/control.md, "Kill switch"). The active pauses, and a
form to pause the whole project, an agent, one version of an agent or one tool of an agent,
or to resume one, with a reason — as the signed-in admin (``GET /api/control/state``,
``POST /api/control/pause`` / ``resume``). Agents see a change within seconds.

URL: ``/control?agent=<agent>&agent_version=<version>&tool=<tool>`` prefills the pause form
(the Monitoring and Trace pages link here).
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from flightlog.ui import inbox, killswitch, session


def _choices(values: list[str], current: str) -> list[str]:
    return ["", *sorted({v for v in values if v} | ({current} if current else set()))]


def render() -> None:
    st.title("Control")
    st.caption("The kill switch: a pause stops every run, LLM call and tool call it covers, in every agent "
               "process, within seconds (agents long-poll the control state).")
    killswitch.flash()
    state = killswitch.control_state()
    if state is None:
        return
    missing = killswitch.permission_note()
    if missing:
        st.info(missing, icon=":material/key:")
    pauses = state["pauses"]
    st.subheader(f"Active pauses ({len(pauses)})")
    if pauses:
        st.dataframe(pd.DataFrame(inbox.pause_rows(pauses)), hide_index=True, width="stretch")
        killswitch.resume_form("control", list(pauses), missing=missing)
    else:
        st.text("Nothing is paused: every agent may run.")

    st.subheader("Pause")
    facets = session.facets()
    url = st.query_params.to_dict()
    agents = _choices([*facets.get("agents", []), *(p["agent"] for p in state["policies"])], url.get("agent", ""))
    cols = st.columns(3)
    agent = cols[0].selectbox("Agent", agents, index=agents.index(url.get("agent", "")), key="control.agent",
                              format_func=lambda a: a or "(the whole project)", accept_new_options=True)
    versions = _choices(facets.get("agent_versions", []), url.get("agent_version", ""))
    version = cols[1].selectbox("Agent version", versions, index=versions.index(url.get("agent_version", "")),
                                key="control.version", format_func=lambda v: v or "(every version)",
                                accept_new_options=True, disabled=not agent)
    tools = _choices(facets.get("tools", []), url.get("tool", ""))
    tool = cols[2].selectbox("Tool", tools, index=tools.index(url.get("tool", "")), key="control.tool",
                             format_func=lambda t: t or "(every tool)", accept_new_options=True, disabled=not agent)
    scope = {"agent": agent or "", "agent_version": (version or "") if agent else "", "tool": (tool or "") if agent else ""}
    label = _scope_label(scope)
    killswitch.pause_form("control.new", {label: scope}, missing=missing)


def _scope_label(scope: dict[str, str]) -> str:
    if not scope["agent"]:
        return "the whole project (every agent)"
    text = f"agent {scope['agent']}"
    if scope["agent_version"]:
        text += f" version {scope['agent_version']}"
    if scope["tool"]:
        text += f", tool {scope['tool']}"
    return text


if __name__ == "__main__":
    render()
