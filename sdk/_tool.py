"""Tool calls: name, call id, arguments and result (``execute_tool {name}`` spans), checked
against the run's tool allow-list/deny-list and call limits before they start."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from . import semconv as K
from ._budget import RunState, Violation
from ._decorate import bound_arguments
from ._spans import _Step


class ToolCall(_Step):
    """One tool execution (``execute_tool {name}``). Returned by ``flightlog.tool_call()``."""

    span_type = "tool"
    operation = "execute_tool"
    control_checked = True  # the kill switch (the agent, or this tool of it) is checked before it starts

    def __init__(self, name: str | None = None, *, arguments: Any = None, call_id: str | None = None,
                 attributes: Mapping[str, Any] | None = None) -> None:
        super().__init__(attributes=attributes)
        self.name = name
        self.arguments = arguments
        self.call_id = call_id
        self._result: Any = None
        self._has_result = False

    def _copy(self) -> ToolCall:
        return ToolCall(self.name, arguments=self.arguments, call_id=self.call_id, attributes=self._extra)

    def _bind_call(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if self.name is None:
            self.name = fn.__name__
        if self.arguments is None:
            self.arguments = bound_arguments(fn, args, kwargs)

    def _span_name(self) -> str:
        return f"execute_tool {self.name or 'tool'}"

    def _control_subject(self, run: RunState | None) -> tuple[str | None, str | None, str | None]:
        agent, version, _ = super()._control_subject(run)
        return agent, version, self.name or "tool"

    def _before_start(self, run: RunState | None) -> tuple[Violation, RunState] | None:
        if run is None:
            return None
        violation, violated = run.check_and_count("tool", self.name or "tool")
        return None if violation is None or violated is None else (violation, violated)

    def _start_attributes(self) -> dict[str, Any]:
        return {K.TOOL_NAME: self.name or "tool", K.TOOL_CALL_ID: self.call_id, K.TOOL_TYPE: "function"}

    def _finish_attributes(self) -> dict[str, Any]:
        return {
            K.TOOL_ARGUMENTS: self._content(self.arguments, as_json=True),
            K.TOOL_RESULT: self._content(self._result) if self._has_result else None,
        }

    def set_arguments(self, arguments: Any) -> None:
        """Record (or replace) the tool's arguments."""
        self.arguments = arguments

    def set_result(self, result: Any) -> None:
        """Record the tool's result (text as is; anything else JSON-encoded)."""
        self._result, self._has_result = result, True

    def _auto_result(self, value: Any) -> None:
        if not self._has_result:
            self.set_result(value)


def tool_call(name: str | Callable[..., Any] | None = None, *, arguments: Any = None, call_id: str | None = None,
              attributes: Mapping[str, Any] | None = None) -> Any:
    """A span for one tool execution (``execute_tool {name}``); context manager or decorator.

    Example::

        with flightlog.tool_call("search", arguments={"q": q}, call_id="call_1") as tool:
            tool.set_result(search(q))

        @flightlog.tool_call            # name = function name, arguments = call arguments
        def search(q): ...

    Raises ``BudgetExceeded`` on entry if the run's limits (``max_tool_calls``,
    ``allowed_tools``/``denied_tools``, tokens, cost, time) are crossed, ``PolicyDenied`` if the
    agent's central policy forbids the tool, and ``AgentPaused`` if the kill switch pauses the
    agent or this tool of it.
    """
    if callable(name) and not isinstance(name, str):
        return ToolCall()(name)
    return ToolCall(name, arguments=arguments, call_id=call_id, attributes=attributes)
