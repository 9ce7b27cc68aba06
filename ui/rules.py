"""An agent's policy (docs/control.md, "Central agent policy") in plain words: the Policies
page's tables. Pure: a stored policy (``PolicyDoc``) in, rows of strings out.

The page built from these rows is the documentation of what each agent may and may not do,
so every rule is spelled out: which tools it may call, which need a person, when a call is
escalated (the condition read aloud: ``amount > 200`` is "the argument amount is above
200"), its limits per run, whether the daily budgets apply and what happens when Flightlog
cannot be reached.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from flightlog import policy as policy_model
from flightlog.ui import format as fmt

__all__ = [
    "TIER_WORDS",
    "changed_keys",
    "condition_words",
    "escalation_rows",
    "history_rows",
    "in_short",
    "limit_rows",
    "rule_words",
    "summary_rows",
    "tool_rows",
]

TIER_WORDS = {
    1: "goes ahead on its own (recorded only) — tier 1",
    2: "goes ahead and a person is notified — tier 2",
    3: "waits for a person's approval — tier 3",
}

_OPS = {"<": "is below", "<=": "is at most", ">": "is above", ">=": "is at least", "==": "is", "!=": "is not"}

_LIMITS = {
    "max_tokens": ("tokens per run", lambda v: f"{v:,.0f}"),
    "max_cost_usd": ("cost per run", lambda v: fmt.format_money(v)),
    "max_llm_calls": ("LLM calls per run", lambda v: f"{v:,.0f}"),
    "max_tool_calls": ("tool calls per run", lambda v: f"{v:,.0f}"),
    "max_wall_time_s": ("wall-clock time per run", lambda v: fmt.format_duration(v * 1000)),
}


def _tier(value: Any) -> str:
    try:
        return TIER_WORDS[int(value)]
    except (KeyError, TypeError, ValueError):
        return f"tier {value}"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return f"“{value}”"


def _subject(name: str) -> str:
    return {"confidence": "the agent's confidence", "tier": "the tier asked for",
            "tool": "the tool"}.get(name, f"the argument {name}")


def condition_words(when: str) -> str:
    """``amount > 200 and confidence < 0.8`` as "the argument amount is above 200 and the
    agent's confidence is below 0.8"; a condition that does not parse is given as written."""
    try:
        clauses = policy_model.parse_condition(when)
    except ValueError:
        return when
    return " and ".join(f"{_subject(c.name)} {_OPS.get(c.op, c.op)} {_value(c.value)}" for c in clauses)


def rule_words(rule: Mapping[str, Any]) -> str:
    """One escalation rule as a sentence."""
    tool = str(rule.get("tool") or "")
    subject = f"When the agent calls {tool}" if tool else "When the agent calls any tool"
    when = str(rule.get("when") or "")
    condition = f" and {condition_words(when)}" if when else ""
    return f"{subject}{condition}, the call {_tier(rule.get('tier'))}."


