"""Budget queries: daily budgets per project / agent / user, today's usage from the
``usage_users_daily`` rollup (never raw spans), and the alerts raised at 80% and 100%."""

from __future__ import annotations

from datetime import date, timezone
from typing import Any

from .errors import InvalidQuery
from .store import Store

SCOPES = {"project": "", "agent": "AgentName", "user": "UserId"}


def put_budget(store: Store, project: str, scope: str, subject: str, max_tokens: int, max_cost_usd: float,
               webhook_url: str, *, deleted: bool = False) -> None:
    if scope not in SCOPES:
        raise InvalidQuery(f"scope must be one of {sorted(SCOPES)}")
    store.insert("budgets", [[project, scope, subject if scope != "project" else "", int(max_tokens),
                              float(max_cost_usd), webhook_url, int(deleted)]],
                 ("Project", "Scope", "Subject", "MaxTokens", "MaxCostUsd", "WebhookUrl", "Deleted"))


def budgets(store: Store, project: str | None = None) -> list[dict[str, Any]]:
    cond, params = ("WHERE Project = {p:String}", {"p": project}) if project else ("", {})
    rows = store.query(
        "SELECT Project, Scope, Subject, argMax(MaxTokens, UpdatedAt) AS MaxTokens,"
        " argMax(MaxCostUsd, UpdatedAt) AS MaxCostUsd, argMax(WebhookUrl, UpdatedAt) AS WebhookUrl,"
        f" argMax(Deleted, UpdatedAt) AS Deleted FROM budgets {cond} GROUP BY Project, Scope, Subject"
        " ORDER BY Project, Scope, Subject", params)
    return [{"project": r["Project"], "scope": r["Scope"], "subject": r["Subject"], "max_tokens": int(r["MaxTokens"]),
             "max_cost_usd": float(r["MaxCostUsd"]), "webhook_url": r["WebhookUrl"]} for r in rows if not r["Deleted"]]


def usage(store: Store, project: str, scope: str, subject: str, day: date) -> tuple[int, float]:
    """(tokens, cost) of one budget's subject on ``day`` (UTC)."""
    column = SCOPES.get(scope)
    if column is None:
        raise InvalidQuery(f"scope must be one of {sorted(SCOPES)}")
    cond = ["Project = {p:String}", "Day = {day:Date}"]
    params: dict[str, Any] = {"p": project, "day": day}
    if column:
        cond.append(f"{column} = {{s:String}}")
        params["s"] = subject
    row = store.query_rows(
        f"SELECT sum(InputTokens) + sum(OutputTokens), sum(CostUsd) FROM usage_users_daily WHERE {' AND '.join(cond)}",
        params)[0]
    return int(row[0] or 0), float(row[1] or 0.0)


def alerts_sent(store: Store, day: date) -> set[tuple[str, str, str, int]]:
    rows = store.query_rows("SELECT DISTINCT Project, Scope, Subject, Threshold FROM budget_alerts WHERE Day = {d:Date}",
                            {"d": day})
    return {(p, s, sub, int(t)) for p, s, sub, t in rows}


def record_alert(store: Store, budget: dict[str, Any], day: date, threshold: int, tokens: int, cost: float,
                 status: str, attempts: int) -> None:
    store.insert("budget_alerts", [[budget["project"], budget["scope"], budget["subject"], day, threshold, tokens, cost,
                                    budget["max_tokens"], budget["max_cost_usd"], status, attempts]],
                 ("Project", "Scope", "Subject", "Day", "Threshold", "Tokens", "CostUsd", "MaxTokens", "MaxCostUsd",
                  "WebhookStatus", "Attempts"))


def alerts(store: Store, project: str, limit: int = 200) -> list[dict[str, Any]]:
    rows = store.query(
        "SELECT Scope, Subject, Day, Threshold, argMax(Tokens, At) AS Tokens, argMax(CostUsd, At) AS CostUsd,"
        " argMax(MaxTokens, At) AS MaxTokens, argMax(MaxCostUsd, At) AS MaxCostUsd,"
        " argMax(WebhookStatus, At) AS WebhookStatus, argMax(Attempts, At) AS Attempts, max(At) AS Last"
        " FROM budget_alerts WHERE Project = {p:String} GROUP BY Scope, Subject, Day, Threshold"
        " ORDER BY Last DESC LIMIT {n:UInt32}", {"p": project, "n": min(limit, 1000)})
    return [{"scope": r["Scope"], "subject": r["Subject"], "day": r["Day"].isoformat(), "threshold": int(r["Threshold"]),
             "tokens": int(r["Tokens"]), "cost_usd": float(r["CostUsd"]), "max_tokens": int(r["MaxTokens"]),
             "max_cost_usd": float(r["MaxCostUsd"]), "webhook": r["WebhookStatus"], "attempts": int(r["Attempts"]),
             "at": r["Last"].replace(tzinfo=timezone.utc).isoformat()} for r in rows]
