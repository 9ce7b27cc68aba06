"""Alert rules, their history, transition claims and last evaluations in the store (migration
0025, docs/alerts.md). Rows are versions: the latest ``Version`` of a rule is its state, so every
collector on the store sees the same rules and silences.

Values are bound parameters; rows are plain dicts keyed by column name, times aware UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from .control import utc_now, version_now
from .errors import InvalidQuery
from .store import Store

RULE_COLUMNS = ("Project", "RuleId", "Version", "Body", "SilencedUntil", "SilenceReason", "SilencedBy", "ChangedBy",
                "ChangedAt", "Deleted")
EVENT_COLUMNS = ("Project", "RuleId", "Seq", "EventId", "Kind", "At", "Value", "Reference", "Threshold", "Samples",
                 "WindowStart", "WindowEnd", "Silenced", "Notified", "Actor", "Reason", "Link", "Rule")
CLAIM_COLUMNS = ("Project", "RuleId", "Seq", "Token", "Claimant", "ClaimedAt")
EVALUATION_COLUMNS = ("Project", "RuleId", "At", "Value", "Reference", "Samples", "Breached", "Version")
TRANSITIONS = ("firing", "resolved")
MAX_PAGE = 500


def _aware(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.replace(tzinfo=timezone.utc) if isinstance(v, datetime) and v.tzinfo is None else v
            for k, v in row.items()}


# -- rules ------------------------------------------------------------------------------------------
def put_rule(store: Store, row: Mapping[str, Any]) -> dict[str, Any]:
    """Write a new version of a rule (``Version`` and ``ChangedAt`` are set here)."""
    values = {"SilencedUntil": None, "SilenceReason": "", "SilencedBy": "", "Deleted": 0, **row,
              "Version": version_now(), "ChangedAt": utc_now()}
    store.insert("alert_rules", [[values[c] for c in RULE_COLUMNS]], RULE_COLUMNS)
    return values


def get_rule(store: Store, project: str, rule_id: str) -> dict[str, Any] | None:
    rows = store.query(
        "SELECT * FROM alert_rules WHERE Project = {p:String} AND RuleId = {id:String}"
        " ORDER BY Version DESC LIMIT 1", {"p": project, "id": rule_id})
    return _aware(rows[0]) if rows and not rows[0]["Deleted"] else None


def rules(store: Store, project: str | None = None) -> list[dict[str, Any]]:
    """The rules in force (deleted ones left out) of one project, or of every project."""
    cond, params = ("WHERE Project = {p:String}", {"p": project}) if project is not None else ("", {})
    rows = store.query(
        f"SELECT * FROM (SELECT * FROM alert_rules {cond} ORDER BY Version DESC LIMIT 1 BY Project, RuleId)"
        " WHERE Deleted = 0 ORDER BY Project, ChangedAt LIMIT 10000", params)
    return [_aware(r) for r in rows]


# -- history ----------------------------------------------------------------------------------------
def latest_transition(store: Store, project: str, rule_id: str) -> dict[str, Any] | None:
    """The rule's last firing/resolved row (None: it never fired)."""
    rows = store.query(
        "SELECT * FROM alert_events WHERE Project = {p:String} AND RuleId = {id:String} AND Seq > 0"
        " ORDER BY Seq DESC LIMIT 1", {"p": project, "id": rule_id})
    return _aware(rows[0]) if rows else None


def latest_transitions(store: Store, project: str) -> dict[str, dict[str, Any]]:
    """Rule id → its last transition, for every rule of the project that ever fired."""
    rows = store.query(
        "SELECT * FROM alert_events WHERE Project = {p:String} AND Seq > 0"
        " ORDER BY Seq DESC LIMIT 1 BY RuleId", {"p": project})
    return {r["RuleId"]: _aware(r) for r in rows}


def add_event(store: Store, row: Mapping[str, Any]) -> None:
    """One history row; a transition (``Seq`` > 0) written twice reads as one (same key)."""
    values = {"Value": None, "Reference": None, "Threshold": 0.0, "Samples": 0, "Silenced": 0, "Notified": 0,
              "Actor": "", "Reason": "", "Link": "", "Rule": "", **row}
    values.setdefault("WindowStart", values["At"])
    values.setdefault("WindowEnd", values["At"])
    store.insert("alert_events", [[values[c] for c in EVENT_COLUMNS]], EVENT_COLUMNS)


def history(store: Store, project: str, *, rule_id: str = "", limit: int = 100) -> list[dict[str, Any]]:
    """History rows of a project (or one rule), newest first."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidQuery(f"limit must be 1…{MAX_PAGE}")
    cond, params = "Project = {p:String}", {"p": project, "limit": limit}
    if rule_id:
        cond += " AND RuleId = {id:String}"
        params["id"] = rule_id
    rows = store.query(
        f"SELECT * FROM alert_events WHERE {cond} ORDER BY At DESC, Seq DESC LIMIT 1 BY RuleId, Seq, EventId"
        " LIMIT {limit:UInt32}", params)
    return [_aware(r) for r in rows]


# -- claims (deciding a transition once) ------------------------------------------------------------
def claims(store: Store, project: str, rule_id: str, seq: int) -> list[dict[str, Any]]:
    """Every stored claim on transition ``seq`` of a rule, oldest first."""
    rows = store.query(
        "SELECT Token, Claimant, ClaimedAt FROM alert_claims WHERE Project = {p:String} AND RuleId = {id:String}"
        " AND Seq = {seq:UInt32} ORDER BY ClaimedAt LIMIT 1000", {"p": project, "id": rule_id, "seq": seq})
    return [_aware(r) for r in rows]


def claim(store: Store, project: str, rule_id: str, seq: int, round_: int, token: str, claimant: str) -> str:
    """Insert-if-absent: claim round ``round_`` of transition ``seq`` with ``token``; returns the
    token the store kept for that round (this one if no other claimant was first).

    Every claimant of the round inserts under the same deduplication token, so the store keeps
    the first row and drops the others (migration 0027), on one server or a cluster alike.
    """
    stored_token = f"{round_}:{token}"
    store.insert("alert_claims", [[project, rule_id, seq, stored_token, claimant, utc_now()]], CLAIM_COLUMNS,
                 dedup_token=f"alert-claim:{project}:{rule_id}:{seq}:{round_}")
    rows = store.query_rows(
        "SELECT Token FROM alert_claims WHERE Project = {p:String} AND RuleId = {id:String} AND Seq = {seq:UInt32}"
        " AND startsWith(Token, {prefix:String}) ORDER BY ClaimedAt LIMIT 1",
        {"p": project, "id": rule_id, "seq": seq, "prefix": f"{round_}:"})
    return str(rows[0][0]).partition(":")[2] if rows else ""


# -- last evaluations ---------------------------------------------------------------------------------
def put_evaluation(store: Store, project: str, rule_id: str, *, at: datetime, value: float | None,
                   reference: float | None, samples: int, breached: bool | None) -> None:
    row = [project, rule_id, at, value, reference, samples, None if breached is None else int(breached),
           version_now()]
    store.insert("alert_evaluations", [row], EVALUATION_COLUMNS)


def evaluations(store: Store, project: str) -> dict[str, dict[str, Any]]:
    rows = store.query(
        "SELECT * FROM alert_evaluations WHERE Project = {p:String} ORDER BY Version DESC LIMIT 1 BY RuleId",
        {"p": project})
    return {r["RuleId"]: _aware(r) for r in rows}
