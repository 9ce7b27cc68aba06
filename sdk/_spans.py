"""The shared machinery of every flightlog step: one OpenTelemetry span per unit of agent work.

A step is usable as ``with``/``async with`` block and (via ``_decorate.StepDecorator``) as a
decorator. It opens one span, makes it current (so nested steps become its children), copies
the enclosing run's facts onto it, and on exit records exceptions (status ERROR, an
``exception`` event, ``error.type``) and re-raises them unchanged.

Recording methods (``set_output``, ``set_usage`` …) store values; attributes are written when
the step ends, after redaction and truncation. None of them raises into agent code: a bad
value is logged and skipped. The deliberate exceptions are ``BudgetExceeded`` (and its
``PolicyDenied``), raised when an LLM or tool call is about to start past a hard limit or a
central policy (see ``_budget.py``), and ``AgentPaused``, raised when a run, an LLM call or a
tool call is about to start while the kill switch pauses it (see ``_control.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from contextvars import Token
from typing import Any, ClassVar, TypeVar

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from . import _control
from . import semconv as K
from ._context import RUN_CONTEXT_KEY, STEP_CONTEXT_KEY
from ._budget import RunState, Violation
from ._config import Config
from ._content import format_content
from ._decorate import StepDecorator
from ._exceptions import AgentPaused
from ._setup import get_state

_logger = logging.getLogger("flightlog")


def _error_type(exc: BaseException) -> str:
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _record_exception(span: trace.Span, exc: BaseException) -> None:
    """Status ERROR, the ``exception`` event and ``error.type`` on ``span``."""
    span.set_attribute(K.ERROR_TYPE, _error_type(exc))
    span.record_exception(exc, escaped=True)
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


def _update_present(target: dict[str, Any], source: Mapping[str, Any]) -> None:
    """``target.update(source)`` without the None values (an unset fact is not an attribute)."""
    for key, value in source.items():
        if value is not None:
            target[key] = value


class _Step(StepDecorator):
    """One span-producing unit of agent work; the shared machinery of every helper."""

    span_type: ClassVar[str] = ""
    operation: ClassVar[str] = ""
    span_kind: ClassVar[SpanKind] = SpanKind.INTERNAL
    # Non-LLM steps inside a run carry the run's latest LLM call (flightlog.decided_by.*).
    records_decider: ClassVar[bool] = True
    # Links the span starts with (set by AgentRun(link=...) before _begin; None for most steps).
    _start_links: list[trace.Link] | None = None
    # (error.type, message) from set_error(): a failure reported without an exception.
    _reported_error: tuple[str, str] | None = None
    # Whether the kill switch is checked before this step starts (runs, LLM calls, tool calls).
    control_checked: ClassVar[bool] = False

    def __init__(self, *, attributes: Mapping[str, Any] | None = None) -> None:
        self._extra = dict(attributes or {})
        self._span: trace.Span | None = None
        self._ctx: otel_context.Context | None = None
        self._tokens: list[Token[Context]] = []
        self._ended = False
        self._run: RunState | None = None
        self._config: Config | None = None
        self._redacted = False
        self._failed = False  # ended by an exception, refused by a limit, or marked by set_error()

    # -- subclass hooks ----------------------------------------------------------------------
    def _copy(self) -> _Step:
        """A fresh, unstarted step with the same arguments (one per decorated call)."""
        raise NotImplementedError

    def _span_name(self) -> str:
        raise NotImplementedError

    def _start_attributes(self) -> dict[str, Any]:
        return {}

    def _finish_attributes(self) -> dict[str, Any]:
        return {}

    def _before_start(self, run: RunState | None) -> tuple[Violation, RunState] | None:
        """Limit check before the span starts: a violation (and the run whose limit it is)
        refuses the step."""
        return None

    def _control_subject(self, run: RunState | None) -> tuple[str | None, str | None, str | None]:
        """(agent, agent version, tool) the kill switch is checked for: the enclosing run's agent."""
        if run is not None:
            return run.facts.get(K.AGENT_NAME), run.facts.get(K.AGENT_VERSION), None
        return self.config.agent_name, self.config.agent_version, None

    def _control_refusal(self, client: _control.ControlClient, run: RunState | None) -> AgentPaused | None:
        """The kill switch, from the in-memory control state: this step's agent (and tool), then
        every enclosing run's agent (pausing an agent also stops the sub-agents of its runs)."""
        agent, version, tool = self._control_subject(run)
        refusal = client.refusal(agent, version, tool)
        if refusal is None and run is not None:
            outer = run if agent != run.facts.get(K.AGENT_NAME) else run.parent
            while refusal is None and outer is not None:
                refusal = client.refusal(outer.facts.get(K.AGENT_NAME), outer.facts.get(K.AGENT_VERSION))
                outer = outer.parent
        return refusal

    def _bind_call(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Fill defaults from a decorated function's name and arguments."""

    def _auto_result(self, value: Any) -> None:
        """Record a decorated function's return value unless the code recorded one itself."""

    # -- content helpers ---------------------------------------------------------------------
    @property
    def config(self) -> Config:
        return self._config if self._config is not None else get_state().config

    def _content(self, value: Any, *, as_json: bool = False, ready: bool = False) -> str | None:
        """Attribute text for content, or None when content capture is off."""
        if value is None or not self.config.capture_content:
            return None
        return self._metadata_text(value, as_json=as_json, ready=ready)

    def _metadata_text(self, value: Any, *, as_json: bool = False, ready: bool = False) -> str:
        """Attribute text that is recorded even with content capture off (still redacted).

        ``ready=True``: ``value`` is already plain JSON data (skips one copying pass).
        """
        config = self.config
        text, changed = format_content(value, redact=config.redact, max_length=config.max_attribute_length,
                                       as_json=as_json, ready=ready)
        if changed:
            self._redacted = True
        return text

    # -- lifecycle ---------------------------------------------------------------------------
    def _begin(self, parent: otel_context.Context | None = None) -> None:
        if self._span is not None:
            raise RuntimeError(f"{type(self).__name__} already started; create a new one per use")
        state = get_state()
        config = self._config = state.config
        ctx = parent if parent is not None else otel_context.get_current()
        run = otel_context.get_value(RUN_CONTEXT_KEY, ctx)
        if not isinstance(run, RunState):
            run = None
        self._run = run
        paused = None
        client = _control.CLIENT
        if client is not None and self.control_checked:
            paused = self._guarded(self._control_refusal, client, run)
        # Limits belong to runs: outside one there is nothing to check.
        violation = None if run is None or paused is not None else self._guarded(self._before_start, run)

        attributes: dict[str, Any] = {K.SPAN_TYPE: self.span_type, K.OPERATION: self.operation}
        if run is not None:
            attributes.update(run.facts)
            if self.records_decider:
                decider = run.decided_by()
                if decider:
                    attributes.update(decider)
        elif config.project:
            attributes[K.PROJECT] = config.project
        start = self._guarded(self._start_attributes)
        if start:
            _update_present(attributes, start)
        if self._extra:
            _update_present(attributes, self._extra)
        span = state.tracer.start_span(self._guarded(self._span_name) or self.operation, context=ctx,
                                       kind=self.span_kind, attributes=attributes, links=self._start_links,
                                       record_exception=False, set_status_on_exception=False)
        self._span = span
        ctx = trace.set_span_in_context(span, ctx)
        ctx = otel_context.set_value(STEP_CONTEXT_KEY, self, ctx)
        self._ctx = self._after_start(ctx)
        if paused is not None:
            self._refuse_paused(paused, run)
        if violation is not None:
            self._refuse(*violation)

    def _refuse_paused(self, exc: AgentPaused, run: RunState | None) -> None:
        """Record a kill-switch refusal on this span and on the enclosing run's, end this span, raise."""
        marks = {K.CONTROL_REFUSED: str(exc)}
        assert self._span is not None
        self._span.set_attributes(marks)
        if run is not None and run.span is not None:
            run.span.set_attributes(marks)
            run.span.add_event(K.CONTROL_REFUSED, marks)
        self._end(exc)
        raise exc

    def _after_start(self, ctx: otel_context.Context) -> otel_context.Context:
        return ctx

    def _refuse(self, violation: Violation, run: RunState) -> None:
        """Record a limit violation on this span and on the run's, end this span, raise."""
        exc = violation.to_exception()
        marks = {K.LIMIT_KIND: violation.kind, K.LIMIT_VIOLATION: violation.message}
        assert self._span is not None
        self._span.set_attributes(marks)
        if run.span is not None:
            run.span.set_attributes(marks)
            run.span.add_event(K.LIMIT_VIOLATION, marks)
        self._end(exc)
        raise exc

    def _end(self, exc: BaseException | None = None) -> None:
        if self._ended or self._span is None:
            return
        self._ended = True
        self._failed = (exc is not None and not isinstance(exc, GeneratorExit)) or self._reported_error is not None
        span = self._span
        attributes: dict[str, Any] = {}
        finish = self._guarded(self._finish_attributes)
        if finish:
            _update_present(attributes, finish)
        if self._redacted:
            attributes[K.REDACTED] = True
        try:
            if attributes:
                span.set_attributes(attributes)
            if exc is not None and not isinstance(exc, GeneratorExit):
                _record_exception(span, exc)
            elif self._reported_error is not None:
                error_type, message = self._reported_error
                span.set_attribute(K.ERROR_TYPE, error_type)
                span.set_status(Status(StatusCode.ERROR, message))
        except Exception:  # noqa: BLE001 - recording must never break the agent (O1)
            _logger.exception("flightlog: could not record attributes on %s", type(self).__name__)
        span.end()
        # The step's context holds the step (STEP_CONTEXT_KEY): drop it so the pair is freed by
        # reference counting, not left as a cycle for the garbage collector (a measured 10% of a
        # span's cost, see bench/sdk_overhead.py).
        self._ctx = None
        self._after_end()

    def _after_end(self) -> None:
        pass

    def _guarded(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run an attribute builder; log and return None if it fails (never raise into the agent)."""
        try:
            return fn(*args)
        except Exception:  # noqa: BLE001 - builders read user data; a bad value must not break the agent
            _logger.exception("flightlog: %s.%s failed; attributes skipped", type(self).__name__,
                              getattr(fn, "__name__", "?"))
            return None

    def _attach(self) -> None:
        assert self._ctx is not None
        self._tokens.append(otel_context.attach(self._ctx))

    def _detach(self) -> None:
        if self._tokens:
            otel_context.detach(self._tokens.pop())

    # -- context manager protocol ------------------------------------------------------------
    def __enter__(self: _S) -> _S:
        self._begin()
        self._attach()
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self._detach()
        self._end(exc)

    async def __aenter__(self: _S) -> _S:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)

    @property
    def span(self) -> trace.Span:
        """The OpenTelemetry span (a non-recording one before the step starts)."""
        return self._span if self._span is not None else trace.INVALID_SPAN

    def set_attribute(self, key: str, value: Any) -> None:
        """Set any extra attribute on the span now (metadata; not redacted)."""
        if self._span is not None and value is not None:
            self._span.set_attribute(key, value)

    def set_error(self, message: str, *, error_type: str = "error") -> None:
        """Mark the step failed without raising: status ERROR with ``message``, and ``error.type``.

        For failures that come back as values, e.g. a tool API answering ``{"error": "timeout"}``
        or a model refusing. An exception leaving the step still wins. The message is redacted
        like content (it often quotes the failing input).
        """
        try:
            text = self._metadata_text(str(message))
        except Exception:  # noqa: BLE001 - a user hook failing must not break the agent
            text = "[REDACTION FAILED]"
        self._reported_error = (str(error_type) or "error", text)


_S = TypeVar("_S", bound=_Step)


class _NoStep:
    """Returned by ``current_span()`` outside any step: every recording method does nothing."""

    span = trace.INVALID_SPAN

    def __getattr__(self, name: str) -> Callable[..., None]:
        if name.startswith("set_"):
            return lambda *args, **kwargs: None
        raise AttributeError(name)

    def __bool__(self) -> bool:
        return False


def current_span() -> Any:
    """The innermost flightlog step (``AgentRun``, ``LLMCall``, ``ToolCall`` …) in this context.

    Lets decorated code record things on its own span, e.g.
    ``flightlog.current_span().set_usage(input_tokens=10, output_tokens=3)``. Outside any step
    it returns a falsy object whose ``set_*`` methods do nothing.
    """
    step = otel_context.get_value(STEP_CONTEXT_KEY)
    return step if isinstance(step, _Step) else _NoStep()
