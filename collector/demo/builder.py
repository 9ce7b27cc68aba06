"""The span builder behind the demo traces (:mod:`.demo`): one agent run at a time, as the
flightlog SDK would have recorded it, written straight to OTLP protobuf messages.

``DemoTrace`` moves a cursor forward as steps are added, so every trace has believable timing,
and stamps what the SDK stamps: run facts on every span, and on every non-LLM step the LLM
call that led to it (``flightlog.decided_by.*``).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from flightlog import semconv as sc

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from flightlog.collector.demo import text as txt

MS = 1_000_000
MINUTE = 60_000 * MS
HOUR = 60 * MINUTE
DAY = 24 * HOUR

_OPERATIONS = {"agent": "invoke_agent", "llm": "chat", "tool": "execute_tool",
               "retrieval": "retrieval", "checkpoint": "checkpoint"}
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_Error = tuple[str, str]  # (error.type, message)


def prompt_hash(prompt_id: str, version: str) -> str:
    """sha256 hex of a demo prompt template's text (``flightlog.prompt.hash``)."""
    return hashlib.sha256(txt.PROMPTS[(prompt_id, version)].encode()).hexdigest()


def _any(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, (list, tuple)):
        return AnyValue(array_value=ArrayValue(values=[_any(v) for v in value]))
    return AnyValue(string_value=str(value))


def key_values(values: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=_any(v)) for k, v in values.items() if v is not None]


def js(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _render(template: str, variables: dict[str, str]) -> str:
    return re.sub(r"\{\{(\w+)\}\}", lambda m: variables.get(m.group(1), ""), template)


def token(rng: random.Random, prefix: str, n: int, alphabet: str = _ALNUM) -> str:
    return prefix + "".join(rng.choice(alphabet) for _ in range(n))


def day_text(ns: int, days_before: int = 0) -> str:
    moment = datetime.fromtimestamp(ns / 1e9, tz=timezone.utc) - timedelta(days=days_before)
    return moment.date().isoformat()


def _fail(span: Span, error: _Error) -> None:
    error_type, message = error
    span.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message=message))
    span.attributes.extend(key_values({sc.ERROR_TYPE: error_type}))
    span.events.add(time_unix_nano=span.end_time_unix_nano, name="exception", attributes=key_values(
        {sc.EXCEPTION_TYPE: error_type, "exception.message": message}))


