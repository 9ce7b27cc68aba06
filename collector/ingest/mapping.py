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

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from flightlog import semconv as sc
from flightlog.storage.schema import SPAN_COLUMNS, SpanRow

from flightlog.collector.genai import render as _content
from flightlog.collector.genai.records import log_record_contribution
from flightlog.collector.genai.render import stringify, to_int
from flightlog.collector.ingest.records import RawSpan
from flightlog.collector.pricing import client_cost, langfuse_usage, usage_detail

SPAN_KINDS = ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")
STATUS_CODES = ("Unset", "Ok", "Error")
#: The SpanType values (docs/storage/schema.md): ``agent`` is a run of an agent (the unit of
#: "runs" and success rates), ``workflow`` a run of several steps that is not an agent,
#: ``chain`` a step inside either (a graph node, a turn, a framework's internal method).
SPAN_TYPES = ("agent", "workflow", "chain", "llm", "tool", "retrieval", "embedding", "guardrail", "memory",
              "checkpoint", "other")
#: Span types whose token counts, when they carry any, add up their children's calls.
CONTAINER_TYPES = frozenset({"agent", "workflow", "chain"})
#: Span types whose token counts are the calls themselves.
CALL_TYPES = frozenset({"llm", "embedding"})

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
    "embeddings": "embedding", "embedding": "embedding",  # LiteLLM says "embedding"
    "execute_tool": "tool", "invoke_agent": "agent", "create_agent": "agent",
    "invoke_workflow": "workflow", "plan": "chain", "retrieval": "retrieval",
    "apply_guardrail": "guardrail",
}
_MEMORY_OPERATION = "_memory"  # create_memory, search_memory, update_memory, delete_memory, …
_OPENINFERENCE_TYPES = {
    "LLM": "llm", "TOOL": "tool", "AGENT": "agent", "CHAIN": "chain",
    "RETRIEVER": "retrieval", "RERANKER": "retrieval", "EMBEDDING": "embedding",
    "GUARDRAIL": "guardrail",
}
_TRACELOOP_TYPES = {"workflow": "workflow", "agent": "agent", "tool": "tool", "task": "chain"}
_LANGFUSE_TYPES = {"generation": "llm", "agent": "agent", "chain": "chain", "tool": "tool",
                   "retriever": "retrieval", "embedding": "embedding", "guardrail": "guardrail",
                   "evaluator": "other", "span": "other", "event": "other"}
