"""Pure helpers of the control pages: the approval inbox and its history, the deciding LLM call
and the run so far (from the trace), edited arguments, who may decide or pause, and which
pauses cover an agent.

Nothing here calls Streamlit or the network: approvals and spans come in as the API sends
them (``ui/types.py``) and plain rows and strings go out, which the pages show as text,
tables or JSON — never as Markdown or HTML.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from flightlog.ui import format as fmt

__all__ = [
    "DECIDED",
    "SOON_S",
    "approval_facts",
    "arguments_text",
    "deciding_call",
    "format_left",
    "history_rows",
    "inbox_rows",
    "may_approve",
    "may_pause",
    "oldest_pending",
    "parse_arguments",
    "pause_rows",
    "pauses_covering",
    "person_label",
    "run_so_far",
    "seconds_left",
    "why_facts",
    "why_not_approve",
    "why_not_pause",
]

SOON_S = 5 * 60
"""A pending approval that expires within this many seconds is marked "expires soon"."""

DECIDED = ("approved", "rejected", "expired", "notified")
"""Statuses shown in the history (``notified``: a tier-2 notice, nothing to decide)."""

_TIER = {1: "1 · autonomous", 2: "2 · notify", 3: "3 · approve"}


def _time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def seconds_left(approval: Mapping[str, Any], now: dt.datetime) -> float | None:
    """Seconds until a pending approval expires (negative once past); None without a deadline."""
    expires = _time(approval.get("expires_at"))
    return None if expires is None else (expires - now).total_seconds()


def _length(seconds: float) -> str:
    """``42s``, ``4m 10s``, ``1h 05m``, ``2d 03h``."""
    whole = int(max(seconds, 0))
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def format_left(seconds: float | None) -> str:
    """``4m 10s left``, ``1h 05m left``; ``expiring now`` once past the deadline (not swept yet)."""
    if seconds is None:
        return "no deadline"
    if seconds <= 0:
        return "expiring now"
    return f"{_length(seconds)} left"


def _waiting(approval: Mapping[str, Any], now: dt.datetime) -> str:
    requested = _time(approval.get("requested_at"))
    return "—" if requested is None else _length((now - requested).total_seconds())


def oldest_pending(approvals: Iterable[Mapping[str, Any]]) -> str:
    """The id of the pending approval asked for first ('' when none is pending)."""
    pending = [a for a in approvals if a.get("status") == "pending" and a.get("requested_at")]
    return str(min(pending, key=lambda a: str(a["requested_at"]))["id"]) if pending else ""


def _note(approval: Mapping[str, Any], now: dt.datetime, oldest: str) -> str:
    notes = []
    left = seconds_left(approval, now)
    if left is not None and left <= SOON_S:
        notes.append("expires soon")
    if approval.get("id") == oldest:
        notes.append("oldest")
    if approval.get("escalated_at"):
        notes.append("escalated")
    return ", ".join(notes)


def inbox_rows(approvals: Sequence[Mapping[str, Any]], now: dt.datetime) -> list[dict[str, Any]]:
    """Rows of the inbox table, one per pending approval, in the API's order (soonest expiry
    first); ``note`` marks the oldest, those expiring within :data:`SOON_S` and escalated ones;
    ``deadline`` (time left and note) and ``wants`` (the agent and its action) are the same in one
    text each, for the inbox's narrow column."""
    oldest = oldest_pending(approvals)
    rows = [{
        "time left": format_left(seconds_left(a, now)),
        "note": _note(a, now, oldest),
        "agent": str(a.get("agent") or ""),
        "version": str(a.get("agent_version") or ""),
        "tool": str(a.get("tool") or ""),
        "action": fmt.snippet(str(a.get("action") or ""), width=70),
        "waiting": _waiting(a, now),
        "id": str(a.get("id") or ""),
    } for a in approvals if a.get("status") == "pending"]
    for row in rows:
        row["deadline"] = ", ".join(part for part in (row["time left"], row["note"]) if part)
        row["wants"] = f"{row['agent'] or '—'}: {row['action']}"
    return rows


def _used(approval: Mapping[str, Any]) -> str:
    if approval.get("consumed_at"):
        return f"yes, {fmt.format_time(approval['consumed_at'])}"
    if approval.get("status") == "approved" or (approval.get("status") == "expired"
                                               and approval.get("on_timeout") == "approve"):
        return "not yet"
    return "no"


