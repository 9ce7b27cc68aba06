"""Hard limits per agent run (``Limits``) and the run's usage counters.

A run's counters live in a ``RunState`` carried in the OpenTelemetry context; a nested run adds
its usage to every enclosing run, and the check before an LLM or tool call walks the same chain,
so an outer run's budget also bounds its sub-agents. Checks happen only when a call is about to
start, never inside a call, so an LLM response that crosses ``max_tokens`` is kept and the
*next* call is refused with ``BudgetExceeded``.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Iterable
from typing import Any

from . import semconv
from ._exceptions import BudgetExceeded, ConfigurationError, PolicyDenied


@dataclasses.dataclass(frozen=True)
class Limits:
    """Hard limits for one ``agent_run``; crossing one refuses the next LLM/tool call.

    Example::

        with flightlog.agent_run("planner", limits=flightlog.Limits(max_llm_calls=5, max_cost_usd=0.50)):
            ...

    Parameters:
        max_tokens: input + output tokens reported with ``set_usage`` across the run.
        max_cost_usd: cost reported with ``set_cost`` across the run.
        max_llm_calls: number of ``llm_call`` spans started in the run.
        max_tool_calls: number of ``tool_call`` spans started in the run.
        max_wall_time_s: seconds since the run started.
        allowed_tools: if given, only these tool names may be called.
        denied_tools: these tool names may never be called.
        daily_budget: also ask the collector before each call whether today's budget for this
            run's agent or user (set by an admin on the collector) is used up; fail-open if
            the collector cannot be reached.
    """

    max_tokens: int | None = None
    max_cost_usd: float | None = None
    max_llm_calls: int | None = None
    max_tool_calls: int | None = None
    max_wall_time_s: float | None = None
    allowed_tools: frozenset[str] | None = None
    denied_tools: frozenset[str] | None = None
    daily_budget: bool = False

    def __post_init__(self) -> None:
        for name in ("max_tokens", "max_llm_calls", "max_tool_calls"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ConfigurationError(f"Limits.{name} must be an int >= 0 or None, got {value!r}")
        for name in ("max_cost_usd", "max_wall_time_s"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value) or value < 0):
                raise ConfigurationError(f"Limits.{name} must be a number >= 0 or None, got {value!r}")
        for name in ("allowed_tools", "denied_tools"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, str) or not isinstance(value, Iterable):
                raise ConfigurationError(f"Limits.{name} must be a collection of tool names, got {value!r}")
            names = frozenset(value)
            if not all(isinstance(n, str) for n in names):
                raise ConfigurationError(f"Limits.{name} must contain only strings, got {value!r}")
            object.__setattr__(self, name, names)


@dataclasses.dataclass(frozen=True)
class Violation:
    """A crossed limit: which one, the amount used, the threshold, and the run it belongs to."""

    kind: str
    value: Any
    limit: Any
    run: str
    policy: Any = None  # the central Policy whose rule this is (None: the run's own Limits)

    @property
    def message(self) -> str:
        policy = self.policy
        if policy is not None:
            where = f"policy {policy.id} v{policy.version}"
            if self.kind == "denied_tools":
                return f"flightlog {where} denies tool {self.value!r} (run {self.run!r})"
            if self.kind == "allowed_tools":
                return (f"flightlog {where} allows only the tools {sorted(self.limit)}, not {self.value!r} "
                        f"(run {self.run!r})")
            if self.kind != "daily_budget":
                return (f"flightlog {where} limit {self.kind} exceeded: used {self.value:g}, limit {self.limit:g} "
                        f"(run {self.run!r}); the next call was refused")
        if self.kind == "allowed_tools":
            return (f"flightlog limit allowed_tools: tool {self.value!r} is not in allowed_tools "
                    f"{sorted(self.limit)} (run {self.run!r})")
        if self.kind == "denied_tools":
            return (f"flightlog limit denied_tools: tool {self.value!r} is in denied_tools "
                    f"{sorted(self.limit)} (run {self.run!r})")
        if self.kind == "daily_budget":
            return (f"flightlog limit daily_budget exceeded: the collector reports today's budget used up, "
                    f"used {self.value}, limit {self.limit} (run {self.run!r}); the next call was refused")
        return (f"flightlog limit {self.kind} exceeded: used {self.value:g}, limit {self.limit:g} "
                f"(run {self.run!r}); the next call was refused")

    def to_exception(self) -> BudgetExceeded:
        if self.policy is not None and self.kind in ("denied_tools", "allowed_tools"):
            return PolicyDenied(self.message, kind=self.kind, value=self.value, limit=self.limit, run=self.run,
                                policy_id=self.policy.id, policy_version=self.policy.version)
        return BudgetExceeded(self.message, kind=self.kind, value=self.value, limit=self.limit, run=self.run)


def policy_limits(policy: Any) -> Limits | None:
    """A central policy's run limits as ``Limits`` (None when it sets none)."""
    values = policy.limits
    if not values:
        return None
    def count(name: str) -> int | None:
        return int(values[name]) if name in values else None

    return Limits(max_tokens=count("max_tokens"), max_cost_usd=values.get("max_cost_usd"),
                  max_llm_calls=count("max_llm_calls"), max_tool_calls=count("max_tool_calls"),
                  max_wall_time_s=values.get("max_wall_time_s"))


