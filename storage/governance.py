"""Governance records: retention policies, legal holds and the log of every change to them
(and to budgets and review rates). Each table is append-only; the latest row per key wins
(``argMax(…, UpdatedAt)``), so the history of a setting stays readable.

Every value is a bound parameter (docs/decisions/0004-bound-parameters-only.md).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timezone
from typing import Any

from .audit import MAX_PAGE
from .store import Store


def log_change(store: Store, project: str, actor: str, action: str, details: dict[str, Any]) -> None:
    store.insert("governance_log", [[project, actor, action, json.dumps(details, sort_keys=True, default=str)]],
                 ("Project", "Actor", "Action", "Details"))


def governance_log(store: Store, project: str, limit: int = 200) -> list[dict[str, Any]]:
    rows = store.query(
        "SELECT At, Actor, Action, Details FROM governance_log WHERE Project = {p:String}"
        " ORDER BY At DESC LIMIT {n:UInt32}", {"p": project, "n": min(limit, MAX_PAGE)})
    return [{"at": r["At"].replace(tzinfo=timezone.utc).isoformat(), "actor": r["Actor"], "action": r["Action"],
             "details": json.loads(r["Details"] or "{}")} for r in rows]


def set_retention(store: Store, project: str, days: int, actor: str) -> None:
    store.insert("retention_policies", [[project, days, actor]], ("Project", "Days", "SetBy"))


def retention_policies(store: Store, project: str | None = None) -> dict[str, int]:
    """Project → retention days (0 = keep forever)."""
    cond, params = ("WHERE Project = {p:String}", {"p": project}) if project else ("", {})
    rows = store.query_rows(
        f"SELECT Project, argMax(Days, UpdatedAt) FROM retention_policies {cond} GROUP BY Project", params)
    return {p: int(d) for p, d in rows}


def put_hold(store: Store, project: str, hold_id: str, trace_ids: Sequence[str], reason: str, actor: str,
             created_at_ms: int, released: bool = False, released_by: str = "") -> None:
    store.insert("legal_holds", [[project, hold_id, list(trace_ids), reason, actor, created_at_ms, int(released),
                                  released_by]],
                 ("Project", "HoldId", "TraceIds", "Reason", "CreatedBy", "CreatedAt", "Released", "ReleasedBy"))


def legal_holds(store: Store, project: str, *, active_only: bool = True) -> list[dict[str, Any]]:
    rows = store.query(
        "SELECT HoldId, argMax(TraceIds, UpdatedAt) AS TraceIds, argMax(Reason, UpdatedAt) AS Reason,"
        " argMax(CreatedBy, UpdatedAt) AS CreatedBy, toUnixTimestamp64Milli(argMax(CreatedAt, UpdatedAt)) AS CreatedMs,"
        " argMax(Released, UpdatedAt) AS Released, argMax(ReleasedBy, UpdatedAt) AS ReleasedBy"
        " FROM legal_holds WHERE Project = {p:String} GROUP BY HoldId ORDER BY CreatedMs", {"p": project})
    out = [{"hold_id": r["HoldId"], "trace_ids": list(r["TraceIds"]), "scope": "traces" if r["TraceIds"] else "project",
            "reason": r["Reason"], "created_by": r["CreatedBy"], "created_at_ms": int(r["CreatedMs"]),
            "released": bool(r["Released"]), "released_by": r["ReleasedBy"]} for r in rows]
    return [h for h in out if not h["released"]] if active_only else out