def history_rows(approvals: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows of the history table: decided, expired and notified approvals."""
    rows = []
    for a in approvals:
        if a.get("status") not in DECIDED:
            continue
        status = str(a["status"])
        if a.get("edited_arguments") is not None and status == "approved":
            status = "approved (edited arguments)"
        rows.append({
            "decided at": fmt.format_time(a.get("decided_at") or a.get("requested_at")),
            "status": status,
            "approver": str(a.get("approver") or ("— (expired)" if a.get("status") == "expired" else "—")),
            "reason": str(a.get("reason") or ""),
            "used by the agent": _used(a),
            "agent": str(a.get("agent") or ""),
            "version": str(a.get("agent_version") or ""),
            "tool": str(a.get("tool") or ""),
            "action": fmt.snippet(str(a.get("action") or ""), width=60),
            "id": str(a.get("id") or ""),
        })
    return rows


def approval_facts(approval: Mapping[str, Any], now: dt.datetime) -> dict[str, str]:
    """The summary above the arguments: tool, agent and version, tier, confidence, deadline and,
    while pending, how long it has waited."""
    confidence = approval.get("confidence")
    status = str(approval.get("status") or "")
    facts = {
        "tool": str(approval.get("tool") or "—"),
        "agent": str(approval.get("agent") or "—"),
        "agent version": str(approval.get("agent_version") or "—"),
        "tier": _TIER.get(int(approval.get("tier") or 0), str(approval.get("tier"))),
        "confidence": "—" if confidence is None else f"{float(confidence):.0%}",
    }
    if status == "pending":
        facts["time left"] = format_left(seconds_left(approval, now))
        facts["if nobody decides"] = str(approval.get("on_timeout") or "reject")
        facts["waiting"] = _waiting(approval, now)
    else:
        facts["status"] = status
    return facts


def why_facts(approval: Mapping[str, Any]) -> dict[str, str]:
    """Where the action came from: the deciding LLM call, the prompt, the policy, the trace."""
    decided_by = approval.get("decided_by") or {}
    policy = approval.get("policy")
    prompt = "@".join(p for p in (decided_by.get("prompt_id") or approval.get("prompt_id") or "",
                                  decided_by.get("prompt_version") or approval.get("prompt_version") or "") if p)
    return {
        "deciding LLM call": str(decided_by.get("span_id") or "—"),
        "model": str(decided_by.get("model") or "—"),
        "prompt": prompt or "—",
        "policy in force": f"{policy['id']} v{policy['version']}" if policy else "none",
        "trace": str(approval.get("trace_id") or "—"),
        "checkpoint span": str(approval.get("span_id") or "—"),
        "requested at": fmt.format_time(approval.get("requested_at")),
        "expires at": fmt.format_time(approval.get("expires_at")),
        "arguments hash": str(approval.get("arguments_hash") or ""),
        "approval id": str(approval.get("id") or ""),
    }


def deciding_call(spans: Sequence[Mapping[str, Any]], span_id: str) -> Mapping[str, Any] | None:
    """The span of the LLM call named by ``decided_by.span_id`` (None if not in the trace)."""
    return next((s for s in spans if span_id and s.get("span_id") == span_id), None)


def run_so_far(spans: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The run's transcript: every span with a text, in start order, with its input and output
    (tool spans: arguments and result). Control events (``approval.*``) are left out."""
    steps = []
    for span in sorted(spans, key=fmt.start_ns):
        if span.get("span_type") == "control":
            continue
        text_in = str(span.get("input_text") or span.get("tool_args") or "")
        text_out = str(span.get("output_text") or span.get("tool_result") or "")
        if not (text_in or text_out):
            continue
        steps.append({"time": fmt.format_time(span.get("timestamp")), "type": str(span.get("span_type") or ""),
                      "name": str(span.get("span_name") or ""), "span_id": str(span.get("span_id") or ""),
                      "input": text_in, "output": text_out})
    return steps


def parse_arguments(text: str) -> tuple[Any, str]:
    """``(value, "")`` for edited arguments that parse as JSON, else ``(None, the error)``."""
    if not text.strip():
        return None, "The edited arguments are empty: type the JSON the agent should use."
    try:
        return json.loads(text), ""
    except ValueError as exc:
        return None, f"Not valid JSON: {exc}"


def arguments_text(value: Any) -> str:
    """Arguments as indented JSON, the starting text of the editor."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


# -- who may do what (docs/control.md, "Who may do what") -----------------------------------------


def may_approve(who: Mapping[str, Any] | None) -> bool:
    """A key decides approvals when it is an admin's or holds the approve permission (not ingest)."""
    if not who or who.get("role") == "ingest":
        return False
    return who.get("role") == "admin" or "approve" in (who.get("permissions") or [])


def may_pause(who: Mapping[str, Any] | None) -> bool:
    """Only admin keys pause and resume."""
    return who is not None and who.get("role") == "admin"


def person_label(who: Mapping[str, Any]) -> str:
    """``Dana Reviewer (engineer, approve)``; an unnamed key by its id."""
    name = str(who.get("name") or f"key {who.get('key_id', '')}")
    extra = [str(who.get("role") or ""), *[str(p) for p in who.get("permissions") or []]]
    return f"{name} ({', '.join(e for e in extra if e)})"


def why_not_approve(who: Mapping[str, Any] | None) -> str:
    """What is missing to decide, in the page's words ('' when nothing is)."""
    if may_approve(who):
        return ""
    if not who:
        return ("Deciding needs your own key with the approve permission (or an admin key): enter it under "
                "“Your key” in the sidebar. The UI's own key only reads.")
    return (f"You are signed in as {person_label(who)}, which may not decide approvals: it needs the approve "
            "permission (an admin can create one: flightlog keys create --role engineer --name \"Your Name\" "
            "--permission approve).")


def why_not_pause(who: Mapping[str, Any] | None) -> str:
    """What is missing to pause or resume ('' when nothing is)."""
    if may_pause(who):
        return ""
    if not who:
        return "Pausing and resuming need an admin key: enter yours under “Your key” in the sidebar."
    return f"You are signed in as {person_label(who)}: pausing and resuming need an admin key."


# -- pauses ---------------------------------------------------------------------------------------


def pauses_covering(pauses: Iterable[Mapping[str, Any]], agent: str, agent_version: str = "") -> list[Mapping[str, Any]]:
    """The active pauses that stop ``agent`` (at ``agent_version``): the project's, the agent's,
    that version's, or one of its tools."""
    covering = []
    for pause in pauses:
        if not pause.get("agent"):
            covering.append(pause)
        elif pause.get("agent") == agent and (not pause.get("agent_version")
                                              or pause.get("agent_version") == agent_version):
            covering.append(pause)
    return covering


def pause_rows(pauses: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Rows of the active-pauses table."""
    return [{"scope": str(p.get("scope") or ""), "agent": str(p.get("agent") or "(all)"),
             "version": str(p.get("agent_version") or "(all)"), "tool": str(p.get("tool") or "(all)"),
             "reason": str(p.get("reason") or ""), "by": str(p.get("by") or ""),
             "since": fmt.format_time(p.get("at"))} for p in pauses]
