"""Handoffs: control passing from the current agent to another (``handoff {to_agent}`` spans),
in this process or, with ``flightlog.inject``/``extract``, another."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import semconv as K
from ._spans import _Step


class Handoff(_Step):
    """Control passing from the current agent to another (``handoff {to_agent}``)."""

    span_type = "handoff"
    operation = "handoff"

    def __init__(self, to_agent: str, *, reason: str | None = None,
                 attributes: Mapping[str, Any] | None = None) -> None:
        super().__init__(attributes=attributes)
        self.to_agent = to_agent
        self.reason = reason

    def _copy(self) -> Handoff:
        return Handoff(self.to_agent, reason=self.reason, attributes=self._extra)

    def _span_name(self) -> str:
        return f"handoff {self.to_agent}"

    def _start_attributes(self) -> dict[str, Any]:
        return {
            K.HANDOFF_TO: str(self.to_agent),
            K.HANDOFF_FROM: self._run.name if self._run is not None else None,
            K.HANDOFF_REASON: None if self.reason is None else self._metadata_text(self.reason),
        }


def handoff(to_agent: str, *, reason: str | None = None, attributes: Mapping[str, Any] | None = None) -> Handoff:
    """A span marking a handoff to another agent; context manager or decorator.

    Inside it, ``flightlog.inject(carrier)`` gives a ``traceparent`` that makes the receiving
    agent's run a child of this span, in this process or another.
    """
    return Handoff(to_agent, reason=reason, attributes=attributes)
