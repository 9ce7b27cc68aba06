"""Column lists of the tables the collector writes, in insert order.

Kept next to the migrations so that a new column is added in one package.
"""

from __future__ import annotations

import re
from typing import Any, TypedDict

_StrMap = dict[str, str]

#: One row of ``spans`` as the collector builds it, in insert order: the one definition of the
#: span columns (migrations 0001 and 0004 create them). ``Timestamp`` and ``Events.Timestamp``
#: are unix nanoseconds, ``Duration`` nanoseconds, ``IngestTime`` milliseconds (0 = now).
SpanRow = TypedDict("SpanRow", {
    "Project": str, "Timestamp": int, "TraceId": str, "SpanId": str, "ParentSpanId": str,
    "TraceState": str, "SpanName": str, "SpanKind": str, "ServiceName": str,
    "ResourceAttributes": _StrMap, "ScopeName": str, "ScopeVersion": str, "SpanAttributes": _StrMap,
    "Duration": int, "StatusCode": str, "StatusMessage": str,
    "Events.Timestamp": list[int], "Events.Name": list[str], "Events.Attributes": list[_StrMap],
    "Links.TraceId": list[str], "Links.SpanId": list[str], "Links.TraceState": list[str],
    "Links.Attributes": list[_StrMap],
    "SpanType": str, "Operation": str, "AgentName": str, "AgentVersion": str, "Provider": str,
    "RequestModel": str, "ResponseModel": str, "PromptId": str, "PromptVersion": str, "PromptHash": str,
    "InputTokens": int, "OutputTokens": int, "CostUsd": float, "CostSource": str, "PriceVersion": str,
    "InputText": str, "OutputText": str, "ToolName": str, "ToolCallId": str, "ToolArgs": str,
    "ToolResult": str, "UserId": str, "SessionId": str, "CheckpointTier": int, "CheckpointDecision": str,
    "Approver": str, "Violation": str, "ErrorType": str, "FinishReason": str,
    "IngestTime": int, "ChainHash": str,
    # 0004: appended, so spool segments written before the upgrade are padded on insert.
    "TraceName": str, "CachedInputTokens": int, "ReasoningTokens": int,
    # 0018: whether the call streamed, and the time to its first chunk.
    "Streamed": bool, "TimeToFirstChunkMs": float,
}, total=False)

SPAN_COLUMNS: tuple[str, ...] = tuple(SpanRow.__annotations__)

_DEFAULTS: dict[str, Any] = {
    "ResourceAttributes": {}, "SpanAttributes": {},
    "Events.Timestamp": [], "Events.Name": [], "Events.Attributes": [],
    "Links.TraceId": [], "Links.SpanId": [], "Links.TraceState": [], "Links.Attributes": [],
    "Duration": 0, "InputTokens": 0, "OutputTokens": 0, "CostUsd": 0.0, "CheckpointTier": 0,
    "Timestamp": 0, "IngestTime": 0, "CachedInputTokens": 0, "ReasoningTokens": 0,
    "Streamed": False, "TimeToFirstChunkMs": 0.0,
}


def span_row_values(row: SpanRow | dict[str, Any]) -> list[Any]:
    """Order a span row dict by :data:`SPAN_COLUMNS`, filling absent columns with defaults."""
    return [row.get(col, _DEFAULTS.get(col, "")) for col in SPAN_COLUMNS]


def pad_span_values(values: list[Any]) -> list[Any]:
    """A row of values written by an older SPAN_COLUMNS (shorter), completed with defaults."""
    missing = SPAN_COLUMNS[len(values):]
    return list(values) + [_DEFAULTS.get(col, "") for col in missing]


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def snake(name: str) -> str:
    """``TraceId`` → ``trace_id``; ``Events.Name`` → ``events_name`` (the API's field names)."""
    return _CAMEL.sub("_", name.replace(".", "")).lower()