# Operation name for spans whose convention names no operation (GenAI operation names).
_TYPE_OPERATIONS = {
    "llm": "chat", "embedding": "embeddings", "tool": "execute_tool",
    "agent": "invoke_agent", "workflow": "invoke_workflow", "retrieval": "retrieval",
    "guardrail": "apply_guardrail",
}
# LlamaIndex agent runs: FunctionAgent.run, ReActAgent.run, CodeActAgent.run, AgentWorkflow.run.
_LLAMA_AGENT_RUN = re.compile(r"^\w*Agent(?:Workflow)?\.run$")
_LLAMA_AGENT_NAME = re.compile(re.escape(sc.LLAMA_INDEX_AGENT_MARK) + r"'([^'\n]{1,200})'")
_TRUE = frozenset({"true", "1", "yes"})

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
    name = raw.get("name") or ""
    scope = raw.get("scope_name") or ""

    kind = span_type(attrs, parent_span_id=parent, name=name, scope=scope)
    metadata = _metadata(attrs)
    tool = _tool_fields(attrs, kind, name)
    input_text, output_text = _content.span_texts(attrs, events, kind=kind,
                                                  tool_args=tool["args"],
                                                  tool_result=tool["result"])
    cost = client_cost(attrs)
    streamed, first_chunk_ms = _streaming(attrs, events, start_ns)
    return {
        "Timestamp": start_ns,
        "TraceId": raw.get("trace_id") or "",
        "SpanId": raw.get("span_id") or "",
        "ParentSpanId": parent,
        "TraceState": raw.get("trace_state") or "",
        "SpanName": name,
        "SpanKind": _enum_name(SPAN_KINDS, raw.get("kind")),
        "ServiceName": _text(resource.get(sc.SERVICE_NAME)),
        "ResourceAttributes": _string_map(resource),
        "ScopeName": scope,
        "ScopeVersion": raw.get("scope_version") or "",
        "SpanAttributes": _string_map(attrs),
        "Duration": max(0, end_ns - start_ns),
        "StatusCode": _enum_name(STATUS_CODES, status_code, default="Unset"),
        "StatusMessage": raw.get("status_message") or _text(attrs.get(sc.LANGFUSE_STATUS_MESSAGE)),
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
        "AgentName": _agent_name(attrs, resource, kind, name, scope, metadata),
        "AgentVersion": _first_text(attrs, sc.READ_AGENT_VERSION)
        or _first_text(resource, sc.READ_AGENT_VERSION_RESOURCE),
        "Provider": _provider(attrs),
        "RequestModel": _first_text(attrs, sc.READ_REQUEST_MODEL),
        "ResponseModel": _first_text(attrs, sc.READ_RESPONSE_MODEL),
        "PromptId": _first_text(attrs, sc.READ_PROMPT_ID),
        "PromptVersion": _first_text(attrs, sc.READ_PROMPT_VERSION),
        "PromptHash": _first_text(attrs, sc.READ_PROMPT_HASH),
        "InputTokens": _tokens(attrs, sc.READ_INPUT_TOKENS, sc.LANGFUSE_USAGE_KEYS["input"]),
        "OutputTokens": _tokens(attrs, sc.READ_OUTPUT_TOKENS, sc.LANGFUSE_USAGE_KEYS["output"]),
        "CostUsd": cost if cost is not None else 0.0,
        "CostSource": "client" if cost is not None else "none",
        "PriceVersion": "",
        "InputText": input_text,
        "OutputText": output_text,
        "ToolName": tool["name"],
        "ToolCallId": tool["call_id"],
        "ToolArgs": tool["args"],
        "ToolResult": tool["result"],
        "UserId": _identity(attrs, sc.READ_USER) or _first_text(resource, sc.READ_USER_RESOURCE)
        or _identity(metadata, sc.LANGCHAIN_METADATA_KEYS["user"]) or _identity(attrs, sc.BAGGAGE_KEYS["user"]),
        "SessionId": _identity(attrs, sc.READ_SESSION) or _identity(metadata, sc.LANGCHAIN_METADATA_KEYS["session"])
        or _identity(attrs, sc.BAGGAGE_KEYS["session"]),
        "CheckpointTier": min(255, max(0, to_int(attrs.get(sc.CHECKPOINT_TIER)) or 0)),
        "CheckpointDecision": _text(attrs.get(sc.CHECKPOINT_DECISION))
        or (_first_text(attrs, sc.READ_GUARDRAIL_DECISION) if kind == "guardrail" else ""),
        "Approver": _text(attrs.get(sc.CHECKPOINT_APPROVER)),
        "Violation": _text(attrs.get(sc.LIMIT_VIOLATION))
        or (_first_text(attrs, sc.READ_GUARDRAIL_REASON) if kind == "guardrail" else ""),
        "ErrorType": _error_type(attrs, events, status_code),
        "FinishReason": _finish_reason(attrs),
        "ChainHash": "",
        "Streamed": streamed,
        "TimeToFirstChunkMs": first_chunk_ms,
    }


def span_type(attrs: Mapping[str, Any], *, parent_span_id: str = "", name: str = "", scope: str = "") -> str:
    """The SpanType column: the first convention that classifies the span wins.

    Framework refinements (docs/connect/index.md): a LangGraph graph run (a CHAIN without a
    node) and a LlamaIndex agent run (``FunctionAgent.run``) are agents; the OpenAI Agents
    SDK's trace span (an AGENT that names no agent) is a workflow; LlamaIndex's private
    methods (``OpenAI._prepare_chat_with_tools``, the inner embedding) are steps, not calls.
    """
    declared = _text(attrs.get(sc.SPAN_TYPE)).lower()
    if declared in SPAN_TYPES:
        return declared
    operation = _text(attrs.get(sc.OPERATION)).lower()
    if operation in _OPERATION_TYPES:
        return _OPERATION_TYPES[operation]
    if operation.endswith(_MEMORY_OPERATION):
        return "memory"
    openinference = _text(attrs.get(sc.OPENINFERENCE_KIND)).upper()
    if openinference in _OPENINFERENCE_TYPES:
        return _openinference_type(_OPENINFERENCE_TYPES[openinference], attrs, name, scope)
    for key, table in ((sc.TRACELOOP_KIND, _TRACELOOP_TYPES), (sc.LANGFUSE_TYPE, _LANGFUSE_TYPES)):
        mapped = table.get(_text(attrs.get(key)).lower())
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


