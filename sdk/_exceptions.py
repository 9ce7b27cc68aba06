"""Exceptions raised by the flightlog SDK.

The tree::

    FlightlogError                 root of everything flightlog raises on purpose
    ├── ConfigurationError         bad argument to init()/Limits/checkpoint() (also a ValueError)
    └── BudgetExceeded             a hard limit of an agent_run was crossed

Only ``BudgetExceeded`` is meant to reach agent code while it runs: recording helpers, span
processors and exporters never raise into the agent (failures are logged instead), and
``ConfigurationError`` is raised at setup time, before the agent starts working.
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
