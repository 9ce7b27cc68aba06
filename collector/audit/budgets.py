"""Daily budgets and their alerts (docs/audit.md, "Budgets").

A budget caps a project, an agent or a user per UTC day, in tokens and/or USD. The audit
thread calls :meth:`BudgetMonitor.check` every few seconds: it reads today's usage from the
rollup, and when a budget crosses 80% or 100% it records one alert per (budget, day,
threshold) and POSTs it to the budget's webhook, retrying with backoff. The SDK asks
``GET /api/budget/remaining`` how much is left (:func:`remaining`).
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from datetime import date, datetime, timezone
from typing import Any

from flightlog.storage import Store
from flightlog.storage import budgets as db

log = logging.getLogger(__name__)

THRESHOLDS = (80, 100)
WEBHOOK_ATTEMPTS = 4
WEBHOOK_TIMEOUT_S = 5.0
WEBHOOK_BACKOFF_S = 0.5


def fraction(budget: dict[str, Any], tokens: int, cost: float) -> float:
    """The larger of tokens/max and cost/max (a limit of 0 means "no limit on that")."""
    parts = []
    if budget["max_tokens"]:
        parts.append(tokens / budget["max_tokens"])
    if budget["max_cost_usd"]:
        parts.append(cost / budget["max_cost_usd"])
    return max(parts, default=0.0)


def post_webhook(url: str, payload: dict[str, Any], *, attempts: int = WEBHOOK_ATTEMPTS,
                 stop: threading.Event | None = None) -> tuple[str, int]:
    """POST JSON with retries on errors and 5xx/429; returns (status text, attempts made)."""
    stop = stop or threading.Event()
    body = json.dumps(payload).encode()
    status = "not sent"
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "User-Agent": "flightlog-budget-alert"})
        try:
            with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S) as resp:
                return f"delivered {resp.status}", attempt
        except urllib.error.HTTPError as exc:
            status = f"HTTP {exc.code}"
            if exc.code < 500 and exc.code != 429:
                return status, attempt
        except (urllib.error.URLError, OSError) as exc:
            status = f"error {exc}"
        log.warning("budget webhook %s failed (%s), attempt %d of %d", url, status, attempt, attempts)
        if stop.wait(WEBHOOK_BACKOFF_S * 2 ** (attempt - 1)):  # interruptible backoff
            break
    return status, attempts


class BudgetMonitor:
    """Checks budgets against today's rollup; alerts once per threshold crossing."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._sent: set[tuple[str, str, str, int, date]] = set()
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def check(self, today: date | None = None) -> list[dict[str, Any]]:
        """Raise the alerts due now; returns them (with their webhook outcome)."""
        today = today or datetime.now(timezone.utc).date()
        raised = []
        with self._lock:
            done = {(p, s, sub, t, today) for p, s, sub, t in db.alerts_sent(self.store, today)} | self._sent
            for budget in db.budgets(self.store):
                tokens, cost = db.usage(self.store, budget["project"], budget["scope"], budget["subject"], today)
                used = fraction(budget, tokens, cost)
                for threshold in THRESHOLDS:
                    key = (budget["project"], budget["scope"], budget["subject"], threshold, today)
                    if used * 100 < threshold or key in done:
                        continue
                    self._sent.add(key)
                    payload = {"type": "flightlog.budget.alert", "project": budget["project"], "scope": budget["scope"],
                               "subject": budget["subject"], "day": today.isoformat(), "threshold_pct": threshold,
                               "used_pct": round(used * 100, 2), "tokens": tokens, "cost_usd": round(cost, 6),
                               "max_tokens": budget["max_tokens"], "max_cost_usd": budget["max_cost_usd"]}
                    db.record_alert(self.store, budget, today, threshold, tokens, cost, "pending", 0)
                    status, attempts = ("no webhook", 0)
                    if budget["webhook_url"]:
                        status, attempts = post_webhook(budget["webhook_url"], payload, stop=self._stop)
                    db.record_alert(self.store, budget, today, threshold, tokens, cost, status, attempts)
                    log.warning("budget alert: %s %s %r at %d%% (%s)", budget["project"], budget["scope"],
                                budget["subject"], threshold, status)
                    raised.append({**payload, "webhook": status, "attempts": attempts})
        return raised

    def close(self) -> None:
        self._stop.set()


def remaining(store: Store, project: str, *, agent: str = "", user: str = "",
              today: date | None = None) -> dict[str, Any]:
    """Today's remaining tokens and cost under every budget that applies to (agent, user)."""
    today = today or datetime.now(timezone.utc).date()
    out = []
    for budget in db.budgets(store, project):
        if budget["scope"] == "agent" and budget["subject"] != agent:
            continue
        if budget["scope"] == "user" and budget["subject"] != user:
            continue
        tokens, cost = db.usage(store, project, budget["scope"], budget["subject"], today)
        out.append({
            "scope": budget["scope"], "subject": budget["subject"], "tokens_used": tokens, "cost_usd_used": cost,
            "max_tokens": budget["max_tokens"], "max_cost_usd": budget["max_cost_usd"],
            "tokens_remaining": max(0, budget["max_tokens"] - tokens) if budget["max_tokens"] else None,
            "cost_usd_remaining": max(0.0, budget["max_cost_usd"] - cost) if budget["max_cost_usd"] else None,
            "exhausted": fraction(budget, tokens, cost) >= 1.0,
        })
    return {"project": project, "day": today.isoformat(), "budgets": out,
            "exhausted": any(b["exhausted"] for b in out)}