def _openinference_type(kind: str, attrs: Mapping[str, Any], name: str, scope: str) -> str:
    if kind == "chain":
        if scope == sc.LLAMA_INDEX_SCOPE and _LLAMA_AGENT_RUN.match(name):
            return "agent"
        metadata = _metadata(attrs)
        if (_first_text(metadata, sc.LANGCHAIN_METADATA_KEYS["integration"]) == sc.LANGGRAPH_INTEGRATION
                and not _first_text(metadata, sc.LANGCHAIN_METADATA_KEYS["node"])):
            return "agent"  # the graph itself, named by compile(name=...)
    elif kind in CALL_TYPES and scope == sc.LLAMA_INDEX_SCOPE and "._" in name:
        return "chain"
    elif kind == "agent" and scope == sc.OPENAI_AGENTS_SCOPE and not (
            _first_text(attrs, sc.READ_AGENT_NAME) or _text(attrs.get(sc.OPENINFERENCE_GRAPH_NODE))):
        return "workflow"
    return kind


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


def _tool_fields(attrs: Mapping[str, Any], kind: str, span_name: str) -> dict[str, str]:
    """ToolName / ToolCallId / ToolArgs / ToolResult of a tool span (and a guardrail's name).

    Arguments and results that only come as a framework's call payload are unwrapped: the
    ``{"args": [], "kwargs": {…}}`` of OpenLLMetry and LlamaIndex become the kwargs object,
    LangChain's serialised ToolMessage its content (and call id), LlamaIndex's ToolOutput its
    raw output.
    """
    is_tool = kind == "tool"
    name = _first_text(attrs, sc.READ_TOOL_NAME)
    if not name and is_tool:
        if _text(attrs.get(sc.TRACELOOP_KIND)) == "tool":
            name = _text(attrs.get(sc.TRACELOOP_ENTITY_NAME))
        elif _text(attrs.get(sc.LANGFUSE_TYPE)) == "tool":
            name = span_name
    if not name and kind == "guardrail":
        name = _text(attrs.get(sc.GUARDRAIL_NAME))
    args = _first_text(attrs, sc.READ_TOOL_ARGUMENTS)
    result = _first_text(attrs, sc.READ_TOOL_RESULT)
    call_id = _first_text(attrs, sc.READ_TOOL_CALL_ID)
    if is_tool:
        if not args:
            args = _call_arguments(_first_text(attrs, (sc.OPENINFERENCE_INPUT, sc.TRACELOOP_INPUT,
                                                       sc.LANGFUSE_INPUT)))
        if not result:
            result, found_id = _call_result(_first_text(attrs, (sc.OPENINFERENCE_OUTPUT, sc.TRACELOOP_OUTPUT,
                                                                sc.LANGFUSE_OUTPUT)))
            call_id = call_id or found_id
    return {"name": name, "call_id": call_id, "args": args, "result": result}


def _call_arguments(text: str) -> str:
    data = _content.parse_json(text)
    if isinstance(data, dict) and set(data) <= {"args", "kwargs"} and isinstance(data.get("kwargs"), dict):
        args = data.get("args") or []
        if not args:
            return json.dumps(data["kwargs"], ensure_ascii=False)
    return text


def _call_result(text: str) -> tuple[str, str]:
    """(result, tool-call id) of a tool's output payload."""
    data = _content.parse_json(text)
    if isinstance(data, dict):
        message = data.get("data") if data.get("type") == "tool" else None
        if isinstance(message, dict) and "content" in message:  # LangChain ToolMessage
            return _text(message.get("content")), _text(message.get("tool_call_id"))
        if "raw_output" in data and "tool_name" in data:  # LlamaIndex ToolOutput
            return _text(data.get("raw_output")), ""
    return text, ""


