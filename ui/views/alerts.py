"""Alerts page (docs/alerts.md): every alert rule with its current state, firing ones first;
the chosen rule's condition, last value and a link to Monitoring filtered to its scope and
window; silence or unsilence it as the signed-in person; and the history of transitions and
silences (``GET /api/alerts/rules``, ``GET /api/alerts/history``,
``POST /api/alerts/rules/{id}/silence`` / ``unsilence``).

URL: ``/alerts?rule=<rule id>`` selects a rule.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from flightlog.ui import alerts, session
from flightlog.ui import format as fmt
from flightlog.ui.client import ApiError
from flightlog.ui.types import AlertRule

_FLASH = "alerts.flash"


def _flash() -> None:
    message = st.session_state.pop(_FLASH, None)
    if message:
        st.success(message, icon=":material/check_circle:")


def _act(rule: AlertRule, silence: bool, duration: str, reason: str) -> None:
    person = session.signed_in()
    if person is None:
        st.warning(alerts.why_not_manage(None), icon=":material/key:")
        return
    if silence and not reason.strip():
        st.warning("Type a reason first: it is recorded with the silence.", icon=":material/edit:")
        return
    api = session.get_client()
    try:
        if silence:
            changed = api.silence_alert(rule["id"], reason=reason.strip(), duration=duration, api_key=person.key)
        else:
            changed = api.unsilence_alert(rule["id"], reason=reason.strip(), api_key=person.key)
    except ApiError as exc:
        session.forget_refused_key(exc)
        st.error("Nothing was changed.", icon=":material/error:")
        st.code(exc.message, language=None, wrap_lines=True)
        return
    silence_info = changed.get("silence") or {}
    st.session_state[_FLASH] = (
        f"Silenced {changed['name']} until {fmt.format_time(silence_info.get('until'))} as {silence_info.get('by')}: "
        "its transitions are still recorded, nothing is sent." if silence
        else f"{changed['name']} is no longer silenced: its next transition is sent.")
    st.rerun()


def _detail(rule: AlertRule) -> None:
    st.subheader("Rule")
    last = rule.get("last_evaluation") or {}
    lines = [f"{rule['name']}: {'FIRING' if rule['state'] == 'firing' else 'ok'}"
             + (f" since {fmt.format_time(rule['since'])}" if rule.get("since") else ""),
             f"When: {alerts.condition_text(rule)}", f"Scope: {alerts.scope_text(rule['scope'])}",
             f"Now: {alerts.value_text(rule['metric'], last.get('value'))} from {last.get('samples', 0)} samples"
             + (f" (reference {alerts.value_text(rule['metric'], last.get('reference'))})"
                if last.get("reference") is not None else "")
             + (f", evaluated {fmt.format_time(last.get('at'))}" if last else ", not evaluated yet")]
    if rule["silenced"] and rule.get("silence"):
        s = rule["silence"] or {}
        lines.append(f"Silenced until {fmt.format_time(s.get('until'))} by {s.get('by')}: {s.get('reason')}")
    if rule["description"]:
        lines.append(f"What to do: {rule['description']}")
    st.text("\n".join(lines))  # names, scopes and reasons come from people: text, never markdown
    st.page_link(session.MONITORING_PAGE, label="Open Monitoring for this scope and window",
                 icon=":material/monitoring:", query_params=alerts.monitoring_params(rule["link"]))
    missing = alerts.why_not_manage(session.signed_in().who if session.signed_in() else None)
    if missing:
        st.info(missing, icon=":material/key:")
    if rule["silenced"]:
        with st.form(f"alerts.unsilence.{rule['id']}", border=True, enter_to_submit=False):
            reason = st.text_input("Reason (optional)", key="alerts.unsilence.reason", disabled=bool(missing))
            go = st.form_submit_button("Unsilence", icon=":material/notifications_active:", disabled=bool(missing))
        if go and not missing:
            _act(rule, False, "", reason)
    else:
        with st.form(f"alerts.silence.{rule['id']}", border=True, enter_to_submit=False, clear_on_submit=True):
            duration = st.selectbox("Silence for", list(alerts.SILENCE_FOR), index=2, key="alerts.silence.for",
                                    disabled=bool(missing))
            reason = st.text_input("Reason (required)", key="alerts.silence.reason", disabled=bool(missing),
                                   placeholder="e.g. known: orders API migration until 18:00")
            go = st.form_submit_button("Silence", icon=":material/notifications_off:", disabled=bool(missing))
        if go and not missing:
            _act(rule, True, str(duration), reason)


def render() -> None:
    st.title("Alerts")
    st.caption("Rules over the monitoring figures, evaluated by the collector every minute. A transition "
               "(firing, resolved) is recorded and sent once to the project's webhooks; a silenced rule is "
               "recorded but not sent.")
    _flash()
    try:
        rules = session.get_client().alert_rules()
    except ApiError as exc:
        session.show_api_error("The alert rules could not be loaded.", exc)
        return
    if not rules:
        st.info("No alert rules yet. Create one with `flightlog alerts create` or POST /api/alerts/rules "
                "(docs/alerts.md).", icon=":material/notifications:")
        return
    firing = sum(r["state"] == "firing" for r in rules)
    cols = st.columns(3)
    cols[0].metric("Rules", len(rules))
    cols[1].metric("Firing", firing)
    cols[2].metric("Silenced", sum(r["silenced"] for r in rules))
    st.dataframe(pd.DataFrame(alerts.rule_rows(rules)), hide_index=True, width="stretch")

    ids = [r["id"] for r in rules]
    wanted = st.query_params.get("rule", "")
    if wanted in ids and wanted != st.session_state.get("alerts.from_url"):
        st.session_state["alerts.chosen"] = wanted  # a URL opened from elsewhere wins
    if st.session_state.get("alerts.chosen") not in ids:
        st.session_state["alerts.chosen"] = ids[0]
    names = {r["id"]: f"{'FIRING' if r['state'] == 'firing' else 'ok'} · {r['name']}" for r in rules}
    chosen = st.selectbox("Rule", ids, key="alerts.chosen", format_func=lambda i: names.get(i, i))
    st.session_state["alerts.from_url"] = chosen
    session.sync_url({"rule": str(chosen)})
    rule = next(r for r in rules if r["id"] == chosen)
    _detail(rule)

    st.subheader("History")
    only = st.toggle("Only this rule", value=False, key="alerts.history.only")
    try:
        events = session.get_client().alert_history(rule_id=str(chosen) if only else "", limit=200)
    except ApiError as exc:
        session.show_api_error("The alert history could not be loaded.", exc)
        return
    if events:
        st.dataframe(pd.DataFrame(alerts.history_rows(events)), hide_index=True, width="stretch")
    else:
        st.text("Nothing has happened yet: no rule has fired.")


if __name__ == "__main__":
    render()
