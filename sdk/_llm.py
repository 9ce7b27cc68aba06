"""LLM calls: request/response model, prompt id/version/hash/template, GenAI input and output
messages, token usage, finish reasons and cost (``chat {model}`` spans, kind CLIENT)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.trace import SpanKind

from . import semconv as K
from ._budget import RunState, Violation
from ._content import (
    dumps,
    sha256_hex,
    template_hash,
    text_messages_json,
    text_output_json,
    to_jsonable,
    to_messages,
    to_output_messages,
    truncate,
)
from ._decorate import bound_arguments
from ._spans import _Step
from ._types import MessagesInput

_logger = logging.getLogger("flightlog")


class LLMCall(_Step):
    """One model call (``chat {model}``, kind CLIENT). Returned by ``flightlog.llm_call()``."""

    span_type = "llm"
    operation = "chat"
    span_kind = SpanKind.CLIENT
    records_decider = False  # an LLM call records its own model and prompt
    control_checked = True  # the kill switch is checked before an LLM call starts

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
        self._usage_details: dict[str, int] | None = None  # cache read/creation, reasoning tokens
        self._response_model: str | None = None
        self._response_id: str | None = None
        self._first_chunk_s: float | None = None  # streaming: seconds from start to the first chunk
        self._finish_reasons: list[str] | None = None
        self._cost: float | None = None
        self._prompt_hash: str | None = None

    def _copy(self) -> LLMCall:
        return LLMCall(self.model, provider=self.provider, prompt_id=self.prompt_id,
                       prompt_version=self.prompt_version, prompt_template=self.prompt_template,
                       prompt_variables=self.prompt_variables, messages=self.messages,
                       temperature=self.temperature, max_tokens=self.max_tokens, attributes=self._extra)

    def _bind_call(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if self.messages is None:
            arguments = bound_arguments(fn, args, kwargs)
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
        config = self.config
        capture = config.capture_content
        plain = config.redact is None  # no redaction: the unredacted JSON is the attribute text

        # Input messages: encoded once; the same text feeds the prompt hash and the attribute.
        input_messages: list[dict[str, Any]] | None = None
        input_json: str | None = None
        if self.messages is not None:
            input_json = text_messages_json(self.messages, default_role="user")  # plain-text fast path
            if input_json is None:
                input_messages = to_messages(self.messages, default_role="user")
                input_json = dumps(input_messages, ready=True) if input_messages else None
        if self.prompt_template is not None:
            prompt_hash = template_hash(str(self.prompt_template))
        elif input_json:
            prompt_hash = sha256_hex(input_json)
        else:
            prompt_hash = None
        self._prompt_hash = prompt_hash
        input_text = None
        if input_json and capture:
            if plain:
                input_text = truncate(input_json, config.max_attribute_length)
            else:
                if input_messages is None:
                    input_messages = to_messages(self.messages, default_role="user")
                input_text = self._metadata_text(input_messages, as_json=True, ready=True)

        output_text = None
        finish_reasons = self._finish_reasons
        if self._has_output:
            reason = self._finish_reasons[0] if self._finish_reasons else None
            output = self._output
            if type(output) is str and plain:  # plain-text reply: encode it directly
                if capture:
                    output_text = truncate(text_output_json(output, finish_reason=reason),
                                           config.max_attribute_length)
            else:
                output_messages = to_output_messages(output, finish_reason=reason)
                if finish_reasons is None and output_messages and all(
                        isinstance(m.get("finish_reason"), str) for m in output_messages) and not isinstance(
                        output, str):
                    finish_reasons = [m["finish_reason"] for m in output_messages]
                if output_messages:
                    output_text = self._content(output_messages, as_json=True, ready=True)
        return {
            K.PROMPT_HASH: prompt_hash,
            K.PROMPT_TEMPLATE: None if self.prompt_template is None else self._content(self.prompt_template),
            K.PROMPT_VARIABLES: (None if self.prompt_variables is None
                                 else self._content(self.prompt_variables, as_json=True)),
            K.INPUT_MESSAGES: input_text,
            K.OUTPUT_MESSAGES: output_text,
            K.RESPONSE_MODEL: self._response_model,
            K.RESPONSE_ID: self._response_id,
            K.REQUEST_STREAM: None if self._first_chunk_s is None else True,
            K.TIME_TO_FIRST_CHUNK: self._first_chunk_s,
            K.INPUT_TOKENS: self._input_tokens,
            K.OUTPUT_TOKENS: self._output_tokens,
            K.FINISH_REASONS: finish_reasons,
            K.COST_USD: self._cost,
            **(self._usage_details or {}),
        }

    def _after_end(self) -> None:
        run = self._run
        if run is None:
            return
        if self._input_tokens or self._output_tokens or self._cost:
            run.add_usage(self._input_tokens or 0, self._output_tokens or 0, self._cost or 0.0)
        if self._failed:
            return  # no answer came back: it decided nothing
        run.record_llm(self.span.get_span_context().span_id,
                       self._response_model or (None if self.model is None else str(self.model)),
                       prompt_id=self.prompt_id, prompt_version=self.prompt_version, prompt_hash=self._prompt_hash)

    def set_input(self, messages: MessagesInput) -> None:
        """Record (or replace) the input messages."""
        self.messages = messages

    def set_output(self, output: Any) -> None:
        """Record the reply: text, a ``{"role","content"}``/parts message, or a list of them."""
        self._output, self._has_output = output, True

    def set_response(self, response: Any) -> None:
        """Record output, usage, response model and id, and finish reasons from a provider response.

        Understands OpenAI chat completions (``choices``/``usage.prompt_tokens``) and Anthropic
        messages (``content`` blocks/``stop_reason``/``usage.input_tokens``), as objects with
        ``model_dump()`` or as dicts. Anything else is recorded as the output, as ``set_output``.
        """
        data = to_jsonable(response)
        if not isinstance(data, dict):
            self.set_output(response)
            return
        raw_usage = data.get("usage")
        usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
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
            tokens_in, tokens_out = usage.get("prompt_tokens"), usage.get("completion_tokens")  # cached included
            details = {"cache_read_input_tokens": _dig(usage, "prompt_tokens_details", "cached_tokens"),
                       "reasoning_tokens": _dig(usage, "completion_tokens_details", "reasoning_tokens")}
        elif isinstance(data.get("content"), list) and ("stop_reason" in data or "usage" in data):  # Anthropic
            message = {"role": data.get("role") or "assistant", "content": data["content"]}
            if data.get("stop_reason"):
                message["finish_reason"] = data["stop_reason"]
                if self._finish_reasons is None:
                    self._finish_reasons = [str(data["stop_reason"])]
            self.set_output([message])
            tokens_in, tokens_out = usage.get("input_tokens"), usage.get("output_tokens")
            details = {"cache_read_input_tokens": _dig(usage, "cache_read_input_tokens"),
                       "cache_creation_input_tokens": _dig(usage, "cache_creation_input_tokens")}
            if isinstance(tokens_in, int):  # Anthropic counts cache reads and writes apart from input_tokens
                tokens_in += sum(v for v in details.values() if v is not None)
        else:
            self.set_output(response)
            return
        if self._input_tokens is None and self._output_tokens is None:
            self.set_usage(input_tokens=tokens_in if isinstance(tokens_in, int) else None,
                           output_tokens=tokens_out if isinstance(tokens_out, int) else None, **details)
        if self._response_model is None and isinstance(data.get("model"), str):
            self._response_model = data["model"]
        if self._response_id is None and isinstance(data.get("id"), str):
            self._response_id = data["id"]  # chatcmpl-… / msg_…: finds the call in the provider's logs

    def set_usage(self, input_tokens: int | None = None, output_tokens: int | None = None, *,
                  cache_read_input_tokens: int | None = None, cache_creation_input_tokens: int | None = None,
                  reasoning_tokens: int | None = None) -> None:
        """Record token usage (input + output count toward ``Limits.max_tokens``).

        As in the GenAI conventions, ``input_tokens`` includes cached tokens and ``output_tokens``
        includes reasoning tokens; the details let the collector price cache reads (and
        reasoning) at their own rates.
        """
        details = {K.CACHE_READ_TOKENS: cache_read_input_tokens, K.CACHE_CREATION_TOKENS: cache_creation_input_tokens,
                   K.REASONING_TOKENS: reasoning_tokens}
        for name, value in (("input_tokens", input_tokens), ("output_tokens", output_tokens),
                            ("cache_read_input_tokens", cache_read_input_tokens),
                            ("cache_creation_input_tokens", cache_creation_input_tokens),
                            ("reasoning_tokens", reasoning_tokens)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                _logger.warning("flightlog: set_usage(%s=%r) ignored: not an int >= 0", name, value)
                return
        if input_tokens is not None:
            self._input_tokens = input_tokens
        if output_tokens is not None:
            self._output_tokens = output_tokens
        present = {key: value for key, value in details.items() if value is not None}
        if present:
            self._usage_details = {**(self._usage_details or {}), **present}

    def mark_first_chunk(self) -> None:
        """Note that the first chunk of a streamed reply arrived now.

        Records ``gen_ai.request.stream`` and ``gen_ai.response.time_to_first_chunk`` (seconds
        since the call started). A decorated generator does this by itself on its first yield.
        """
        if self._first_chunk_s is not None:
            return
        started = getattr(self._span, "start_time", None)
        if isinstance(started, int):
            self._first_chunk_s = max(0.0, (time.time_ns() - started) / 1e9)

    def _first_chunk(self) -> None:
        self.mark_first_chunk()

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


def _dig(data: Any, *path: str) -> int | None:
    """An int nested in provider usage data (``usage.prompt_tokens_details.cached_tokens``), else None."""
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data if isinstance(data, int) and not isinstance(data, bool) else None


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
    shows up. Raises ``BudgetExceeded`` on entry if the run's limits (its own or its central
    policy's) are crossed, and ``AgentPaused`` if the kill switch pauses the agent.
    """
    return LLMCall(model, provider=provider, prompt_id=prompt_id, prompt_version=prompt_version,
                   prompt_template=prompt_template, prompt_variables=prompt_variables, messages=messages,
                   temperature=temperature, max_tokens=max_tokens, attributes=attributes)
