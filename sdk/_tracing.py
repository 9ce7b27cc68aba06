"""Spans for agent runs, LLM calls, tool calls, retrievals and handoffs.

Each helper returns a *step*: usable as ``with``/``async with`` block and as a decorator on
sync, async, generator and async-generator functions. A step opens one OpenTelemetry span,
makes it current (so nested steps become its children), copies the enclosing run's facts onto
it, and on exit records exceptions (status ERROR, an ``exception`` event, ``error.type``) and
re-raises them unchanged.

Recording methods (``set_output``, ``set_usage`` …) store values; attributes are written when
the step ends, after redaction and truncation. None of them raises into agent code: a bad
value is logged and skipped. The one deliberate exception is ``BudgetExceeded``, raised when an
LLM or tool call is about to start past a hard limit (see ``_budget.py``).
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from . import _keys as K
from ._budget import Limits, RunState, Violation
from ._config import Config
from ._content import dumps, format_content, sha256_hex, to_jsonable, to_messages, to_output_messages
from ._setup import get_state
from ._types import MessagesInput

_logger = logging.getLogger("flightlog")
F = TypeVar("F", bound=Callable[..., Any])

_MAX_COLLECTED_CHUNKS = 10_000


def _error_type(exc: BaseException) -> str:
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _record_exception(span: trace.Span, exc: BaseException) -> None:
    """Status ERROR, the ``exception`` event and ``error.type`` on ``span``."""
    span.set_attribute(K.ERROR_TYPE, _error_type(exc))
    span.record_exception(exc, escaped=True)
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


class _Step:
    """One span-producing unit of agent work; the shared machinery of every helper."""

    span_type: ClassVar[str] = ""
    operation: ClassVar[str] = ""
    span_kind: ClassVar[SpanKind] = SpanKind.INTERNAL

    def __init__(self, *, attributes: Mapping[str, Any] | None = None) -> None:
        self._extra = dict(attributes or {})
        self._span: trace.Span | None = None
        self._ctx: otel_context.Context | None = None
        self._tokens: list[object] = []
        self._ended = False
        self._run: RunState | None = None
        self._config: Config | None = None
        self._redacted = False

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

    def _bind_call(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Fill defaults from a decorated function's name and arguments."""

    def _auto_result(self, value: Any) -> None:
        """Record a decorated function's return value unless the code recorded one itself."""

    # -- content helpers ---------------------------------------------------------------------
    @property
    def config(self) -> Config:
        return self._config if self._config is not None else get_state().config

    def _content(self, value: Any, *, as_json: bool = False) -> str | None:
        """Attribute text for content, or None when content capture is off."""
        config = self.config
        if not config.capture_content or value is None:
            return None
        return self._metadata_text(value, as_json=as_json)

    def _metadata_text(self, value: Any, *, as_json: bool = False) -> str:
        """Attribute text that is recorded even with content capture off (still redacted)."""
        config = self.config
        text, changed = format_content(value, redact=config.redact, max_length=config.max_attribute_length,
                                       as_json=as_json)
        self._redacted = self._redacted or changed
        return text

    # -- lifecycle ---------------------------------------------------------------------------
    def _begin(self, parent: otel_context.Context | None = None) -> None:
        if self._span is not None:
            raise RuntimeError(f"{type(self).__name__} already started; create a new one per use")
        state = get_state()
        self._config = state.config
        ctx = parent if parent is not None else otel_context.get_current()
        run = otel_context.get_value(K.RUN_CONTEXT_KEY, ctx)
        self._run = run if isinstance(run, RunState) else None
        violation = self._guarded(self._before_start, self._run)

        attributes: dict[str, Any] = {K.SPAN_TYPE: self.span_type, K.OPERATION: self.operation}
        if self._run is not None:
            attributes.update(self._run.facts)
        elif self.config.project:
            attributes[K.PROJECT] = self.config.project
        attributes.update(self._guarded(self._start_attributes) or {})
        attributes.update(self._extra)
        attributes = {k: v for k, v in attributes.items() if v is not None}
        span = state.tracer.start_span(self._guarded(self._span_name) or self.operation, context=ctx,
                                       kind=self.span_kind, attributes=attributes,
                                       record_exception=False, set_status_on_exception=False)
        self._span = span
        ctx = trace.set_span_in_context(span, ctx)
        ctx = otel_context.set_value(K.STEP_CONTEXT_KEY, self, ctx)
        self._ctx = self._after_start(ctx)
        if violation is not None:
            self._refuse(*violation)

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
            run.span.add_event("flightlog.limit.violation", marks)
        self._end(exc)
        raise exc

    def _end(self, exc: BaseException | None = None) -> None:
        if self._ended or self._span is None:
            return
        self._ended = True
        span = self._span
        attributes = self._guarded(self._finish_attributes) or {}
        if self._redacted:
            attributes[K.REDACTED] = True
        try:
            span.set_attributes({k: v for k, v in attributes.items() if v is not None})
            if exc is not None and not isinstance(exc, GeneratorExit):
                _record_exception(span, exc)
        except Exception:  # noqa: BLE001 - recording must never break the agent (O1)
            _logger.exception("flightlog: could not record attributes on %s", type(self).__name__)
        span.end()
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

    # -- decorator protocol ------------------------------------------------------------------
    def _for_call(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Step:
        step = self._copy()
        try:
            step._bind_call(fn, args, kwargs)
        except Exception:  # noqa: BLE001 - argument capture is best effort
            _logger.debug("flightlog: could not bind call arguments", exc_info=True)
        return step

    def __call__(self, fn: F) -> F:
        """Decorate a sync/async function or generator: one span per call."""
        if inspect.isasyncgenfunction(fn):
            return self._wrap_async_generator(fn)  # type: ignore[return-value]
        if inspect.isgeneratorfunction(fn):
            return self._wrap_generator(fn)  # type: ignore[return-value]
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                step = self._for_call(fn, args, kwargs)
                with step:
                    result = await fn(*args, **kwargs)
                    step._guarded(step._auto_result, result)
                    return result
            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            step = self._for_call(fn, args, kwargs)
            with step:
                result = fn(*args, **kwargs)
                step._guarded(step._auto_result, result)
                return result
        return wrapper  # type: ignore[return-value]

    def _wrap_generator(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        # The span stays open across yields but is current only while the generator body runs,
        # so the consumer's own spans between items are not parented under it.
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            step = self._for_call(fn, args, kwargs)
            step._begin()
            chunks: list[Any] = []
            try:
                step._attach()
                try:
                    gen = fn(*args, **kwargs)
                finally:
                    step._detach()
                method, value = gen.send, None
                while True:
                    step._attach()
                    try:
                        item = method(value)
                    except StopIteration as stop:
                        step._guarded(step._auto_chunks, chunks, stop.value)
                        step._end()
                        return stop.value
                    finally:
                        step._detach()
                    if len(chunks) < _MAX_COLLECTED_CHUNKS:
                        chunks.append(item)
                    try:
                        value = yield item
                        method = gen.send
                    except GeneratorExit:
                        step._attach()
                        try:
                            gen.close()
                        finally:
                            step._detach()
                        step._end()
                        raise
                    except BaseException as exc:  # noqa: BLE001 - forwarded into the generator
                        method, value = gen.throw, exc
            except BaseException as exc:
                step._end(exc)
                raise
        return wrapper

    def _wrap_async_generator(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            step = self._for_call(fn, args, kwargs)
            step._begin()
            chunks: list[Any] = []
            try:
                step._attach()
                try:
                    agen = fn(*args, **kwargs)
                finally:
                    step._detach()
                method, value = agen.asend, None
                while True:
                    step._attach()
                    try:
                        item = await method(value)
                    except StopAsyncIteration:
                        step._guarded(step._auto_chunks, chunks, None)
                        step._end()
                        return
                    finally:
                        step._detach()
                    if len(chunks) < _MAX_COLLECTED_CHUNKS:
                        chunks.append(item)
                    try:
                        value = yield item
                        method = agen.asend
                    except GeneratorExit:
                        step._attach()
                        try:
                            await agen.aclose()
                        finally:
                            step._detach()
                        step._end()
                        raise
                    except BaseException as exc:  # noqa: BLE001 - forwarded into the generator
                        method, value = agen.athrow, exc
            except BaseException as exc:
                step._end(exc)
                raise
        return wrapper

    def _auto_chunks(self, chunks: list[Any], returned: Any) -> None:
        """Record a generator's output: joined text if it yielded strings, else the items."""
        if returned is not None:
            self._auto_result(returned)
        elif chunks and all(isinstance(c, str) for c in chunks):
            self._auto_result("".join(chunks))
        elif chunks:
            self._auto_result(chunks)


_S = TypeVar("_S", bound=_Step)


def _bound_arguments(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """A decorated function's arguments by parameter name (``self``/``cls`` left out)."""
    bound = inspect.signature(fn).bind_partial(*args, **kwargs)
    return {k: v for k, v in bound.arguments.items() if k not in ("self", "cls")}


# ---------------------------------------------------------------------------------------------
class AgentRun(_Step):
    """One run of an agent: the root span every LLM/tool/retrieval span of the run sits under.

    Returned by ``flightlog.agent_run()``; see there.
    """

    span_type = "agent"
    operation = "invoke_agent"

    def __init__(self, name: str | None = None, *, version: str | None = None, user_id: str | None = None,
                 session_id: str | None = None, input: Any = None, limits: Limits | None = None,
                 parent: otel_context.Context | None = None, attributes: Mapping[str, Any] | None = None) -> None:
        super().__init__(attributes=attributes)
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
        self._facts: dict[str, str] = {}
        self.state: RunState | None = None

    def _copy(self) -> AgentRun:
        return AgentRun(self.name, version=self.version, user_id=self.user_id, session_id=self.session_id,
                        input=self.input, limits=self.limits, parent=self.parent, attributes=self._extra)

    def _bind_call(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if self.name is None:
            self.name = fn.__name__
        if self.input is None:
            arguments = _bound_arguments(fn, args, kwargs)
            if arguments:
                self.input = next(iter(arguments.values())) if len(arguments) == 1 else arguments

    def _resolved_name(self) -> str:
        return self.name or self.config.agent_name or "agent"

    def _span_name(self) -> str:
        return f"invoke_agent {self._resolved_name()}"

    def _begin(self, parent: otel_context.Context | None = None) -> None:
        super()._begin(parent if parent is not None else self.parent)

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
        return dict(self._facts)

    def _after_start(self, ctx: otel_context.Context) -> otel_context.Context:
        self.state = RunState(self._resolved_name(), self._facts, self.limits, self._run, self._span)
        self.state.step = self
        return otel_context.set_value(K.RUN_CONTEXT_KEY, self.state, ctx)

    def _finish_attributes(self) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            K.INPUT: self._content(self.input),
            K.OUTPUT: self._content(self._output) if self._has_output else None,
        }
        if self.state is not None:
            attributes.update(self.state.totals())
        return attributes

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
        parent: an OpenTelemetry context to continue (from ``flightlog.extract(carrier)``).
        attributes: extra span attributes.
    """
    if callable(name) and not isinstance(name, str):
        return AgentRun()(name)
    return AgentRun(name, version=version, user_id=user_id, session_id=session_id, input=input, limits=limits,
                    parent=parent, attributes=attributes)


# ---------------------------------------------------------------------------------------------
class LLMCall(_Step):
    """One model call (``chat {model}``, kind CLIENT). Returned by ``flightlog.llm_call()``."""

    span_type = "llm"
    operation = "chat"
    span_kind = SpanKind.CLIENT

    def __init__(self, model: str, *, provider: str | None = None, prompt_id: str | None = None,
                 prompt_version: str | None = None, prompt_template: str | None = None,
                 prompt_variables: Mapping[str, Any] | None = None, messages: MessagesInput | None = None,
                 temperature: float | None = None, max_tokens: int | None = None,
                 attributes: Mapping[str, Any] | None = None) -> None:
        super().__init__(attributes=attributes)
        self.model = model
        self.provider = provider
        self.prompt_id = prompt_id
        self.prompt_version = prompt_version
        self.prompt_template = prompt_template
        self.prompt_variables = prompt_variables
        self.messages = messages
        self.temperature = temperature
        self.max_tokens = max_tokens
        self._output: Any = None
        self._has_output = False
        self._input_tokens: int | None = None
        self._output_tokens: int | None = None
        self._response_model: str | None = None
        self._finish_reasons: list[str] | None = None
        self._cost: float | None = None

    def _copy(self) -> LLMCall:
        return LLMCall(self.model, provider=self.provider, prompt_id=self.prompt_id,
                       prompt_version=self.prompt_version, prompt_template=self.prompt_template,
                       prompt_variables=self.prompt_variables, messages=self.messages,
                       temperature=self.temperature, max_tokens=self.max_tokens, attributes=self._extra)

    def _bind_call(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if self.messages is None:
            arguments = _bound_arguments(fn, args, kwargs)
            for name in ("messages", "prompt"):
                if arguments.get(name) is not None:
                    self.messages = arguments[name]
                    break

    def _span_name(self) -> str:
        return f"chat {self.model}"

    def _before_start(self, run: RunState | None) -> tuple[Violation, RunState] | None:
        if run is None:
            return None
        violation, violated = run.check_and_count("llm")
        return None if violation is None or violated is None else (violation, violated)

    def _start_attributes(self) -> dict[str, Any]:
        return {
            K.REQUEST_MODEL: str(self.model),
            K.PROVIDER: self.provider,
            K.REQUEST_TEMPERATURE: self.temperature,
            K.REQUEST_MAX_TOKENS: self.max_tokens,
            K.PROMPT_ID: self.prompt_id,
            K.PROMPT_VERSION: None if self.prompt_version is None else str(self.prompt_version),
        }

    def _finish_attributes(self) -> dict[str, Any]:
        input_messages = to_messages(self.messages, default_role="user") if self.messages is not None else None
        if self.prompt_template is not None:
            prompt_hash = sha256_hex(str(self.prompt_template))
        elif input_messages:
            prompt_hash = sha256_hex(dumps(input_messages, ready=True))
        else:
            prompt_hash = None
        output_messages = None
        if self._has_output:
            reason = self._finish_reasons[0] if self._finish_reasons else None
            output_messages = to_output_messages(self._output, finish_reason=reason)
        finish_reasons = self._finish_reasons
        if finish_reasons is None and output_messages and all(
                isinstance(m.get("finish_reason"), str) for m in output_messages) and not isinstance(
                self._output, str):
            finish_reasons = [m["finish_reason"] for m in output_messages]
        return {
            K.PROMPT_HASH: prompt_hash,
            K.PROMPT_TEMPLATE: self._content(self.prompt_template),
            K.PROMPT_VARIABLES: self._content(self.prompt_variables, as_json=True),
            K.INPUT_MESSAGES: self._content(input_messages, as_json=True) if input_messages else None,
            K.OUTPUT_MESSAGES: self._content(output_messages, as_json=True) if output_messages else None,
            K.RESPONSE_MODEL: self._response_model,
            K.INPUT_TOKENS: self._input_tokens,
            K.OUTPUT_TOKENS: self._output_tokens,
            K.FINISH_REASONS: finish_reasons,
            K.COST_USD: self._cost,
        }

    def _after_end(self) -> None:
        if self._run is not None and (self._input_tokens or self._output_tokens or self._cost):
            self._run.add_usage(self._input_tokens or 0, self._output_tokens or 0, self._cost or 0.0)

    def set_input(self, messages: MessagesInput) -> None:
        """Record (or replace) the input messages."""
        self.messages = messages

    def set_output(self, output: Any) -> None:
        """Record the reply: text, a ``{"role","content"}``/parts message, or a list of them."""
        self._output, self._has_output = output, True

    def set_response(self, response: Any) -> None:
        """Record output, usage, response model and finish reasons from a provider response.

        Understands OpenAI chat completions (``choices``/``usage.prompt_tokens``) and Anthropic
        messages (``content`` blocks/``stop_reason``/``usage.input_tokens``), as objects with
        ``model_dump()`` or as dicts. Anything else is recorded as the output, as ``set_output``.
        """
        data = to_jsonable(response)
        if not isinstance(data, dict):
            self.set_output(response)
            return
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        if isinstance(data.get("choices"), list):  # OpenAI chat completion
            messages, reasons = [], []
            for choice in data["choices"]:
                if not isinstance(choice, dict):
                    continue
                message = dict(choice.get("message") or {})
                if choice.get("finish_reason"):
                    message["finish_reason"] = choice["finish_reason"]
                    reasons.append(str(choice["finish_reason"]))
                messages.append(message)
            self.set_output(messages)
            if reasons and self._finish_reasons is None:
                self._finish_reasons = reasons
            tokens_in, tokens_out = usage.get("prompt_tokens"), usage.get("completion_tokens")
        elif isinstance(data.get("content"), list) and ("stop_reason" in data or "usage" in data):  # Anthropic
            message = {"role": data.get("role") or "assistant", "content": data["content"]}
            if data.get("stop_reason"):
                message["finish_reason"] = data["stop_reason"]
                if self._finish_reasons is None:
                    self._finish_reasons = [str(data["stop_reason"])]
            self.set_output([message])
            tokens_in, tokens_out = usage.get("input_tokens"), usage.get("output_tokens")
        else:
            self.set_output(response)
            return
        if self._input_tokens is None and self._output_tokens is None:
            self.set_usage(input_tokens=tokens_in if isinstance(tokens_in, int) else None,
                           output_tokens=tokens_out if isinstance(tokens_out, int) else None)
        if self._response_model is None and isinstance(data.get("model"), str):
            self._response_model = data["model"]

    def set_usage(self, input_tokens: int | None = None, output_tokens: int | None = None) -> None:
        """Record token usage (counts toward ``Limits.max_tokens``)."""
        for name, value in (("input_tokens", input_tokens), ("output_tokens", output_tokens)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                _logger.warning("flightlog: set_usage(%s=%r) ignored: not an int >= 0", name, value)
                return
        if input_tokens is not None:
            self._input_tokens = input_tokens
        if output_tokens is not None:
            self._output_tokens = output_tokens

    def set_response_model(self, model: str) -> None:
        """Record the model that actually answered (``gen_ai.response.model``)."""
        self._response_model = str(model)

    def set_finish_reason(self, reason: str | list[str]) -> None:
        """Record why generation stopped (``stop``, ``length``, ``tool_calls`` …)."""
        self._finish_reasons = [str(r) for r in reason] if isinstance(reason, (list, tuple)) else [str(reason)]

    def set_cost(self, usd: float) -> None:
        """Record the call's cost in USD (wins over the collector's computed cost)."""
        if isinstance(usd, bool) or not isinstance(usd, (int, float)) or usd < 0:
            _logger.warning("flightlog: set_cost(%r) ignored: not a number >= 0", usd)
            return
        self._cost = float(usd)

    def _auto_result(self, value: Any) -> None:
        if not self._has_output and value is not None:
            if isinstance(value, (str, list, tuple)):
                self.set_output(value)
            else:
                self.set_response(value)


def llm_call(model: str, *, provider: str | None = None, prompt_id: str | None = None,
             prompt_version: str | None = None, prompt_template: str | None = None,
             prompt_variables: Mapping[str, Any] | None = None, messages: MessagesInput | None = None,
             temperature: float | None = None, max_tokens: int | None = None,
             attributes: Mapping[str, Any] | None = None) -> LLMCall:
    """A span for one LLM call (``chat {model}``, kind CLIENT); context manager or decorator.

    Example::

        with flightlog.llm_call("gpt-4o", provider="openai", messages=msgs,
                                prompt_id="triage", prompt_version="3") as call:
            reply = client.chat(...)
            call.set_output(reply.text)
            call.set_usage(input_tokens=812, output_tokens=96)

    As a decorator, ``messages`` defaults to the function's ``messages``/``prompt`` argument
    and the output to its return value. ``flightlog.prompt.hash`` is the SHA-256 of
    ``prompt_template`` if given, else of the input messages, so an unversioned prompt change
    shows up. Raises ``BudgetExceeded`` on entry if the run's limits are crossed.
    """
    return LLMCall(model, provider=provider, prompt_id=prompt_id, prompt_version=prompt_version,
                   prompt_template=prompt_template, prompt_variables=prompt_variables, messages=messages,
                   temperature=temperature, max_tokens=max_tokens, attributes=attributes)


# ---------------------------------------------------------------------------------------------
class ToolCall(_Step):
    """One tool execution (``execute_tool {name}``). Returned by ``flightlog.tool_call()``."""

    span_type = "tool"
    operation = "execute_tool"

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
            self.arguments = _bound_arguments(fn, args, kwargs)

    def _span_name(self) -> str:
        return f"execute_tool {self.name or 'tool'}"

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
    ``allowed_tools``/``denied_tools``, tokens, cost, time) are crossed.
    """
    if callable(name) and not isinstance(name, str):
        return ToolCall()(name)
    return ToolCall(name, arguments=arguments, call_id=call_id, attributes=attributes)


# ---------------------------------------------------------------------------------------------
class Retrieval(_Step):
    """One retrieval (``retrieval [source]``). Returned by ``flightlog.retrieval()``."""

    span_type = "retrieval"
    operation = "retrieval"

    def __init__(self, query: Any = None, *, source: str | None = None, top_k: int | None = None,
                 attributes: Mapping[str, Any] | None = None) -> None:
        super().__init__(attributes=attributes)
        self.query = query
        self.source = source
        self.top_k = top_k
        self._documents: list[Any] | None = None

    def _copy(self) -> Retrieval:
        return Retrieval(self.query, source=self.source, top_k=self.top_k, attributes=self._extra)

    def _bind_call(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if self.query is None:
            arguments = _bound_arguments(fn, args, kwargs)
            self.query = arguments.get("query", next(iter(arguments.values()), None))

    def _span_name(self) -> str:
        return f"retrieval {self.source}" if self.source else "retrieval"

    def _start_attributes(self) -> dict[str, Any]:
        return {K.DATA_SOURCE: self.source, K.TOP_K: self.top_k}

    def _finish_attributes(self) -> dict[str, Any]:
        attributes: dict[str, Any] = {K.RETRIEVAL_QUERY: self._content(self.query)}
        if self._documents is not None:
            documents = self._documents
            if not self.config.capture_content:  # ids and scores are metadata; text is content
                documents = [{k: v for k, v in d.items() if k in ("id", "score")} if isinstance(d, Mapping)
                             else {} for d in documents]
            attributes[K.RETRIEVAL_DOCUMENTS] = self._metadata_text(documents, as_json=True)
            attributes[K.RETRIEVAL_DOCUMENT_COUNT] = len(self._documents)
        return attributes

    def set_documents(self, documents: list[Any]) -> None:
        """Record the retrieved documents, e.g. ``[{"id": "d1", "score": 0.8, "content": "…"}]``."""
        self._documents = list(documents)

    def _auto_result(self, value: Any) -> None:
        if self._documents is None and isinstance(value, (list, tuple)):
            self.set_documents(list(value))


def retrieval(query: Any = None, *, source: str | None = None, top_k: int | None = None,
              attributes: Mapping[str, Any] | None = None) -> Retrieval:
    """A span for one retrieval step; context manager or decorator.

    Example::

        with flightlog.retrieval(question, source="kb", top_k=3) as r:
            r.set_documents([{"id": "d1", "score": 0.82, "content": "Refunds take 5 days."}])

    Writes ``flightlog.retrieval.query`` and ``flightlog.retrieval.documents`` (JSON). As a
    decorator, the query defaults to the ``query`` (or first) argument and documents to a
    returned list.
    """
    return Retrieval(query, source=source, top_k=top_k, attributes=attributes)


# ---------------------------------------------------------------------------------------------
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
    step = otel_context.get_value(K.STEP_CONTEXT_KEY)
    return step if isinstance(step, _Step) else _NoStep()


def current_run() -> AgentRun | Any:
    """The innermost ``AgentRun`` in this context (a falsy no-op object outside any run)."""
    run = otel_context.get_value(K.RUN_CONTEXT_KEY)
    step = getattr(run, "step", None)
    return step if isinstance(step, AgentRun) else _NoStep()