_MAX_RUN_MODELS = 32


class RunState:
    """Mutable, thread-safe usage counters of one agent run, linked to the enclosing run."""

    def __init__(self, name: str, facts: dict[str, Any], limits: Limits | None, parent: RunState | None,
                 span: Any, policy: Any = None) -> None:
        self.name = name
        self.facts = facts
        self.limits = limits
        self.policy = policy  # the central Policy in force for this run's agent (flightlog.policy), if any
        self.policy_limits = None if policy is None else policy_limits(policy)
        self.parent = parent
        self.span = span
        self.step: Any = None  # the AgentRun that owns this state
        self.started = time.monotonic()
        self.tokens = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost_usd = 0.0
        self.llm_calls = 0
        self.tool_calls = 0
        self.last_llm: dict[str, str] | None = None  # provenance of the latest LLM call (see record_llm)
        self.models: list[str] = []  # distinct models called in this run and nested runs, in order
        self._lock = threading.Lock()

    def chain(self) -> Iterable[RunState]:
        run: RunState | None = self
        while run is not None:
            yield run
            run = run.parent

    def _violation(self, call: str, tool: str | None) -> Violation | None:
        """The first crossed limit of this run: its own ``Limits``, then its policy's (each is
        checked, so the stricter of the two is the one that refuses)."""
        violation = None if self.limits is None else self._limit_violation(self.limits, call, tool, None)
        policy = self.policy
        if violation is None and policy is not None:
            if self.policy_limits is not None:
                violation = self._limit_violation(self.policy_limits, call, tool, policy)
            if violation is None and policy.daily_budget and not (self.limits and self.limits.daily_budget):
                violation = self._daily_budget_violation()
            if violation is None and call == "tool" and tool is not None and policy.tool_refusal(tool):
                kind, listed = (("denied_tools", policy.denied_tools) if tool in policy.denied_tools
                                else ("allowed_tools", policy.allowed_tools))
                violation = Violation(kind, tool, listed, self.name, policy)
        return violation

    def _limit_violation(self, limits: Limits, call: str, tool: str | None, policy: Any) -> Violation | None:
        with self._lock:
            checks = (
                ("max_tokens", self.tokens, limits.max_tokens),
                ("max_cost_usd", self.cost_usd, limits.max_cost_usd),
                ("max_wall_time_s", time.monotonic() - self.started, limits.max_wall_time_s),
                ("max_llm_calls", self.llm_calls if call == "llm" else None, limits.max_llm_calls),
                ("max_tool_calls", self.tool_calls if call == "tool" else None, limits.max_tool_calls),
            )
        for kind, used, limit in checks:
            if limit is not None and used is not None and used >= limit:
                return Violation(kind, used, limit, self.name, policy)
        if limits.daily_budget:
            violation = self._daily_budget_violation()
            if violation is not None:
                return violation
        if call == "tool" and tool is not None:
            if limits.denied_tools is not None and tool in limits.denied_tools:
                return Violation("denied_tools", tool, limits.denied_tools, self.name)
            if limits.allowed_tools is not None and tool not in limits.allowed_tools:
                return Violation("allowed_tools", tool, limits.allowed_tools, self.name)
        return None

    def _daily_budget_violation(self) -> Violation | None:
        from ._remote_budget import REMOTE
        from ._setup import get_state

        config = get_state().config
        agent = str(self.facts.get("gen_ai.agent.name") or "")
        user = str(self.facts.get("user.id") or "")
        answer = REMOTE.status(config.endpoint, dict(config.headers), agent, user)
        if not answer or not answer.get("exhausted"):
            return None
        spent = [b for b in answer.get("budgets", []) if b.get("exhausted")]
        first = spent[0] if spent else {}
        subject = f"{first.get('scope', 'project')} {first.get('subject', '')}".strip()
        used = first.get("cost_usd_used") if first.get("max_cost_usd") else first.get("tokens_used")
        limit = first.get("max_cost_usd") or first.get("max_tokens")
        return Violation("daily_budget", f"{used} ({subject}, {answer.get('day', 'today')})", limit, self.name)

    def check_and_count(self, call: str, tool: str | None = None) -> tuple[Violation | None, RunState | None]:
        """Check every run in the chain before an ``llm``/``tool`` call; count the call if allowed."""
        for run in self.chain():
            violation = run._violation(call, tool)
            if violation is not None:
                return violation, run
        self.count(call)
        return None, None

    def count(self, call: str) -> None:
        """Count one ``llm``/``tool`` call in this run and every enclosing run (no check: also for
        calls another instrumentation made, which flightlog cannot refuse)."""
        for run in self.chain():
            with run._lock:
                if call == "llm":
                    run.llm_calls += 1
                else:
                    run.tool_calls += 1

    def add_usage(self, input_tokens: int, output_tokens: int, cost_usd: float) -> None:
        """Add one call's tokens and cost to this run and every enclosing run."""
        for run in self.chain():
            with run._lock:
                run.input_tokens += input_tokens
                run.output_tokens += output_tokens
                run.tokens += input_tokens + output_tokens
                run.cost_usd += cost_usd

    def record_llm(self, span_id: int, model: str | None, *, prompt_id: Any = None, prompt_version: Any = None,
                   prompt_hash: str | None = None) -> None:
        """Remember an LLM call that answered (flightlog's own or another instrumentation's): it
        becomes this run's ``decided_by`` (``flightlog.decided_by.*``), and its model joins this
        run's and every enclosing run's model list."""
        provenance = {semconv.DECIDED_BY_SPAN_ID: f"{span_id:016x}"}
        for key, value in ((semconv.DECIDED_BY_MODEL, model), (semconv.DECIDED_BY_PROMPT_ID, prompt_id),
                           (semconv.DECIDED_BY_PROMPT_VERSION, prompt_version), (semconv.DECIDED_BY_PROMPT_HASH, prompt_hash)):
            if value is not None and value != "":
                provenance[key] = str(value)
        self.last_llm = provenance
        if not model:
            return
        for run in self.chain():
            with run._lock:
                if model not in run.models and len(run.models) < _MAX_RUN_MODELS:
                    run.models.append(model)

    def decided_by(self) -> dict[str, str] | None:
        """The latest LLM call of this run, else of the nearest enclosing run that made one."""
        for run in self.chain():
            if run.last_llm is not None:
                return run.last_llm
        return None

    def totals(self) -> dict[str, Any]:
        with self._lock:
            return {
                semconv.RUN_INPUT_TOKENS: self.input_tokens,
                semconv.RUN_OUTPUT_TOKENS: self.output_tokens,
                semconv.RUN_COST_USD: self.cost_usd,
                semconv.RUN_LLM_CALLS: self.llm_calls,
                semconv.RUN_TOOL_CALLS: self.tool_calls,
            }
