"""Exceptions raised by the flightlog SDK.

The tree::

    FlightlogError                 root of everything flightlog raises on purpose
    ├── ConfigurationError         bad argument to init()/Limits/checkpoint() (also a ValueError)
    ├── BudgetExceeded             a hard limit of an agent_run (or of its central policy) was crossed
    │   └── PolicyDenied           the agent's central policy forbids this tool
    └── AgentPaused                an admin paused this project, agent, version or tool (kill switch)

Only ``BudgetExceeded`` (with ``PolicyDenied``) and ``AgentPaused`` are meant to reach agent code
while it runs: recording helpers, span processors and exporters never raise into the agent
(failures are logged instead), and ``ConfigurationError`` is raised at setup time, before the
agent starts working.
"""

from __future__ import annotations

from typing import Any


class FlightlogError(Exception):
    """Root of the flightlog exception tree; ``except flightlog.FlightlogError`` catches all."""


class ConfigurationError(FlightlogError, ValueError):
    """An impossible setting was passed to ``init()``, ``Limits`` or ``checkpoint()``.

    Subclasses ``ValueError`` so generic argument checks catch it too. Raised at setup, never
    from a recording helper in the middle of a run.
    """


class BudgetExceeded(FlightlogError):
    """A hard limit of the enclosing ``agent_run`` was crossed; the next LLM or tool call is refused.

    This is the only flightlog error that reaches agent code on purpose. It is raised when an
    ``llm_call``/``tool_call`` is about to start, before any of its code runs, and the violation
    is recorded on the refused span and on the run span (``flightlog.limit.kind``,
    ``flightlog.limit.violation``).

    Attributes:
        kind: the limit's name, e.g. ``"max_tokens"`` or ``"denied_tools"``.
        value: the amount used (or the refused tool name).
        limit: the threshold (or the tool list) that was crossed.
        run: name of the agent run whose limit it is.
    """

    def __init__(self, message: str, *, kind: str, value: Any, limit: Any, run: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.value = value
        self.limit = limit
        self.run = run


class PolicyDenied(BudgetExceeded):
    """The central policy in force for the run's agent forbids this tool (``tools.denied``, or
    not in ``tools.allowed``); the tool call is refused before any of its code runs.

    A ``BudgetExceeded`` (so code that already handles refused calls handles this one too),
    with ``kind`` ``"denied_tools"`` or ``"allowed_tools"``, ``value`` the tool's name and
    ``limit`` the policy's tool list; ``policy_id`` and ``policy_version`` name the policy.
    """

    def __init__(self, message: str, *, kind: str, value: Any, limit: Any, run: str | None = None,
                 policy_id: str = "", policy_version: int = 0) -> None:
        super().__init__(message, kind=kind, value=value, limit=limit, run=run)
        self.policy_id = policy_id
        self.policy_version = policy_version


class AgentPaused(FlightlogError):
    """The kill switch: an admin paused what is about to start (docs/control.md, "Kill switch").

    Raised before a run, an LLM call or a tool call starts, from the control state the SDK keeps
    in memory (never a network call on that path), when the project, the agent, this version of
    the agent or (for a tool call) this tool of the agent is paused; also, for an agent whose
    policy says ``on_unreachable: closed``, when the control state is older than the staleness
    bound (the collector cannot be reached). Recorded on the refused span and on the run span
    (``flightlog.control.refused``, status ERROR).

    Attributes:
        scope: what is paused, e.g. ``"agent refund-bot 2.3.0"`` (``"unknown"`` when the state is stale).
        reason: the admin's reason (or why the state is unknown).
        by: who paused it (the admin key's name), if known.
        agent, agent_version, tool: what was refused.
    """

    def __init__(self, message: str, *, scope: str, reason: str, by: str | None = None, agent: str | None = None,
                 agent_version: str | None = None, tool: str | None = None) -> None:
        super().__init__(message)
        self.scope = scope
        self.reason = reason
        self.by = by
        self.agent = agent
        self.agent_version = agent_version
        self.tool = tool
