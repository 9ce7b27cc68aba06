"""Central agent policy (bounded autonomy): what an agent may do, which tools need which human
tier, when to escalate, its run limits and daily budget — the document an admin keeps in
Flightlog (``flightlog policy set --agent A policy.yaml``) and every agent process applies.

Pure and dependency-free, so the collector validates a policy with the same code the SDK
applies it with (docs/control.md). A policy as JSON/YAML::

    agent: refund-bot
    agent_version: ""              # optional: only this version ("" = every version)
    tools:
      allowed: [lookup_order, issue_refund]
      denied: [delete_account]
      tiers: {issue_refund: 2}     # the human tier each tool's checkpoint needs at least
    escalations:
      - when: confidence < 0.8
        tier: 3
      - tool: issue_refund
        when: amount > 200         # a condition on the action's arguments
        tier: 3
    limits: {max_tokens: 20000, max_cost_usd: 1.0, max_llm_calls: 10, max_tool_calls: 20, max_wall_time_s: 120}
    daily_budget: true             # also ask the collector's daily budgets before each call
    on_unreachable: open           # or closed: refuse work while the control state is unknown

Conditions are ``<name> <op> <value>`` clauses joined by ``and``; ``<name>`` is ``confidence``,
``tier``, ``tool`` or an argument (dotted for nested ones: ``order.total``), ``<op>`` one of
``< <= > >= == !=``, ``<value>`` a number, ``true``/``false`` or a quoted string. A clause on an
argument the action does not have is false. Nothing is evaluated as code.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

LIMIT_KEYS = ("max_tokens", "max_cost_usd", "max_llm_calls", "max_tool_calls", "max_wall_time_s")
_CLAUSE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(<=|>=|==|!=|<|>)\s*(.+?)\s*$")
_OPS = {
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
}
_KEYS = {"agent", "agent_version", "tools", "escalations", "limits", "daily_budget", "on_unreachable", "description"}


@dataclass(frozen=True)
class Clause:
    name: str
    op: str
    value: float | str | bool

    def holds(self, context: Mapping[str, Any]) -> bool:
        actual = _lookup(context, self.name)
        if actual is _MISSING:
            return False
        if isinstance(self.value, bool) or isinstance(actual, bool):
            return self.op in ("==", "!=") and _OPS[self.op](bool(actual) if isinstance(self.value, bool)
                                                           else actual, self.value)
        if isinstance(self.value, float):
            number = _number(actual)
            return number is not None and _OPS[self.op](number, self.value)
        return self.op in ("==", "!=") and _OPS[self.op](str(actual), self.value)

    def __str__(self) -> str:
        value = json.dumps(self.value) if isinstance(self.value, (str, bool)) else f"{self.value:g}"
        return f"{self.name} {self.op} {value}"


@dataclass(frozen=True)
class Escalation:
    when: tuple[Clause, ...]
    tier: int
    tool: str | None = None

    def applies(self, tool: str | None, context: Mapping[str, Any]) -> bool:
        return (self.tool is None or self.tool == tool) and all(c.holds(context) for c in self.when)

    def describe(self) -> str:
        scope = f"{self.tool}: " if self.tool else ""
        return f"{scope}{' and '.join(str(c) for c in self.when) or 'always'} → tier {self.tier}"


@dataclass(frozen=True)
class Policy:
    """A parsed policy; ``version`` is the number the collector gave it (0 = not stored yet)."""

    agent: str
    agent_version: str = ""
    allowed_tools: frozenset[str] | None = None
    denied_tools: frozenset[str] = frozenset()
    tool_tiers: Mapping[str, int] = field(default_factory=dict)
    escalations: tuple[Escalation, ...] = ()
    limits: Mapping[str, float] = field(default_factory=dict)
    daily_budget: bool = False
    on_unreachable: str = "open"
    description: str = ""
    version: int = 0

    @property
    def id(self) -> str:
        """Names the policy in spans and records: ``agent`` or ``agent@version``."""
        return f"{self.agent}@{self.agent_version}" if self.agent_version else self.agent

    @property
    def fail_closed(self) -> bool:
        return self.on_unreachable == "closed"

    def tool_refusal(self, tool: str) -> str | None:
        """Why the policy forbids calling ``tool``, or None when it may be called."""
        if tool in self.denied_tools:
            return f"policy {self.id} v{self.version} denies tool {tool!r}"
        if self.allowed_tools is not None and tool not in self.allowed_tools:
            return f"policy {self.id} v{self.version} allows only {sorted(self.allowed_tools)}, not {tool!r}"
        return None

    def tier(self, tool: str | None, arguments: Any = None, confidence: float | None = None,
             requested: int = 1) -> tuple[int, list[str]]:
        """The tier a checkpoint needs: the highest of the one asked for, the tool's tier and
        every escalation that applies (autonomy = f(context, confidence, criticality)); with
        the reasons for raising it."""
        context = {"confidence": confidence, "tier": requested, "tool": tool,
                   "arguments": arguments if isinstance(arguments, Mapping) else {}}
        tier, reasons = requested, []
        if tool is not None and self.tool_tiers.get(tool, 0) > tier:
            tier = self.tool_tiers[tool]
            reasons.append(f"{tool} needs tier {tier}")
        for rule in self.escalations:
            if rule.applies(tool, context) and rule.tier > tier:
                tier = rule.tier
                reasons.append(rule.describe())
        return tier, reasons

    def to_dict(self) -> dict[str, Any]:
        """The policy as its JSON document (what the collector stores and serves)."""
        out: dict[str, Any] = {"agent": self.agent}
        if self.agent_version:
            out["agent_version"] = self.agent_version
        tools: dict[str, Any] = {}
        if self.allowed_tools is not None:
            tools["allowed"] = sorted(self.allowed_tools)
        if self.denied_tools:
            tools["denied"] = sorted(self.denied_tools)
        if self.tool_tiers:
            tools["tiers"] = dict(sorted(self.tool_tiers.items()))
        if tools:
            out["tools"] = tools
        if self.escalations:
            out["escalations"] = [{**({"tool": e.tool} if e.tool else {}),
                                   "when": " and ".join(str(c) for c in e.when), "tier": e.tier}
                                  for e in self.escalations]
        if self.limits:
            out["limits"] = dict(self.limits)
        if self.daily_budget:
            out["daily_budget"] = True
        out["on_unreachable"] = self.on_unreachable
        if self.description:
            out["description"] = self.description
        return out


_MISSING = object()


def _lookup(context: Mapping[str, Any], name: str) -> Any:
    if name in ("confidence", "tier", "tool"):
        value = context.get(name)
        return _MISSING if value is None else value
    node: Any = context.get("arguments") or {}
    for part in name.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def parse_condition(text: str, where: str = "when") -> tuple[Clause, ...]:
    """``amount > 200 and currency == "USD"`` as clauses; ValueError names the bad part."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{where}: a condition must be a non-empty string such as 'amount > 200'")
    clauses = []
    for part in re.split(r"\s+and\s+", text.strip()):
        match = _CLAUSE.match(part)
        if not match:
            raise ValueError(f"{where}: {part!r} is not '<name> <op> <value>' (ops: < <= > >= == !=)")
        name, op, raw = match.groups()
        clauses.append(Clause(name, op, _literal(raw, f"{where}: {part!r}")))
    return tuple(clauses)


