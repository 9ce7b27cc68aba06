"""Normalisation of decoded spans into rows of the `spans` table (docs/contracts.md, "Span row";
docs/storage/schema.md).

`normalise(raw, project=...)` is a pure function: it keeps every raw attribute (stringified,
in ResourceAttributes / SpanAttributes) and extracts the agent columns from whichever
convention the span follows. When several conventions say the same thing the precedence is
flightlog.* > gen_ai.* > OpenInference > OpenLLMetry (Traceloop) > Langfuse, and span
attributes win over resource attributes (docs/decisions/0005-one-vocabulary.md). Message content is rendered into
searchable text by `_content`.

`apply_log_records(row, records)` merges content that arrived as OTLP log records (the
official GenAI instrumentations emit it that way) into an already normalised row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from flightlog import semconv as sc
from flightlog.storage.schema import SPAN_COLUMNS, SpanRow

from flightlog.collector.genai import render as _content
from flightlog.collector.genai.records import log_record_contribution
from flightlog.collector.genai.render import stringify, to_int
from flightlog.collector.ingest.records import RawSpan
from flightlog.collector.pricing import client_cost

SPAN_KINDS = ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")
STATUS_CODES = ("Unset", "Ok", "Error")
SPAN_TYPES = ("agent", "llm", "tool", "retrieval", "checkpoint", "embedding", "other")

#: Columns of ``spans`` that later stages fill, and which one.
LATER_COLUMNS = {
    "IngestTime": "storage (the insert time)",
    "TraceName": "pipeline.inherit_trace_facts (the root span's name)",
    "CachedInputTokens": "pricing.PriceTable.price",
    "ReasoningTokens": "pricing.PriceTable.price",
}
#: Columns of ``spans`` filled by :func:`normalise`, in table order.
COLUMNS = tuple(c for c in SPAN_COLUMNS if c not in LATER_COLUMNS)

_OPERATION_TYPES = {
    "chat": "llm", "text_completion": "llm", "generate_content": "llm",
    "embeddings": "embedding", "execute_tool": "tool",
    "invoke_agent": "agent", "create_agent": "agent", "retrieval": "retrieval",
}
_OPENINFERENCE_TYPES = {
    "LLM": "llm", "TOOL": "tool", "AGENT": "agent", "CHAIN": "agent",
    "RETRIEVER": "retrieval", "RERANKER": "retrieval", "EMBEDDING": "embedding",
}
_TRACELOOP_TYPES = {"workflow": "agent", "agent": "agent", "tool": "tool", "task": "other"}
_LANGFUSE_TYPES = {"generation": "llm", "agent": "agent", "chain": "agent", "tool": "tool",
                   "retriever": "retrieval", "embedding": "embedding"}
# Operation name for spans whose convention names no operation (GenAI operation names).
_TYPE_OPERATIONS = {
    "llm": "chat", "embedding": "embeddings", "tool": "execute_tool",
    "agent": "invoke_agent", "retrieval": "retrieval",
}

def normalise(raw: RawSpan, *, project: str) -> SpanRow:
    """One `spans` row for one decoded span (RawSpan, docs/contracts.md).

    Every column of `COLUMNS` is present: "" / 0 / {} / [] when nothing maps to it.
    `Timestamp` is the start in integer nanoseconds and `Duration` is in nanoseconds.
    CostSource is "client" when the span carries its own cost, else "none" until pricing.
    """
    attrs: Mapping[str, Any] = raw.get("attributes") or {}
    resource: Mapping[str, Any] = raw.get("resource") or {}
    events = list(raw.get("events") or [])
    links = list(raw.get("links") or [])
    start_ns, end_ns = int(raw.get("start_ns") or 0), int(raw.get("end_ns") or 0)
    status_code = int(raw.get("status_code") or 0)
    parent = raw.get("parent_span_id") or ""

    kind = span_type(attrs, parent_span_id=parent)
    tool = _tool_fields(attrs, kind)
    input_text, output_text = _content.span_texts(attrs, events, kind=kind,
                                                  tool_args=tool["args"],
                                                  tool_result=tool["result"])
    cost = client_cost(attrs)
    return {
        "Timestamp": start_ns,
        "TraceId": raw.get("trace_id") or "",
        "SpanId": raw.get("span_id") or "",
        "ParentSpanId": parent,
        "TraceState": raw.get("trace_state") or "",
        "SpanName": raw.get("name") or "",
        "SpanKind": _enum_name(SPAN_KINDS, raw.get("kind")),
        "ServiceName": _text(resource.get(sc.SERVICE_NAME)),
        "ResourceAttributes": _string_map(resource),
        "ScopeName": raw.get("scope_name") or "",
        "ScopeVersion": raw.get("scope_version") or "",
        "SpanAttributes": _string_map(attrs),
        "Duration": max(0, end_ns - start_ns),
        "StatusCode": _enum_name(STATUS_CODES, status_code, default="Unset"),
        "StatusMessage": raw.get("status_message") or "",
        "Events.Timestamp": [int(e.get("time_ns") or 0) for e in events],
        "Events.Name": [e.get("name") or "" for e in events],
        "Events.Attributes": [_string_map(e.get("attributes") or {}) for e in events],
        "Links.TraceId": [link.get("trace_id") or "" for link in links],
        "Links.SpanId": [link.get("span_id") or "" for link in links],
        "Links.TraceState": [link.get("trace_state") or "" for link in links],
        "Links.Attributes": [_string_map(link.get("attributes") or {}) for link in links],
        "Project": project,
        "SpanType": kind,
        "Operation": _first_text(attrs, sc.READ_OPERATION) or _TYPE_OPERATIONS.get(kind, ""),
        "AgentName": _agent_name(attrs, resource, kind),
        "AgentVersion": _first_text(attrs, sc.READ_AGENT_VERSION)
        or _first_text(resource, sc.READ_AGENT_VERSION_RESOURCE),
        "Provider": _first_text(attrs, sc.READ_PROVIDER),
        "RequestModel": _first_text(attrs, sc.READ_REQUEST_MODEL),
        "ResponseModel": _first_text(attrs, sc.READ_RESPONSE_MODEL),
        "PromptId": _first_text(attrs, sc.READ_PROMPT_ID),
        "PromptVersion": _first_text(attrs, sc.READ_PROMPT_VERSION),
        "PromptHash": _first_text(attrs, sc.READ_PROMPT_HASH),
        "InputTokens": _tokens(attrs, sc.READ_INPUT_TOKENS, "input"),
        "OutputTokens": _tokens(attrs, sc.READ_OUTPUT_TOKENS, "output"),
        "CostUsd": cost if cost is not None else 0.0,
        "CostSource": "client" if cost is not None else "none",
        "PriceVersion": "",
        "InputText": input_text,
        "OutputText": output_text,
        "ToolName": tool["name"],
        "ToolCallId": tool["call_id"],
        "ToolArgs": tool["args"],
        "ToolResult": tool["result"],
        "UserId": _first_text(attrs, sc.READ_USER) or _first_text(resource, sc.READ_USER_RESOURCE),
        "SessionId": _first_text(attrs, sc.READ_SESSION),
        "CheckpointTier": min(255, max(0, to_int(attrs.get(sc.CHECKPOINT_TIER)) or 0)),
        "CheckpointDecision": _text(attrs.get(sc.CHECKPOINT_DECISION)),
        "Approver": _text(attrs.get(sc.CHECKPOINT_APPROVER)),
        "Violation": _text(attrs.get(sc.LIMIT_VIOLATION)),
        "ErrorType": _error_type(attrs, events, status_code),
        "FinishReason": _finish_reason(attrs),
        "ChainHash": "",
    }


def span_type(attrs: Mapping[str, Any], *, parent_span_id: str = "") -> str:
    """The SpanType column: the first convention that classifies the span wins."""
    declared = _text(attrs.get(sc.SPAN_TYPE)).lower()
    if declared in SPAN_TYPES:
        return declared
    for key, table in ((sc.OPERATION, _OPERATION_TYPES),
                       (sc.OPENINFERENCE_KIND, _OPENINFERENCE_TYPES),
                       (sc.TRACELOOP_KIND, _TRACELOOP_TYPES),
                       (sc.LANGFUSE_TYPE, _LANGFUSE_TYPES)):
        value = _text(attrs.get(key))
        mapped = table.get(value.upper() if table is _OPENINFERENCE_TYPES else value.lower())
        if mapped:
            return mapped
    request_type = _text(attrs.get(sc.LLM_REQUEST_TYPE))
    if request_type:
        return "embedding" if request_type == "embedding" else "llm"
    if any(key.startswith("flightlog.checkpoint.") for key in attrs):
        return "checkpoint"
    if not parent_span_id and _text(attrs.get(sc.AGENT_NAME)):
        return "agent"
    return "other"


def apply_log_records(row: Mapping[str, Any], records: Iterable[Mapping[str, Any]]) -> dict:
    """A copy of `row` with the content and events of its span's log records merged in.

    Records are taken in time order. Their text fills InputText / OutputText only where the
    span itself had none (the current GenAI instrumentation sends the same content on both),
    and every record is appended to Events.*. The caller matches records to the row by
    trace_id/span_id; a record that arrives after its row is stored needs a re-insert of
    the row (ReplacingMergeTree keeps the latest).
    """
    ordered = sorted(records, key=lambda r: int(r.get("time_ns") or r.get("observed_time_ns")
                                                or 0))
    contributions = [log_record_contribution(record) for record in ordered]
    merged = dict(row)
    for side, column in (("input_text", "InputText"), ("output_text", "OutputText")):
        if not merged.get(column):
            merged[column] = "\n".join(c[side] for c in contributions if c[side])
    merged["Events.Timestamp"] = list(row.get("Events.Timestamp") or []) + [
        c["event"]["time_ns"] for c in contributions]
    merged["Events.Name"] = list(row.get("Events.Name") or []) + [
        c["event"]["name"] for c in contributions]
    merged["Events.Attributes"] = list(row.get("Events.Attributes") or []) + [
        _string_map(c["event"]["attributes"]) for c in contributions]
    return merged


# --- column helpers -------------------------------------------------------------------


def _tool_fields(attrs: Mapping[str, Any], kind: str) -> dict[str, str]:
    """ToolName / ToolCallId / ToolArgs / ToolResult (OpenInference: from input/output.value)."""
    is_tool = kind == "tool"
    traceloop_tool = is_tool and _text(attrs.get(sc.TRACELOOP_KIND)) == "tool"
    name = _first_text(attrs, sc.READ_TOOL_NAME)
    if not name and traceloop_tool:
        name = _text(attrs.get(sc.TRACELOOP_ENTITY_NAME))
    args = _first_text(attrs, sc.READ_TOOL_ARGUMENTS)
    result = _first_text(attrs, sc.READ_TOOL_RESULT)
    if is_tool:
        args = args or _first_text(attrs, (sc.OPENINFERENCE_INPUT, sc.TRACELOOP_INPUT))
        result = result or _first_text(attrs, (sc.OPENINFERENCE_OUTPUT, sc.TRACELOOP_OUTPUT))
    return {
        "name": name,
        "call_id": _first_text(attrs, sc.READ_TOOL_CALL_ID),
        "args": args,
        "result": result,
    }


def _agent_name(attrs: Mapping[str, Any], resource: Mapping[str, Any], kind: str) -> str:
    name = _first_text(attrs, sc.READ_AGENT_NAME) or _first_text(resource, sc.READ_AGENT_NAME_RESOURCE)
    if not name and kind == "agent":
        name = _text(resource.get(sc.SERVICE_NAME))
    return name


def _tokens(attrs: Mapping[str, Any], keys: tuple[str, ...], langfuse_key: str) -> int:
    for key in keys:
        count = to_int(attrs.get(key))
        if count is not None:
            return max(0, count)
    usage = _content.parse_json(attrs.get(sc.LANGFUSE_USAGE))
    if isinstance(usage, dict):
        return max(0, to_int(usage.get(langfuse_key)) or 0)
    return 0


def _error_type(attrs: Mapping[str, Any], events: Sequence[Mapping[str, Any]],
                status_code: int) -> str:
    declared = _text(attrs.get(sc.ERROR_TYPE))
    if declared:
        return declared
    for event in events:
        if event.get("name") == "exception":
            exception_type = _text((event.get("attributes") or {}).get(sc.EXCEPTION_TYPE))
            if exception_type:
                return exception_type
    exception_type = _text(attrs.get(sc.EXCEPTION_TYPE))
    if exception_type:
        return exception_type
    return "error" if status_code == 2 else ""


def _finish_reason(attrs: Mapping[str, Any]) -> str:
    for key in sc.READ_FINISH_REASON:
        value = _content.parse_json(attrs.get(key))
        if isinstance(value, list):
            value = value[0] if value else None
        reason = _text(value)
        if reason:
            return reason
    outputs = _content.parse_json(attrs.get(sc.OUTPUT_MESSAGES))
    if isinstance(outputs, list):  # streaming spans have it only inside the messages
        for message in outputs:
            if isinstance(message, dict) and _text(message.get("finish_reason")):
                return _text(message.get("finish_reason"))
    return ""


# --- small value helpers ----------------------------------------------------------------


def _text(value: Any) -> str:
    """Column text of an attribute value: "" for None, JSON for non-strings."""
    return "" if value is None else stringify(value)


def _first_text(attrs: Mapping[str, Any], keys: Iterable[str]) -> str:
    for key in keys:
        text = _text(attrs.get(key))
        if text:
            return text
    return ""


def _string_map(attrs: Mapping[str, Any]) -> dict[str, str]:
    return {str(key): stringify(value) for key, value in attrs.items()}


def _enum_name(names: tuple[str, ...], value: Any, default: str = "Unspecified") -> str:
    index = to_int(value)
    return names[index] if index is not None and 0 <= index < len(names) else default
