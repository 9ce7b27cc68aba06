"""Agent runs as OTLP/protobuf requests, built field by field, for tests that need exact
figures (alert metrics): each run is an ``invoke_agent`` root span with optional LLM, tool and
checkpoint children, sent to a running collector over ``/v1/traces``."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from flightlog import semconv as sc

MS = 1_000_000


def kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


@dataclass
class Run:
    """One agent run: its outcome, duration and children (durations in ms)."""

    agent: str = "alert-bot"
    version: str = "1.0.0"
    failed: bool = False
    duration_ms: int = 100
    # LLM calls: {model, prompt_id, prompt_version, tokens_in, tokens_out, cost, failed, ms}
    llm: list[dict[str, Any]] = field(default_factory=list)
    tools: list[bool] = field(default_factory=list)  # one per tool call: failed?
    checkpoints: list[tuple[int, float]] = field(default_factory=list)  # (tier, wait_ms)
    ago_s: float = 1.0


def _status(failed: bool) -> Status:
    return Status(code=Status.STATUS_CODE_ERROR if failed else Status.STATUS_CODE_OK)


def run_spans(run: Run) -> tuple[str, list[Span]]:
    trace_id, root = os.urandom(16), os.urandom(8)
    start = time.time_ns() - int(run.ago_s * 1e9)
    common = [kv(sc.AGENT_NAME, run.agent), kv(sc.AGENT_VERSION, run.version)]
    spans = [Span(trace_id=trace_id, span_id=root, name=f"invoke_agent {run.agent}", start_time_unix_nano=start,
                  end_time_unix_nano=start + run.duration_ms * MS, status=_status(run.failed),
                  attributes=[kv(sc.OPERATION, "invoke_agent"), *common])]
    at = start + MS
    for call in run.llm:
        attrs = [kv(sc.OPERATION, "chat"), kv(sc.REQUEST_MODEL, call.get("model", "gpt-4o-mini")),
                 kv(sc.INPUT_TOKENS, call.get("tokens_in", 0)), kv(sc.OUTPUT_TOKENS, call.get("tokens_out", 0)),
                 *common]
        if call.get("prompt_id"):
            attrs += [kv(sc.PROMPT_ID, call["prompt_id"]), kv(sc.PROMPT_VERSION, call.get("prompt_version", ""))]
        if "cost" in call:
            attrs.append(kv(sc.COST_USD, float(call["cost"])))
        spans.append(Span(trace_id=trace_id, span_id=os.urandom(8), parent_span_id=root, name="chat",
                          start_time_unix_nano=at, end_time_unix_nano=at + call.get("ms", 10) * MS,
                          status=_status(call.get("failed", False)), attributes=attrs))
    for failed in run.tools:
        spans.append(Span(trace_id=trace_id, span_id=os.urandom(8), parent_span_id=root, name="execute_tool lookup",
                          start_time_unix_nano=at, end_time_unix_nano=at + 5 * MS, status=_status(failed),
                          attributes=[kv(sc.OPERATION, "execute_tool"), kv(sc.TOOL_NAME, "lookup"), *common]))
    for tier, wait_ms in run.checkpoints:
        spans.append(Span(trace_id=trace_id, span_id=os.urandom(8), parent_span_id=root, name="checkpoint refund",
                          start_time_unix_nano=at, end_time_unix_nano=at + int(wait_ms * MS) + MS,
                          attributes=[kv(sc.SPAN_TYPE, "checkpoint"), kv(sc.CHECKPOINT_TIER, tier),
                                      kv(sc.CHECKPOINT_ACTION, "refund"),
                                      kv(sc.CHECKPOINT_DECISION, "approved" if tier >= 2 else "autonomous"),
                                      kv(sc.CHECKPOINT_WAIT_MS, float(wait_ms)), *common]))
    return trace_id.hex(), spans


def traces_request(runs: list[Run], service: str = "alert-tests") -> bytes:
    spans = [s for run in runs for s in run_spans(run)[1]]
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource=Resource(attributes=[kv("service.name", service)]),
        scope_spans=[ScopeSpans(spans=spans)])]).SerializeToString()
