"""Control-loop state in the store (migration 0017): approvals, pauses, policies and the
notification outbox. Rows are versions: the latest ``Version`` of a key is its state, so every
collector on the store sees the same state and a restart loses nothing (docs/control.md).

Values are bound parameters; rows are plain dicts keyed by column name.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from .errors import InvalidQuery
from .store import Store

APPROVAL_COLUMNS = (
    "Project", "ApprovalId", "Version", "IdempotencyKey", "Status", "Tier", "Action", "ToolName", "Arguments",
    "ArgumentsHash", "EditedArguments", "EditedArgumentsHash", "Confidence", "AgentName", "AgentVersion",
    "PromptId", "PromptVersion", "TraceId", "SpanId", "DecidedBy", "PolicyId", "PolicyVersion", "OnTimeout",
    "RequestedAt", "ExpiresAt", "DecidedAt", "Approver", "ApproverKeyId", "Reason", "ConsumedAt", "EscalatedAt",
)
APPROVAL_STATUSES = ("pending", "approved", "rejected", "expired", "notified")
PAUSE_COLUMNS = ("Project", "AgentName", "AgentVersion", "ToolName", "Paused", "Reason", "ChangedBy", "ChangedAt",
                 "Version")
POLICY_COLUMNS = ("Project", "AgentName", "AgentVersion", "PolicyVersion", "Body", "Sha256", "ChangedBy")
NOTIFICATION_COLUMNS = ("Project", "EventId", "TargetId", "Event", "Url", "Format", "Payload", "Status", "Attempts",
                        "LastStatus", "LastError", "CreatedAt", "NextAt", "DeliveredAt", "Version", "Owner")
MAX_PAGE = 500


def version_now() -> int:
    """A row version: nanoseconds, so a later change always wins."""
    return time.time_ns()


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _latest(table: str, key: str, where: str) -> str:
    return f"SELECT * FROM {table} WHERE {where} ORDER BY Version DESC LIMIT 1 BY {key}"


def _aware(row: dict[str, Any]) -> dict[str, Any]:
    """Times as aware UTC datetimes (the engine returns naive UTC)."""
    return {k: v.replace(tzinfo=timezone.utc) if isinstance(v, datetime) and v.tzinfo is None else v
            for k, v in row.items()}


# -- approvals ------------------------------------------------------------------------------------
def put_approval(store: Store, row: Mapping[str, Any]) -> None:
    """Write a new version of an approval (``Version`` is set here)."""
    values = {**row, "Version": version_now()}
    store.insert("approvals", [[values.get(c) for c in APPROVAL_COLUMNS]], APPROVAL_COLUMNS)


def get_approval(store: Store, project: str, approval_id: str) -> dict[str, Any] | None:
    rows = store.query(_latest("approvals", "ApprovalId", "Project = {p:String} AND ApprovalId = {id:String}"),
                       {"p": project, "id": approval_id})
    return _aware(rows[0]) if rows else None


def find_by_idempotency_key(store: Store, project: str, key: str) -> dict[str, Any] | None:
    rows = store.query(
        "SELECT * FROM (" + _latest("approvals", "ApprovalId", "Project = {p:String} AND IdempotencyKey = {k:String}")
        + ") ORDER BY RequestedAt LIMIT 1", {"p": project, "k": key})
    return _aware(rows[0]) if rows else None


def list_approvals(store: Store, project: str, *, status: str = "", agent: str = "", limit: int = 100,
                   offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Approvals of a project (latest state), pending first by expiry, then newest decided first."""
    if status and status not in APPROVAL_STATUSES:
        raise InvalidQuery(f"status must be one of {', '.join(APPROVAL_STATUSES)}, got {status!r}")
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidQuery(f"limit must be 1…{MAX_PAGE}")
    cond, params = ["1"], {"p": project, "limit": limit, "offset": offset}
    if status:
        cond.append("Status = {status:String}")
        params["status"] = status
    if agent:
        cond.append("AgentName = {agent:String}")
        params["agent"] = agent
    inner = _latest("approvals", "ApprovalId", "Project = {p:String}")
    where = " AND ".join(cond)
    rows = store.query(
        f"SELECT * FROM ({inner}) WHERE {where}"
        " ORDER BY Status = 'pending' DESC, if(Status = 'pending', ExpiresAt, toDateTime64(0, 3)) ASC,"
        " coalesce(DecidedAt, RequestedAt) DESC LIMIT {limit:UInt32} OFFSET {offset:UInt32}", params)
    total = store.query_rows(f"SELECT count() FROM ({inner}) WHERE {where}", params)[0][0]
    return [_aware(r) for r in rows], int(total)


def due_approvals(store: Store, *, expire_before: datetime, escalate_before: datetime | None = None,
                  limit: int = 1000) -> list[dict[str, Any]]:
    """Pending approvals (every project) past their expiry, or (``escalate_before``) pending since
    before that time and not escalated yet."""
    params: dict[str, Any] = {"exp": expire_before, "limit": limit}
    cond = "ExpiresAt <= {exp:DateTime64(3)}"
    if escalate_before is not None:
        cond = f"({cond} OR (EscalatedAt IS NULL AND RequestedAt <= {{esc:DateTime64(3)}}))"
        params["esc"] = escalate_before
    rows = store.query(
        "SELECT * FROM (SELECT * FROM approvals ORDER BY Version DESC LIMIT 1 BY Project, ApprovalId)"
        f" WHERE Status = 'pending' AND {cond} ORDER BY ExpiresAt LIMIT {{limit:UInt32}}", params)
    return [_aware(r) for r in rows]


