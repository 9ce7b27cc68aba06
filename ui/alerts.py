"""What the Alerts page shows, as plain data (docs/alerts.md): rule rows with their state, the
rule's condition in words, history rows, the Monitoring link's query parameters and whether the
signed-in person may silence. Everything from the collector is returned as text for
dataframes and ``st.text``, never markdown.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from flightlog.ui import format as fmt
from flightlog.ui.inbox import person_label

METRIC_LABELS = {
    "error_rate": "error rate", "success_rate": "success rate", "latency_p95_ms": "p95 latency (ms)",
    "cost_per_hour": "cost per hour (USD)", "cost_per_day": "cost per day (USD)", "tokens_per_run": "tokens per run",
    "checkpoint_escalation_rate": "checkpoint escalation rate", "tool_error_rate": "tool error rate",
    "mean_score": "mean review score", "tool_argument_max": "largest tool argument",
}
RATES = frozenset({"error_rate", "success_rate", "checkpoint_escalation_rate", "tool_error_rate"})
SILENCE_FOR = ("30m", "1h", "2h", "4h", "1d", "7d")


def value_text(metric: str, value: float | None) -> str:
    if value is None:
        return "—"
    if metric in RATES:
        return f"{value:.1%}"
    return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"


def scope_text(scope: Mapping[str, str]) -> str:
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(scope.items())) or "the whole project"


def condition_text(rule: Mapping[str, Any]) -> str:
    """``error rate above 20.0% over 15m (at least 10 samples)``, or the drift form."""
    label = METRIC_LABELS.get(rule["metric"], rule["metric"])
    if rule["metric"] == "tool_argument_max":
        label = f"largest {rule.get('tool')} {rule.get('argument')}"
    if rule["metric"] == "mean_score" and rule.get("evaluator"):
        label = f"mean {rule['evaluator']} score" + (f" ({rule['score_source']})" if rule.get("score_source") else "")
    if rule["compare"] == "value":
        what = f"{label} {rule['op']} {value_text(rule['metric'], rule['threshold'])}"
    else:
        against = "the previous window" if rule["compare"] == "previous_window" else (
            f"{scope_text(rule.get('baseline') or {})} over {rule.get('baseline_window')}")
        what = f"{label} changes {rule['op']} {rule['threshold']:+.0%} against {against}"
    return f"{what} over {rule['window']} (at least {rule['min_samples']} samples)"


def rule_rows(rules: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per rule, in the API's order (firing first)."""
    rows = []
    for r in rules:
        last = r.get("last_evaluation") or {}
        silence = r.get("silence") or {}
        rows.append({
            "state": "FIRING" if r["state"] == "firing" else "ok",
            "silenced": f"until {fmt.format_time(silence.get('until'))}" if r["silenced"] else "",
            "rule": r["name"], "condition": condition_text(r), "scope": scope_text(r["scope"]),
            "now": value_text(r["metric"], last.get("value")), "samples": last.get("samples", 0),
            "since": fmt.format_time(r.get("since")) if r.get("since") else "",
            "evaluated": fmt.format_time(last.get("at")) if last else "not yet",
        })
    return rows


def history_rows(events: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for e in events:
        if e["kind"] in ("silenced", "unsilenced"):
            detail = e["reason"]
        else:
            detail = (f"{value_text(e['metric'], e['value'])} vs {value_text(e['metric'], e['threshold'])}"
                      + ("" if e["reference"] is None else f" (reference {value_text(e['metric'], e['reference'])})"))
        rows.append({"at": fmt.format_time(e["at"]), "rule": e["name"], "event": e["kind"], "detail": detail,
                     "samples": str(e["samples"]) if e["kind"] in ("firing", "resolved") else "",
                     "sent": "no (silenced)" if e["silenced"] else ("yes" if e["notified"] else ""),
                     "by": e["actor"]})
    return rows


def monitoring_params(link: str) -> dict[str, str]:
    """The query parameters of a rule's Monitoring link (``/monitoring?range=15m&agent=…``)."""
    return dict(parse_qsl(urlsplit(link).query))


def may_manage(who: Mapping[str, Any] | None) -> bool:
    return bool(who) and (who.get("role") == "admin" or "alerts" in (who.get("permissions") or []))  # type: ignore[union-attr]


def why_not_manage(who: Mapping[str, Any] | None) -> str:
    """What is missing to silence or unsilence ('' when nothing is)."""
    if may_manage(who):
        return ""
    if not who:
        return ("Silencing needs your own key with the alerts permission (or an admin key): enter it under "
                "“Your key” in the sidebar. The UI's own key only reads.")
    return (f"You are signed in as {person_label(who)}, which may not silence alerts: it needs the alerts "
            "permission or an admin key.")
