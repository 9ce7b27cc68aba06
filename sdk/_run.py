"""Agent runs: the root span of a run, the run facts copied onto every span inside it, and the
run's usage counters and limits (a ``RunState`` carried in the OpenTelemetry context)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from . import _control
from . import semconv as K
from ._context import RUN_CONTEXT_KEY
from ._budget import Limits, RunState
from ._decorate import bound_arguments
from ._spans import _NoStep, _Step


class AgentRun(_Step):
    """One run of an agent: the root span every LLM/tool/retrieval span of the run sits under.

    Returned by ``flightlog.agent_run()``; see there.
    """

    span_type = "agent"
    operation = "invoke_agent"
    records_decider = False  # a run records its own latest LLM call when it ends
    control_checked = True  # the kill switch is checked before a run starts

    def __init__(self, name: str | None = None, *, version: str | None = None, user_id: str | None = None,
                 session_id: str | None = None, input: Any = None, limits: Limits | None = None,
                 parent: otel_context.Context | None = None, link: otel_context.Context | trace.SpanContext | None = None,
                 attributes: Mapping[str, Any] | None = None) -> None:
        super().__init__(attributes=attributes)
        self.link = link
        if limits is not None and not isinstance(limits, Limits):
            raise TypeError("limits must be a flightlog.Limits")
        self.name = name
        self.version = version
        self.user_id = user_id
        self.session_id = session_id
        self.input = input
        self.limits = limits
        self.parent = parent
        self._output: Any = None
        self._has_output = False
        self._facts: dict[str, Any] = {}
        self._policy: Any = None
        self.state: RunState | None = None

    def _copy(self) -> AgentRun:
        return AgentRun(self.name, version=self.version, user_id=self.user_id, session_id=self.session_id,
                        input=self.input, limits=self.limits, parent=self.parent, link=self.link,
                        attributes=self._extra)

    def _bind_call(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if self.name is None:
            self.name = fn.__name__
        if self.input is None:
            arguments = bound_arguments(fn, args, kwargs)
            if arguments:
                self.input = next(iter(arguments.values())) if len(arguments) == 1 else arguments

    def _resolved_name(self) -> str:
        return self.name or self.config.agent_name or "agent"

    def _span_name(self) -> str:
        return f"invoke_agent {self._resolved_name()}"

    def _resolved_version(self) -> str | None:
        return self.version or self.config.agent_version

    def _control_subject(self, run: RunState | None) -> tuple[str | None, str | None, str | None]:
        return self._resolved_name(), self._resolved_version(), None

    def _begin(self, parent: otel_context.Context | None = None) -> None:
        if parent is None:
            parent = self.parent
        if parent is None and self.link is not None:
            parent = otel_context.Context()  # linked, not joined: a trace of its own
        if self.link is not None:
            self._start_links = self._guarded(self._links)
        super()._begin(parent)

    def _links(self) -> list[trace.Link] | None:
        link = self.link
        if isinstance(link, otel_context.Context):
            link = trace.get_current_span(link).get_span_context()
        if not isinstance(link, trace.SpanContext) or not link.is_valid:
            return None
        return [trace.Link(link, {K.LINK_TYPE: "follows_from"})]

    def _start_attributes(self) -> dict[str, Any]:
        outer = self._run
        config = self.config
        facts = {
            K.AGENT_NAME: self._resolved_name(),
            K.AGENT_VERSION: self.version or config.agent_version,
            K.USER_ID: self.user_id if self.user_id is not None else (outer.facts.get(K.USER_ID) if outer else None),
            K.SESSION_ID: (self.session_id if self.session_id is not None
                           else (outer.facts.get(K.SESSION_ID) if outer else None)),
            K.PROJECT: config.project,
        }
        self._facts = {k: str(v) for k, v in facts.items() if v is not None}
        # The central policy in force for this agent (and version) is a run fact: every span of
        # the run names it. A run of an agent without one names the enclosing run's (whose rules
        # still bound it).
        client = _control.CLIENT
        policy = self._policy = (None if client is None
                                 else client.policy_for(self._resolved_name(), self._resolved_version()))
        if policy is not None:
            self._facts[K.POLICY_ID] = policy.id
            self._facts[K.POLICY_VERSION] = policy.version
        elif outer is not None and K.POLICY_ID in outer.facts:
            self._facts[K.POLICY_ID] = outer.facts[K.POLICY_ID]
            self._facts[K.POLICY_VERSION] = outer.facts[K.POLICY_VERSION]
        return dict(self._facts)

    def _after_start(self, ctx: otel_context.Context) -> otel_context.Context:
        self.state = RunState(self._resolved_name(), self._facts, self.limits, self._run, self._span,
                              policy=self._policy)
        self.state.step = self
        return otel_context.set_value(RUN_CONTEXT_KEY, self.state, ctx)

    def _finish_attributes(self) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            K.INPUT: self._content(self.input),
            K.OUTPUT: self._content(self._output) if self._has_output else None,
        }
        state = self.state
        if state is not None:
            attributes.update(state.totals())
            if state.models:
                attributes[K.RUN_MODELS] = list(state.models)
            if state.last_llm:  # the run's own latest call: the one behind its output
                attributes.update(state.last_llm)
        return attributes

    def _after_end(self) -> None:
        # RunState.step points back here; unlink it once the run is over so the pair is freed by
        # reference counting instead of waiting for the cycle collector.
        if self.state is not None:
            self.state.step = None

    def set_output(self, output: Any) -> None:
        """Record the run's final answer (text, or any value JSON-encoded)."""
        self._output, self._has_output = output, True

    def set_input(self, input: Any) -> None:
        """Record (or replace) the run's input."""
        self.input = input

    def _auto_result(self, value: Any) -> None:
        if not self._has_output:
            self.set_output(value)


