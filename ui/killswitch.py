"""Streamlit glue of the kill switch, shared by the Control and Trace pages: pause or resume a
scope (the project, an agent, one version of it, one tool of it) with a reason, as the
signed-in admin (``POST /api/control/pause`` / ``resume``, docs/control.md "Kill switch").

Everything from the collector (agent names, reasons, who paused) is shown as text.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from flightlog.ui import inbox, session
from flightlog.ui.client import ApiError
from flightlog.ui.types import ControlState

_FLASH = "killswitch.flash"


def control_state() -> ControlState | None:
    """``GET /api/control/state`` with the UI's read key; None (and an error box) if it fails."""
    try:
        return session.get_client().control_state()
    except ApiError as exc:
        session.show_api_error("The kill switch state could not be loaded.", exc)
        return None


def flash() -> None:
    """The outcome of the last pause or resume, once."""
    message = st.session_state.pop(_FLASH, None)
    if message:
        st.success(message, icon=":material/check_circle:")


def _change(paused: bool, scope: Mapping[str, str], reason: str) -> None:
    person = session.signed_in()
    if person is None:
        st.warning(inbox.why_not_pause(None), icon=":material/key:")
        return
    if not reason.strip():
        st.warning("Type a reason first: it is recorded with the change and sent to the webhooks.",
                   icon=":material/edit:")
        return
    api = session.get_client()
    call = api.pause if paused else api.resume
    try:
        changed = call(reason=reason.strip(), api_key=person.key, agent=scope.get("agent", ""),
                       agent_version=scope.get("agent_version", ""), tool=scope.get("tool", ""))
    except ApiError as exc:
        session.forget_refused_key(exc)
        st.error("Nothing was changed.", icon=":material/error:")
        st.code(exc.message, language=None, wrap_lines=True)
        return
    st.session_state[_FLASH] = (f"{'Paused' if paused else 'Resumed'} {changed['scope']} as {changed['by']}: "
                                "agents see it within seconds.")
    st.rerun()


def permission_note() -> str:
    """Why the signed-in person may not pause ('' when they may); shown above the controls."""
    person = session.signed_in()
    return inbox.why_not_pause(person.who if person else None)


def pause_form(key: str, scopes: dict[str, dict[str, str]], *, missing: str) -> None:
    """A form: pick one of ``scopes`` (label → agent/agent_version/tool), give a reason, Pause."""
    with st.form(f"{key}.pause", border=True, enter_to_submit=False, clear_on_submit=True):
        label: str | None
        if len(scopes) == 1:
            label = next(iter(scopes))
            st.text(f"Pause {label}")  # holds agent names: text, never markdown
        else:  # a selectbox, not a radio: option labels hold agent names, and radio labels are markdown
            label = st.selectbox("Pause", list(scopes), key=f"{key}.pause.scope", disabled=bool(missing))
        reason = st.text_input("Reason (required)", key=f"{key}.pause.reason", disabled=bool(missing),
                               placeholder="e.g. refunds 100x too large")
        go = st.form_submit_button("Pause", type="primary", icon=":material/pause_circle:", disabled=bool(missing))
    if go and not missing and label is not None:
        _change(True, scopes[str(label)], reason)


def resume_form(key: str, pauses: list[Mapping[str, Any]], *, missing: str) -> None:
    """A form: pick one of the active ``pauses``, give a reason, Resume."""
    if not pauses:
        return
    scopes = {str(p["scope"]): {"agent": str(p["agent"]), "agent_version": str(p["agent_version"]),
                                "tool": str(p["tool"])} for p in pauses}
    with st.form(f"{key}.resume", border=True, enter_to_submit=False, clear_on_submit=True):
        label = st.selectbox("Resume", list(scopes), key=f"{key}.resume.scope", disabled=bool(missing))
        reason = st.text_input("Reason (required)", key=f"{key}.resume.reason", disabled=bool(missing),
                               placeholder="e.g. fixed in 2.3.1")
        go = st.form_submit_button("Resume", icon=":material/play_circle:", disabled=bool(missing))
    if go and not missing and label is not None:
        _change(False, scopes[str(label)], reason)
