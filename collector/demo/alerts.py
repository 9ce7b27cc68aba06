"""Alerts in the demo (docs/alerts.md): the rules a team would have had when refund-bot 2.3.0
shipped prompt ``refund-policy`` v7, replayed over the demo's two weeks through the real API.

"refund-bot refund amount" watches the largest ``amount`` of ``issue_refund`` over 6 hours: it
fires at the v7 refund of 4,950.00 (the prompt wrote cents, the tool reads dollars) and
resolves after the rollback, once a 6-hour window holds only normal refunds again. "refund-bot
error rate" watches failed runs and stays ok (the incident was no error: the refund went
through), which is the point of the first rule. Both keep being evaluated live afterwards.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from flightlog.collector.demo.control import _call
from flightlog.collector.demo.scenario import DEMO_DAYS, INCIDENT_AGENT

REFUND_AMOUNT_RULE = {
    "name": "refund-bot refund amount", "metric": "tool_argument_max", "tool": "issue_refund",
    "argument": "amount", "scope": {"agent": INCIDENT_AGENT}, "window": "6h", "op": "above", "threshold": 1000,
    "min_samples": 1,
    "description": "A refund above 1,000 is almost certainly wrong: open Monitoring by prompt version, "
                   "pause the agent version on the Control page.",
}
ERROR_RATE_RULE = {
    "name": "refund-bot error rate", "metric": "error_rate", "scope": {"agent": INCIDENT_AGENT}, "window": "6h",
    "op": "above", "threshold": 0.25, "min_samples": 5,
}


def seed_alerts(base_url: str, admin_key: str) -> dict[str, Any]:
    """Create the two rules (once: a second run finds them by name) and replay each over the
    demo's days. Returns the rule ids and the transitions recorded."""
    existing = {r["name"]: r for r in _call(base_url, admin_key, "GET", "/api/alerts/rules")["rules"]}
    start = (datetime.now(timezone.utc) - timedelta(days=DEMO_DAYS)).isoformat()
    made: dict[str, Any] = {}
    for body in (REFUND_AMOUNT_RULE, ERROR_RATE_RULE):
        rule = existing.get(str(body["name"]))
        if rule is None:
            rule = _call(base_url, admin_key, "POST", "/api/alerts/rules", body)
            replay = _call(base_url, admin_key, "POST", f"/api/alerts/rules/{rule['id']}/replay",
                           {"start": start, "step": "3h"})
            made[rule["id"]] = [e["kind"] for e in replay["events"]]
        else:
            made[rule["id"]] = []
    return made