def _metadata(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """LangChain's run metadata (OpenInference ``metadata``) as a dict ({} if none)."""
    data = _content.parse_json(attrs.get(sc.OPENINFERENCE_METADATA))
    return data if isinstance(data, dict) else {}


def _identity(attrs: Mapping[str, Any], keys: Iterable[str]) -> str:
    """The first user or session id among ``keys``, skipping values Logfire scrubbed."""
    for key in keys:
        text = _text(attrs.get(key))
        if text and not text.startswith(sc.SCRUBBED_PREFIX):
            return text
    return ""


def _agent_name(attrs: Mapping[str, Any], resource: Mapping[str, Any], kind: str, span_name: str,
                scope: str, metadata: Mapping[str, Any]) -> str:
    """The agent's name: an *.agent.name key, LangChain's lc_agent_name, then for an agent span
    its graph node or its own name (``invoke_agent X`` → X). Never the service name: the run's
    agent is resolved per trace (docs/decisions/0013-trace-facts-across-requests.md)."""
    name = (_first_text(attrs, sc.READ_AGENT_NAME) or _first_text(resource, sc.READ_AGENT_NAME_RESOURCE)
            or _first_text(metadata, sc.LANGCHAIN_METADATA_KEYS["agent_name"]))
    if name:
        return name
    if kind == "agent":
        node = _text(attrs.get(sc.OPENINFERENCE_GRAPH_NODE))
        if node:
            return node
        operation = _text(attrs.get(sc.OPERATION))
        if operation:  # GenAI names agent spans "invoke_agent {gen_ai.agent.name}"
            return span_name[len(operation) + 1:].strip() if span_name.startswith(operation + " ") else ""
        if scope != sc.LLAMA_INDEX_SCOPE and span_name:
            return span_name
    if scope == sc.LLAMA_INDEX_SCOPE:
        found = _LLAMA_AGENT_NAME.search(_text(attrs.get(sc.OPENINFERENCE_INPUT)))
        if found:
            return found.group(1)
    return ""


def _provider(attrs: Mapping[str, Any]) -> str:
    provider = _first_text(attrs, sc.READ_PROVIDER)
    if not provider:
        prefix, slash, _ = _text(attrs.get(sc.LITELLM_PROVIDER_MODEL)).partition("/")
        provider = prefix if slash else ""
    return provider


def _tokens(attrs: Mapping[str, Any], keys: tuple[str, ...], langfuse_keys: tuple[str, ...]) -> int:
    for key in keys:
        count = to_int(attrs.get(key))
        if count is not None:
            return max(0, count)
    return max(0, usage_detail(langfuse_usage(attrs), langfuse_keys) or 0)


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in _TRUE) or (
        isinstance(value, int) and not isinstance(value, bool) and value == 1)


def _streaming(attrs: Mapping[str, Any], events: Sequence[Mapping[str, Any]], start_ns: int) -> tuple[bool, float]:
    """(Streamed, TimeToFirstChunkMs): a stream flag of any convention, OpenInference's
    ``"stream": true`` request parameter, LangChain's streamed generation chunks; the time to
    the first chunk from a seconds attribute, the first chunk event, or Langfuse's
    completion start time."""
    flag: bool | None = None
    for key in sc.READ_STREAM:
        if attrs.get(key) is not None and attrs.get(key) != "":
            flag = _truthy(attrs.get(key))
            break
    if flag is None:
        params = _content.parse_json(attrs.get(sc.OPENINFERENCE_INVOCATION_PARAMETERS))
        if isinstance(params, dict) and sc.INVOCATION_STREAM in params:
            flag = _truthy(params.get(sc.INVOCATION_STREAM))
    output = attrs.get(sc.OPENINFERENCE_OUTPUT)
    if isinstance(output, str) and sc.LANGCHAIN_STREAM_CHUNK in output:
        flag = True  # LangChain records "stream": false for .stream() calls
    first_ms = 0.0
    seconds = next((v for v in (_content.to_float(attrs.get(k)) for k in sc.READ_TIME_TO_FIRST_CHUNK_S)
                    if v is not None and v >= 0), None)
    if seconds is not None:
        first_ms = seconds * 1000.0
    else:
        chunk_times = [int(e.get("time_ns") or 0) for e in events
                       if e.get("name") in (sc.EVENT_FIRST_TOKEN, sc.EVENT_COMPLETION_CHUNK)]
        if chunk_times:
            flag = True
            first_ms = max(0, min(chunk_times) - start_ns) / 1e6 if start_ns else 0.0
        else:
            first = _iso_ns(_content.parse_json(attrs.get(sc.LANGFUSE_COMPLETION_START)))
            if first is not None and start_ns and first >= start_ns:
                flag = True if flag is None else flag
                first_ms = (first - start_ns) / 1e6
    if first_ms > 0 and flag is None:
        flag = True
    return bool(flag), round(first_ms, 3)


def _iso_ns(value: Any) -> int | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


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
    return "error" if status_code == 2 or _text(attrs.get(sc.LANGFUSE_LEVEL)).upper() == "ERROR" else ""


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
    return {key if type(key) is str else str(key): value if type(value) is str else stringify(value)
            for key, value in attrs.items()}


def _enum_name(names: tuple[str, ...], value: Any, default: str = "Unspecified") -> str:
    index = to_int(value)
    return names[index] if index is not None and 0 <= index < len(names) else default