def agent_run(name: str | Callable[..., Any] | None = None, *, version: str | None = None,
              user_id: str | None = None, session_id: str | None = None, input: Any = None,
              limits: Limits | None = None, parent: otel_context.Context | None = None,
              link: otel_context.Context | trace.SpanContext | None = None,
              attributes: Mapping[str, Any] | None = None) -> Any:
    """A span for one agent run (``invoke_agent {name}``); context manager or decorator.

    Example::

        with flightlog.agent_run("support-bot", user_id="u1", session_id="s1", input=question) as run:
            answer = ...
            run.set_output(answer)

        @flightlog.agent_run            # name = function name, input = arguments, output = return value
        def support_bot(question): ...

    Parameters:
        name: agent name (``gen_ai.agent.name``); default the decorated function's name, else
            ``init(agent_name=)``, else ``"agent"``.
        version, user_id, session_id: run facts copied onto every span inside the run
            (user and session are inherited from an enclosing run).
        input: the run's input (``flightlog.input``; JSON-encoded unless a string).
        limits: hard ``Limits``; crossing one raises ``BudgetExceeded`` before the next call.
            The central policy in force for the agent (and version) applies too; the stricter
            limit wins.
        parent: an OpenTelemetry context to continue (from ``flightlog.extract(carrier)``).
        link: instead of joining, start a trace of its own that links to this context's span
            (or SpanContext), e.g. a queued job that should not stretch its sender's trace.
        attributes: extra span attributes.

    Raises ``AgentPaused`` on entry, before the run's code, if the kill switch pauses the
    project, the agent or this version of it.
    """
    if callable(name) and not isinstance(name, str):
        return AgentRun()(name)
    return AgentRun(name, version=version, user_id=user_id, session_id=session_id, input=input, limits=limits,
                    parent=parent, link=link, attributes=attributes)



def current_run() -> AgentRun | Any:
    """The innermost ``AgentRun`` in this context (a falsy no-op object outside any run)."""
    run = otel_context.get_value(RUN_CONTEXT_KEY)
    step = getattr(run, "step", None)
    return step if isinstance(step, AgentRun) else _NoStep()
