"""Approvals page: the inbox of actions agents are waiting on a person for (docs/control.md,
"Approval inbox"), everything needed to decide one on one screen, and the history.

- **Waiting**: pending approvals, soonest deadline first, the oldest and those expiring
  within five minutes marked (``GET /api/approvals?status=pending``).
- **The selected approval**: what the agent wants to do, the tool and its arguments (JSON
  shown as data), agent and version, tier, confidence, time left; Approve / Reject with a
  required reason, or approve with edited arguments (``POST /api/approvals/{id}/decide``,
  with the signed-in person's own key, never the UI's).
- **Why**: the LLM call that decided the step (prompt, model and its output, from
  ``GET /api/traces/{trace_id}``), the policy in force, the run so far, a link to the trace.
- **History**: decided, expired and notified approvals: approver, reason, when, and whether
  the agent used the decision.

URL: ``/approvals?id=<approval id>`` (webhook messages link here). Without ``id`` the page
selects the pending approval with the soonest deadline.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import streamlit as st

from flightlog.ui import format as fmt
from flightlog.ui import inbox, rules, session
from flightlog.ui.client import ApiError
from flightlog.ui.types import Approval, PolicyDoc

_SOON = "background-color: #fde2e1; color: #8a1c13"
_OLDEST = "background-color: #fff4d6"
_FLASH = "approvals.flash"
_INBOX_KEY = "approvals.inbox"
_HISTORY_KEY = "approvals.history"
REFRESH_S = 10


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _picked(key: str, rows: list[int]) -> int | None:
    """The row newly selected in a table (``key``), or None if the selection did not change."""
    seen_key = f"{key}.seen"
    changed = st.session_state.get(seen_key) != rows
    st.session_state[seen_key] = rows
    return rows[0] if changed and rows else None


# The inbox shares the page's width with the selected approval: the agent and its action are one
# wrapped text, the time left carries the note (the selected one's tool, version and waiting time are beside it).
INBOX_COLUMNS = {
    "deadline": st.column_config.TextColumn("time left", width=95),
    "wants": st.column_config.TextColumn("agent: action", width=195),
}
INBOX_LINES = 4  # lines of text per row: the agent and a 70-character action wrap in the narrow column


def _styled(rows: list[dict[str, Any]]) -> Any:
    frame = pd.DataFrame(rows, columns=[*INBOX_COLUMNS, "note", "id"])  # note: the colour; id: the selection

    def colour(row: pd.Series) -> list[str]:
        style = _SOON if "expires soon" in row["note"] else _OLDEST if "oldest" in row["note"] else ""
        return [style] * len(row)

    return frame.style.apply(colour, axis=1)


def _inbox(pending: list[Approval], total: int, now: dt.datetime) -> str | None:
    """The table of pending approvals; the id of a row just selected, if any."""
    st.subheader(f"Waiting for a decision ({total})")
    if not pending:
        st.info("Nothing is waiting for a decision.", icon=":material/inbox:")
        return None
    rows = inbox.inbox_rows(pending, now)
    row_px = 8 + 20 * INBOX_LINES
    table = st.dataframe(
        _styled(rows), key=_INBOX_KEY, hide_index=True, on_select="rerun", selection_mode="single-row",
        width="stretch", height=38 + row_px * min(len(rows), 5), row_height=row_px,
        column_order=list(INBOX_COLUMNS), column_config=INBOX_COLUMNS,
    )
    st.caption("Soonest deadline first; red: expires within 5 minutes, yellow: waiting longest. "
               "Select a row to decide it.")
    picked = _picked(_INBOX_KEY, list(table.selection.rows))
    return rows[picked]["id"] if picked is not None and picked < len(rows) else None


def _facts(approval: Approval, now: dt.datetime) -> None:
    """The key facts as a grid of labelled values, four to a row."""
    facts = list(inbox.approval_facts(approval, now).items())
    for start in range(0, len(facts), 4):
        cols = st.columns(4)
        for col, (label, value) in zip(cols, facts[start:start + 4]):
            with col:
                st.caption(label)
                st.text(value)  # from the approval: text, never markdown


def _decided(approval: Approval) -> None:
    status = approval["status"]
    box = st.success if status == "approved" else st.error if status == "rejected" else st.warning
    box({"approved": "Approved", "rejected": "Rejected", "expired": "Expired without a decision",
         "notified": "Tier 2: people were notified, nothing to decide"}.get(status, status),
        icon=":material/gavel:")
    used = inbox.history_rows([approval])[0]["used by the agent"] if status in inbox.DECIDED else "—"
    st.text(f"by {approval.get('approver') or '—'}, {fmt.format_time(approval.get('decided_at'))}\n"
            f"used by the agent: {used}")  # names and reasons come from the record: text, never markdown
    st.caption("Reason")
    st.code(str(approval.get("reason") or "—"), language=None, wrap_lines=True)
    if approval.get("edited_arguments") is not None:
        st.caption("Approved with these arguments instead")
        st.json(approval["edited_arguments"], expanded=True)


def _decide(approval: Approval, decision: str, reason: str, arguments: Any = None) -> None:
    person = session.signed_in()
    if person is None:
        st.warning(inbox.why_not_approve(None), icon=":material/key:")
        return
    if not reason.strip():
        st.warning("Type a reason first: it is kept with the decision in the audit record.", icon=":material/edit:")
        return
    try:
        decided = session.get_client().decide(approval["id"], decision, reason.strip(), api_key=person.key,
                                              arguments=arguments)
    except ApiError as exc:
        session.forget_refused_key(exc)
        if exc.status_code == 409:
            st.warning("This approval is no longer pending (decided by someone else, or expired).",
                       icon=":material/info:")
        else:
            st.error("The decision was not recorded.", icon=":material/error:")
        st.code(exc.message, language=None, wrap_lines=True)
        return
    st.session_state[_FLASH] = (decided["id"], f"{decided['status'].capitalize()} as {decided.get('approver')}: "
                                "the waiting agent has been told.")
    st.rerun()


def _decision(approval: Approval) -> str:
    """The decision form; what is missing to decide ('' when nothing is), shown by the caller."""
    person = session.signed_in()
    missing = inbox.why_not_approve(person.who if person else None)
    with st.form(f"approvals.decide.{approval['id']}", border=True, enter_to_submit=False):
        reason = st.text_area("Reason (required)", key=f"approvals.reason.{approval['id']}", height=68,
                              placeholder="Why: kept with the decision in the audit record", disabled=bool(missing))
        # one under the other: side by side they were cut ("App…") in the narrow form at 1280 px
        approve = st.form_submit_button("Approve", type="primary", icon=":material/check:",
                                        disabled=bool(missing), width="stretch")
        reject = st.form_submit_button("Reject", icon=":material/block:", disabled=bool(missing), width="stretch")
        with st.expander("Approve with edited arguments"):
            edited = st.text_area("Arguments the agent should use instead (JSON)",
                                  value=inbox.arguments_text(approval.get("arguments")),
                                  key=f"approvals.edit.{approval['id']}", height=140, disabled=bool(missing))
            approve_edited = st.form_submit_button("Approve with these arguments", icon=":material/edit_note:",
                                                   disabled=bool(missing))
    if missing:
        return missing
    st.text(f"Deciding as {person.label}" if person else "")
    if approve or reject:
        _decide(approval, "approve" if approve else "reject", reason)
    elif approve_edited:
        value, error = inbox.parse_arguments(edited)
        if error:
            st.error("The edited arguments are not valid JSON; nothing was decided.", icon=":material/data_object:")
            st.code(error, language=None, wrap_lines=True)
        else:
            _decide(approval, "approve", reason, arguments=value)
    return ""


def _selected(approval: Approval, now: dt.datetime) -> None:
    flash = st.session_state.pop(_FLASH, None)
    if flash and flash[0] == approval["id"]:
        st.success(flash[1], icon=":material/check_circle:")
    st.subheader("The agent wants to")
    st.code(str(approval.get("action") or ""), language=None, wrap_lines=True)
    _facts(approval, now)
    arguments_col, decision_col = st.columns(2, gap="small")
    with arguments_col:
        st.caption("Arguments")
        arguments = approval.get("arguments")
        if isinstance(arguments, (dict, list)):
            with st.container(height=min(40 + 28 * _lines(arguments), 360), border=False):
                st.json(arguments, expanded=True)
        else:
            st.code("null" if arguments is None else str(arguments), language=None, wrap_lines=True)
    missing = ""
    with decision_col:
        if approval["status"] == "pending":
            missing = _decision(approval)
        else:
            _decided(approval)
    if missing:
        st.info(missing, icon=":material/key:")


def _lines(value: Any) -> int:
    if isinstance(value, dict):
        return 2 + sum(_lines(v) for v in value.values())
    if isinstance(value, list):
        return 2 + sum(_lines(v) for v in value)
    return 1


def _policy_in_force(approval: Approval) -> None:
    st.subheader("Policy in force")
    ref = approval.get("policy")
    if not ref:
        st.text("No central policy applied when the agent asked.")
        return
    st.text(f"{ref['id']} v{ref['version']} (when the agent asked)")
    agent, _, version = str(ref["id"]).partition("@")
    try:
        history = session.get_client().policy_history(agent)
    except ApiError as exc:
        session.show_api_error("The policy could not be loaded.", exc)
        return
    stored: PolicyDoc | None = next((p for p in history if p["id"] == ref["id"] and p["version"] == ref["version"]),
                                    None)
    if stored is None:
        st.text("That version is not stored any more.")
        return
    doc = stored["policy"]
    tool = approval.get("tool") or ""
    row = next((r for r in rules.tool_rows(doc) if r["tool"] == tool), None) or \
        next(r for r in rules.tool_rows(doc) if r["tool"] == "any other tool")
    st.caption(f"The tool {tool}" if tool else "Tools")
    st.text(f"may call: {row['may call']}\neach call {row['each call']}")
    relevant = [r["rule"] for r in rules.escalation_rows(doc) if r["tool"] in (tool, "any")]
    if relevant:
        st.caption("Escalation rules that apply to it")
        st.text("\n".join(f"• {rule}" for rule in relevant))
    st.page_link(session.POLICIES_PAGE, label="The whole policy", icon=":material/policy:",
                 query_params={"agent": agent})


def _why(approval: Approval) -> None:
    trace_id = approval.get("trace_id") or ""
    decided_by = approval.get("decided_by") or {}
    left, right = st.columns([3, 2], gap="medium")
    spans: list[Any] = []
    trace_problem = ""
    if trace_id:
        try:
            spans = list(session.get_client().get_trace(trace_id).spans)
        except ApiError as exc:
            trace_problem = ("The run's trace is not stored yet." if exc.status_code == 404
                             else f"The run's trace could not be loaded: {exc.message}")
    with left:
        st.subheader("Why: the LLM call that decided this")
        facts = inbox.why_facts(approval)
        st.dataframe(pd.DataFrame(list(facts.items()), columns=["field", "value"]), hide_index=True,
                     width="stretch")
        call = inbox.deciding_call(spans, str(decided_by.get("span_id") or ""))
        if call is not None:
            st.caption("Its output")
            preview, cut = fmt.truncate(str(call.get("output_text") or "(no output text recorded)"))
            st.code(preview, language=None, wrap_lines=True)
            if cut:
                st.caption("cut; the Trace page shows it all")
        elif decided_by.get("span_id"):
            st.text("That LLM call is not in the stored trace (yet).")
        else:
            st.text("The agent did not name the LLM call that decided this step.")
        if trace_id:
            link = {"trace_id": trace_id, **({"span_id": decided_by["span_id"]} if decided_by.get("span_id") else {})}
            st.page_link(session.TRACE_PAGE, label="Open the live trace", icon=":material/account_tree:",
                         query_params=link)
    with right:
        _policy_in_force(approval)
    steps = inbox.run_so_far(spans)
    st.subheader(f"The run so far ({len(steps)} step{'s' if len(steps) != 1 else ''})")
    if trace_problem:
        st.text(trace_problem)
    elif not steps:
        st.text("No text recorded in this run yet.")
    else:
        with st.container(height=min(140 * len(steps) + 20, 520), border=True):
            for step in steps:
                st.text(f"{step['time']}  ·  {step['type']}  ·  {step['name']}")
                for label in ("input", "output"):
                    if step[label]:
                        preview, _ = fmt.truncate(step[label], 600)
                        st.code(f"{label}: {preview}", language=None, wrap_lines=True)


def _history(rows: list[dict[str, Any]]) -> str | None:
    st.subheader("History")
    if not rows:
        st.text("No approval has been decided yet.")
        return None
    table = st.dataframe(pd.DataFrame(rows), key=_HISTORY_KEY, hide_index=True, on_select="rerun",
                         selection_mode="single-row", width="stretch",
                         height=min(35 * (len(rows) + 1) + 3, 420))
    st.caption("Newest first. “used by the agent”: when the agent took the decision (once, for the approved "
               "arguments). Select a row to see it above.")
    picked = _picked(_HISTORY_KEY, list(table.selection.rows))
    return rows[picked]["id"] if picked is not None and picked < len(rows) else None


@st.fragment(run_every=REFRESH_S)
def _watch(shown: tuple[str, ...]) -> None:
    """Every few seconds: has the inbox changed since the page was drawn? Then offer to refresh."""
    try:
        page = session.get_client().approvals(status="pending", limit=200)
    except ApiError:
        return
    current = tuple(a["id"] for a in page["items"])
    if current != shown:
        st.info("The inbox has changed since this page was drawn.", icon=":material/notifications:")
        if st.button("Refresh", key="approvals.refresh", icon=":material/refresh:"):
            st.rerun(scope="app")


def render() -> None:
    st.title("Approvals")
    api = session.get_client()
    now = _now()
    try:
        with st.spinner("Loading approvals…"):
            pending_page = api.approvals(status="pending", limit=200)
            history_page = api.approvals(offset=pending_page["total"], limit=100)
    except ApiError as exc:
        session.show_api_error("The approvals could not be loaded.", exc)
        return
    pending = pending_page["items"]
    history = [a for a in history_page["items"] if a["status"] != "pending"]
    history_rows = inbox.history_rows(history)

    wanted = str(st.query_params.get("id") or "").strip().lower()
    top_left, top_right = st.columns([5, 7], gap="medium")
    with top_left:
        picked = _inbox(pending, pending_page["total"], now)
        _watch(tuple(a["id"] for a in pending))
    if picked:
        wanted = picked
    selected: Approval | None = None
    if wanted:
        selected = next((a for a in [*pending, *history] if a["id"] == wanted), None)
        if selected is None:
            try:
                selected = api.approval(wanted)
            except ApiError as exc:
                with top_right:
                    if exc.status_code in (400, 404):
                        st.warning("No approval with this id in this project.", icon=":material/warning:")
                    else:
                        session.show_api_error("The approval could not be loaded.", exc)
    elif pending:
        selected = pending[0]
    if selected is not None:
        with top_right:
            _selected(selected, now)
        session.sync_url({"id": selected["id"]})
        st.divider()
        _why(selected)
    elif not wanted:
        with top_right:
            st.info("Select an approval to decide it, or one from the history to read it.", icon=":material/gavel:")
    st.divider()
    history_pick = _history(history_rows)
    if history_pick:
        st.query_params.from_dict({"id": history_pick})
        st.rerun()


if __name__ == "__main__":
    render()