def _literal(raw: str, where: str) -> float | str | bool:
    if raw in ("true", "false"):
        return raw == "true"
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        return raw[1:-1]
    number = _number(raw)
    if number is None:
        raise ValueError(f"{where}: {raw!r} is not a number, true/false or a quoted string")
    return number


def _names(value: Any, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{where} must be a list of tool names")
    return frozenset(value)


def _tier(value: Any, where: str) -> int:
    if isinstance(value, bool) or value not in (1, 2, 3):
        raise ValueError(f"{where} must be 1, 2 or 3, got {value!r}")
    return int(value)


def parse_policy(data: Any, *, version: int = 0) -> Policy:
    """A :class:`Policy` from its JSON/YAML document; ValueError says what is wrong and where."""
    if not isinstance(data, Mapping):
        raise ValueError("a policy must be an object (mapping) with at least 'agent'")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise ValueError(f"unknown policy keys {unknown}; allowed: {sorted(_KEYS)}")
    agent = data.get("agent")
    if not isinstance(agent, str) or not agent.strip():
        raise ValueError("'agent' must be the agent's name")
    agent_version = data.get("agent_version") or ""
    if not isinstance(agent_version, str):
        raise ValueError("'agent_version' must be a string")
    tools = data.get("tools") or {}
    if not isinstance(tools, Mapping) or set(tools) - {"allowed", "denied", "tiers"}:
        raise ValueError("'tools' may hold 'allowed', 'denied' and 'tiers'")
    allowed = _names(tools["allowed"], "tools.allowed") if "allowed" in tools else None
    denied = _names(tools["denied"], "tools.denied") if "denied" in tools else frozenset()
    tiers_in = tools.get("tiers") or {}
    if not isinstance(tiers_in, Mapping):
        raise ValueError("tools.tiers must map tool names to tiers")
    tiers = {str(name): _tier(t, f"tools.tiers.{name}") for name, t in tiers_in.items()}
    escalations = []
    for i, rule in enumerate(data.get("escalations") or []):
        where = f"escalations[{i}]"
        if not isinstance(rule, Mapping) or set(rule) - {"when", "tier", "tool"} or "tier" not in rule:
            raise ValueError(f"{where} must have 'tier' and may have 'when' and 'tool'")
        tool = rule.get("tool")
        if tool is not None and (not isinstance(tool, str) or not tool):
            raise ValueError(f"{where}.tool must be a tool name")
        when = parse_condition(rule["when"], f"{where}.when") if "when" in rule else ()
        escalations.append(Escalation(when=when, tier=_tier(rule["tier"], f"{where}.tier"), tool=tool))
    limits_in = data.get("limits") or {}
    if not isinstance(limits_in, Mapping) or set(limits_in) - set(LIMIT_KEYS):
        raise ValueError(f"'limits' may hold {', '.join(LIMIT_KEYS)}")
    limits = {}
    for key, value in limits_in.items():
        number = _number(value)
        if number is None or number < 0:
            raise ValueError(f"limits.{key} must be a number >= 0, got {value!r}")
        limits[key] = number
    on_unreachable = data.get("on_unreachable", "open")
    if on_unreachable not in ("open", "closed"):
        raise ValueError("'on_unreachable' must be 'open' or 'closed'")
    daily_budget = data.get("daily_budget", False)
    if not isinstance(daily_budget, bool):
        raise ValueError("'daily_budget' must be true or false")
    return Policy(agent=agent.strip(), agent_version=agent_version, allowed_tools=allowed, denied_tools=denied,
                  tool_tiers=tiers, escalations=tuple(escalations), limits=limits, daily_budget=daily_budget,
                  on_unreachable=on_unreachable, description=str(data.get("description") or ""), version=version)


def arguments_hash(arguments: Any) -> str:
    """The hash an approval is bound to: sha256 of the arguments' canonical JSON."""
    import hashlib

    text = json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