@dataclass
class DemoTrace:
    """The spans of one trace; a cursor moves time forward as child spans are added."""

    rng: random.Random
    trace_id: bytes
    agent: str
    version: str
    user: str
    session: str
    start_ns: int
    spans: list[Span] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.root_id = self.rng.randbytes(8)
        self.cursor = self.start_ns + self.rng.randint(3, 40) * MS
        self.decided_by: dict[str, Any] = {}  # what the SDK writes: the latest answered LLM call
        self.models: list[str] = []

    def _common(self, span_type: str) -> dict[str, Any]:
        return {sc.SPAN_TYPE: span_type, sc.OPERATION: _OPERATIONS[span_type],
                sc.AGENT_NAME: self.agent, sc.AGENT_VERSION: self.version,
                sc.USER_ID: self.user, sc.SESSION_ID: self.session}

    def add(self, span_type: str, name: str, duration_ms: int, attrs: dict[str, Any], *,
            kind: Any = Span.SPAN_KIND_INTERNAL, error: _Error | None = None) -> None:
        start, end = self.cursor, self.cursor + duration_ms * MS
        self.cursor = end + self.rng.randint(2, 60) * MS
        span = Span(trace_id=self.trace_id, span_id=self.rng.randbytes(8),
                    parent_span_id=self.root_id, name=name, kind=kind,
                    start_time_unix_nano=start, end_time_unix_nano=end,
                    attributes=key_values({**self._common(span_type),
                                       **(self.decided_by if span_type != "llm" else {}), **attrs}))
        if error:
            _fail(span, error)
        elif span_type == "llm":
            model = attrs.get(sc.RESPONSE_MODEL) or attrs[sc.REQUEST_MODEL]
            self.models += [model] if model not in self.models else []
            self.decided_by = {sc.DECIDED_BY_MODEL: model,
                               sc.DECIDED_BY_PROMPT_ID: attrs[sc.PROMPT_ID],
                               sc.DECIDED_BY_PROMPT_VERSION: attrs[sc.PROMPT_VERSION],
                               sc.DECIDED_BY_PROMPT_HASH: attrs[sc.PROMPT_HASH],
                               sc.DECIDED_BY_SPAN_ID: span.span_id.hex()}
        self.spans.append(span)

    def llm(self, model: str, prompt: tuple[str, str], variables: dict[str, str], output: str,
            *, context: list[dict] | None = None, tool_call: dict | None = None,
            error: _Error | None = None) -> None:
        provider, response_model, ms_per_token = txt.MODELS[model]
        rendered = _render(txt.PROMPTS[prompt], variables)
        messages = [{"role": "user", "parts": [{"type": "text", "content": rendered}]}]
        messages += context or []
        attrs: dict[str, Any] = {
            sc.PROVIDER: provider, sc.REQUEST_MODEL: model,
            sc.INPUT_MESSAGES: js(messages), sc.PROMPT_ID: prompt[0],
            sc.PROMPT_VERSION: prompt[1], sc.PROMPT_HASH: prompt_hash(*prompt)}
        duration = self.rng.randint(150, 400)
        if error is None:
            parts = [{"type": "text", "content": output}] + ([tool_call] if tool_call else [])
            finish = "tool_calls" if tool_call else "stop"
            out_tokens = len(output) // 4 + self.rng.randint(1, 12)
            attrs.update({
                sc.RESPONSE_MODEL: response_model,
                sc.INPUT_TOKENS: len(js(messages)) // 4 + self.rng.randint(5, 40),
                sc.OUTPUT_TOKENS: out_tokens,
                sc.FINISH_REASONS: [finish],
                sc.OUTPUT_MESSAGES: js([{"role": "assistant", "parts": parts,
                                                "finish_reason": finish}])})
            duration += out_tokens * ms_per_token
        self.add("llm", f"chat {model}", duration, attrs, kind=Span.SPAN_KIND_CLIENT, error=error)

    def tool(self, name: str, arguments: dict, result: Any, duration_ms: int, *,
             call_id: str | None = None, error: _Error | None = None) -> str:
        call_id = call_id or token(self.rng, "call_", 24)
        self.add("tool", f"execute_tool {name}", duration_ms, {
            sc.TOOL_NAME: name, sc.TOOL_CALL_ID: call_id,
            sc.TOOL_ARGUMENTS: js(arguments),
            sc.TOOL_RESULT: None if error else js(result)}, error=error)
        return call_id

    def retrieval(self, source: str, query: str, docs: list[tuple[str, str]]) -> None:
        scores = sorted((round(self.rng.uniform(0.55, 0.93), 3) for _ in docs), reverse=True)
        documents = [{"id": d, "score": s, "content": c} for (d, c), s in zip(docs, scores, strict=True)]
        self.add("retrieval", f"retrieval {source}", self.rng.randint(40, 220), {
            sc.RETRIEVAL_QUERY: query, sc.RETRIEVAL_DOCUMENTS: js(documents)},
            kind=Span.SPAN_KIND_CLIENT)

    def checkpoint(self, action: str, tier: int, decision: str, approver: str,
                   wait_ms: int) -> None:
        self.add("checkpoint", f"checkpoint {action.split()[0]}", wait_ms + 5, {
            sc.CHECKPOINT_ACTION: action, sc.CHECKPOINT_TIER: tier,
            sc.CHECKPOINT_DECISION: decision, sc.CHECKPOINT_APPROVER: approver,
            sc.CHECKPOINT_WAIT_MS: wait_ms})

    def finish(self, input_text: str, output_text: str, error: _Error | None = None) -> None:
        """Add the root agent span, which covers every child span."""
        attrs = {**self._common("agent"), **self.decided_by, sc.INPUT: input_text,
                 sc.OUTPUT: output_text, sc.RUN_MODELS: self.models}
        root = Span(trace_id=self.trace_id, span_id=self.root_id, name=f"invoke_agent {self.agent}",
                    kind=Span.SPAN_KIND_INTERNAL, start_time_unix_nano=self.start_ns,
                    end_time_unix_nano=self.cursor + self.rng.randint(1, 20) * MS,
                    attributes=key_values(attrs))
        if error:
            _fail(root, error)
        self.spans.insert(0, root)