def _tools(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    tools = doc.get("tools")
    return tools if isinstance(tools, Mapping) else {}


def tool_rows(doc: Mapping[str, Any]) -> list[dict[str, str]]:
    """One row per tool the policy names: may the agent call it, what a call needs, and the
    escalation rules that can raise it; then one row for every other tool."""
    tools = _tools(doc)
    allowed = tools.get("allowed")
    denied = set(tools.get("denied") or [])
    tiers = tools.get("tiers") or {}
    escalations = [e for e in doc.get("escalations") or [] if isinstance(e, Mapping)]
    named = [*(allowed or []), *sorted(denied), *tiers, *(str(e["tool"]) for e in escalations if e.get("tool"))]
    rows = []
    for tool in dict.fromkeys(str(t) for t in named):
        if tool in denied:
            may = "no — denied"
        elif allowed is not None and tool not in allowed:
            may = "no — not in the allowed list"
        else:
            may = "yes"
        raised = sum(1 for e in escalations if e.get("tool") == tool) + sum(1 for e in escalations if not e.get("tool"))
        rows.append({"tool": tool, "may call": may,
                     "each call": _tier(tiers.get(tool, 1)) if may == "yes" else "refused (never runs)",
                     "escalation rules that can apply": f"{raised}" if may == "yes" else "—"})
    if allowed is not None:
        rows.append({"tool": "any other tool", "may call": "no — only the allowed tools",
                     "each call": "refused (never runs)", "escalation rules that can apply": "—"})
    else:
        general = sum(1 for e in escalations if not e.get("tool"))
        rows.append({"tool": "any other tool", "may call": "yes (no allowed list)" if not denied else
                     "yes, except the denied ones", "each call": _tier(1),
                     "escalation rules that can apply": f"{general}"})
    return rows


def escalation_rows(doc: Mapping[str, Any]) -> list[dict[str, str]]:
    """Each escalation rule as a sentence, with its tool, condition and tier as written."""
    return [{"rule": rule_words(rule), "tool": str(rule.get("tool") or "any"),
             "condition": str(rule.get("when") or "always"), "tier": str(rule.get("tier"))}
            for rule in doc.get("escalations") or [] if isinstance(rule, Mapping)]


def limit_rows(doc: Mapping[str, Any]) -> list[dict[str, str]]:
    """The run limits: what is limited and the most allowed."""
    limits = doc.get("limits") or {}
    rows = []
    for key, (label, show) in _LIMITS.items():
        if key in limits:
            try:
                shown = show(float(limits[key]))
            except (TypeError, ValueError):
                shown = str(limits[key])
            rows.append({"limit": label, "at most": shown, "setting": key})
    return rows


def in_short(doc: Mapping[str, Any]) -> list[str]:
    """The policy as a few sentences: what the agent may call, never calls, which calls need a
    person, each escalation rule, the limits, the daily budget and the fail mode."""
    tools = _tools(doc)
    allowed, denied, tiers = tools.get("allowed"), list(tools.get("denied") or []), tools.get("tiers") or {}
    lines = []
    if allowed is not None:
        lines.append(f"May call only: {', '.join(allowed) or 'no tool at all'}.")
    else:
        lines.append("May call any tool" + (" except the denied ones." if denied else "."))
    if denied:
        lines.append(f"Never calls (denied): {', '.join(denied)}.")
    for tool, tier in tiers.items():
        if int(tier) > 1:
            lines.append(f"Each call of {tool} {_tier(tier)}.")
    for rule in doc.get("escalations") or []:
        if isinstance(rule, Mapping):
            lines.append(rule_words(rule))
    limits = limit_rows(doc)
    if limits:
        lines.append("Per run at most: " + ", ".join(f"{r['at most']} ({r['limit']})" for r in limits) + ".")
    lines.append("Today's daily budgets are checked before each LLM or tool call." if doc.get("daily_budget")
                 else "The daily budgets are not checked by this policy.")
    lines.append("If Flightlog cannot be reached, the agent refuses work (fail-closed)."
                 if doc.get("on_unreachable") == "closed" else
                 "If Flightlog cannot be reached, the agent goes on (fail-open).")
    return lines


def summary_rows(stored: Mapping[str, Any]) -> list[dict[str, str]]:
    """The policy's facts: who it applies to, its version, who changed it and when, the daily
    budget and what happens when Flightlog cannot be reached."""
    doc = stored.get("policy") or {}
    fail = str(doc.get("on_unreachable") or "open")
    rows = [
        ("agent", str(stored.get("agent") or doc.get("agent") or "")),
        ("applies to", f"version {stored['agent_version']} only" if stored.get("agent_version")
         else "every version of the agent"),
        ("policy version", f"v{stored.get('version')}"),
        ("changed by", str(stored.get("changed_by") or "—")),
        ("changed at", fmt.format_time(stored.get("changed_at"))),
        ("daily budget", "applies: before each LLM or tool call the agent checks today's budgets "
         "(project, agent, user)" if doc.get("daily_budget") else "not checked by this policy"),
        ("if Flightlog cannot be reached", "fail-closed: the agent refuses work until it can"
         if fail == "closed" else "fail-open: the agent goes on"),
        ("limits per run", f"{len(doc.get('limits') or {})} set" if doc.get("limits") else "none"),
        ("sha256", str(stored.get("sha256") or "")),
    ]
    if doc.get("description"):
        rows.insert(1, ("description", str(doc["description"])))
    return [{"field": k, "value": v} for k, v in rows]


def changed_keys(older: Mapping[str, Any] | None, newer: Mapping[str, Any]) -> str:
    """What a version changed against the one before it, by top-level key (``tools``,
    ``escalations`` …); ``first version`` when there is none before."""
    if older is None:
        return "first version"
    keys = sorted(k for k in set(older) | set(newer) if older.get(k) != newer.get(k))
    return ", ".join(keys) if keys else "no change"


def history_rows(history: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The versions, newest first (as the API lists them), with what each changed."""
    rows = []
    for i, stored in enumerate(history):
        older = _previous(history[i + 1:], stored)
        rows.append({"version": f"v{stored.get('version')}", "policy": str(stored.get("id") or ""),
                     "changed by": str(stored.get("changed_by") or ""),
                     "changed at": fmt.format_time(stored.get("changed_at")),
                     "what changed": changed_keys(older.get("policy") if older else None, stored.get("policy") or {}),
                     "sha256": str(stored.get("sha256") or "")[:12]})
    return rows


def _previous(older: Iterable[Mapping[str, Any]], stored: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The version before ``stored`` of the same policy id (agent or agent@version)."""
    return next((o for o in older if o.get("id") == stored.get("id")), None)