# -- pauses (the kill switch) ---------------------------------------------------------------------
def set_pause(store: Store, project: str, agent: str, agent_version: str, tool: str, *, paused: bool, reason: str,
              by: str) -> dict[str, Any]:
    row = {"Project": project, "AgentName": agent, "AgentVersion": agent_version, "ToolName": tool,
           "Paused": int(paused), "Reason": reason, "ChangedBy": by, "ChangedAt": utc_now(), "Version": version_now()}
    store.insert("control_pauses", [[row[c] for c in PAUSE_COLUMNS]], PAUSE_COLUMNS)
    return row


def pauses(store: Store, project: str, *, active_only: bool = True) -> list[dict[str, Any]]:
    """The pause state of every scope ever paused in the project (active ones by default)."""
    rows = store.query(
        "SELECT * FROM (" + _latest("control_pauses", "AgentName, AgentVersion, ToolName", "Project = {p:String}")
        + ")" + (" WHERE Paused = 1" if active_only else "") + " ORDER BY AgentName, AgentVersion, ToolName",
        {"p": project})
    return [_aware(r) for r in rows]


# -- policies -------------------------------------------------------------------------------------
def put_policy(store: Store, project: str, agent: str, agent_version: str, body: str, sha256: str,
               by: str) -> int:
    """Store a new version of an agent's policy; returns its version number (1, 2, …)."""
    current = store.query_rows(
        "SELECT max(PolicyVersion) FROM policies WHERE Project = {p:String} AND AgentName = {a:String}"
        " AND AgentVersion = {v:String}", {"p": project, "a": agent, "v": agent_version})[0][0]
    version = int(current or 0) + 1
    store.insert("policies", [[project, agent, agent_version, version, body, sha256, by]], POLICY_COLUMNS)
    return version


def policies(store: Store, project: str, agent: str | None = None) -> list[dict[str, Any]]:
    """The policy in force per (agent, agent version) of the project (optionally one agent), in
    agent and version order: the control state's version is a hash of this list, so its order
    must not change between reads."""
    cond, params = "Project = {p:String}", {"p": project}
    if agent is not None:
        cond += " AND AgentName = {a:String}"
        params["a"] = agent
    rows = store.query(
        f"SELECT * FROM (SELECT * FROM policies WHERE {cond} ORDER BY PolicyVersion DESC"
        " LIMIT 1 BY AgentName, AgentVersion) ORDER BY AgentName, AgentVersion", params)
    return [_aware(r) for r in rows if not r["Deleted"]]


def policy_history(store: Store, project: str, agent: str, *, limit: int = 100) -> list[dict[str, Any]]:
    rows = store.query(
        "SELECT * FROM policies WHERE Project = {p:String} AND AgentName = {a:String}"
        " ORDER BY ChangedAt DESC LIMIT {limit:UInt32}", {"p": project, "a": agent, "limit": limit})
    return [_aware(r) for r in rows]


# -- notifications ---------------------------------------------------------------------------------
def set_notification_settings(store: Store, project: str, body: str, by: str) -> None:
    store.insert("notification_settings", [[project, body, by, utc_now(), version_now()]],
                 ("Project", "Body", "ChangedBy", "ChangedAt", "Version"))


def notification_settings(store: Store, project: str) -> str | None:
    rows = store.query_rows(_latest("notification_settings", "Project", "Project = {p:String}"), {"p": project})
    return rows[0][1] if rows else None


def enqueue_notifications(store: Store, rows: Sequence[Mapping[str, Any]], *, owner: str = "") -> None:
    """Outbox rows (one per event and target), ready to send now by ``owner`` (a collector)."""
    now, version = utc_now(), version_now()
    store.insert("notifications", [[{**r, "Status": "pending", "Attempts": 0, "LastStatus": 0, "LastError": "",
                                     "CreatedAt": now, "NextAt": now, "DeliveredAt": None,
                                     "Version": version, "Owner": owner}[c] for c in NOTIFICATION_COLUMNS]
                                   for r in rows],
                 NOTIFICATION_COLUMNS)


def due_notifications(store: Store, *, owner: str = "", takeover_s: float = 120.0,
                      limit: int = 100) -> list[dict[str, Any]]:
    """Pending rows due now that ``owner`` delivers: its own, those without an owner, and those
    due for longer than ``takeover_s`` (their owner stopped)."""
    rows = store.query(
        "SELECT * FROM (SELECT * FROM notifications ORDER BY Version DESC LIMIT 1 BY Project, EventId, TargetId)"
        " WHERE Status = 'pending' AND NextAt <= now64(3)"
        " AND (Owner = {owner:String} OR Owner = '' OR NextAt <= now64(3) - toIntervalMillisecond({takeover:UInt64}))"
        " ORDER BY NextAt LIMIT {limit:UInt32}",
        {"limit": limit, "owner": owner, "takeover": int(takeover_s * 1000)})
    return [_aware(r) for r in rows]


def update_notification(store: Store, row: Mapping[str, Any]) -> None:
    store.insert("notifications", [[{**row, "Version": version_now()}[c] for c in NOTIFICATION_COLUMNS]],
                 NOTIFICATION_COLUMNS)


def notifications(store: Store, project: str, *, event_id: str = "", limit: int = 200) -> list[dict[str, Any]]:
    """Deliveries of a project (latest state), newest first."""
    cond, params = "Project = {p:String}", {"p": project, "limit": limit}
    if event_id:
        cond += " AND EventId = {e:String}"
        params["e"] = event_id
    rows = store.query(
        f"SELECT * FROM (SELECT * FROM notifications WHERE {cond} ORDER BY Version DESC LIMIT 1 BY EventId, TargetId)"
        " ORDER BY CreatedAt DESC LIMIT {limit:UInt32}", params)
    return [_aware(r) for r in rows]
