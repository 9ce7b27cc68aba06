"""Column lists of the tables the collector writes, in insert order.

Kept next to the migrations so that a new column is added in one package.
"""

from __future__ import annotations

import re
from typing import Any

SPAN_COLUMNS: tuple[str, ...] = (
    "Project", "Timestamp", "TraceId", "SpanId", "ParentSpanId", "TraceState", "SpanName",
    "SpanKind", "ServiceName", "ResourceAttributes", "ScopeName", "ScopeVersion",
    "SpanAttributes", "Duration", "StatusCode", "StatusMessage",
    "Events.Timestamp", "Events.Name", "Events.Attributes",
    "Links.TraceId", "Links.SpanId", "Links.TraceState", "Links.Attributes",
    "SpanType", "Operation", "AgentName", "AgentVersion", "Provider", "RequestModel",
    "ResponseModel", "PromptId", "PromptVersion", "PromptHash", "InputTokens", "OutputTokens",
    "CostUsd", "CostSource", "PriceVersion", "InputText", "OutputText", "ToolName",
    "ToolCallId", "ToolArgs", "ToolResult", "UserId", "SessionId", "CheckpointTier",
    "CheckpointDecision", "Approver", "Violation", "ErrorType", "FinishReason",
    "IngestTime", "ChainHash",
    # 0004: appended, so spool segments written before the upgrade are padded on insert.
    "TraceName", "CachedInputTokens", "ReasoningTokens",
)

_DEFAULTS: dict[str, Any] = {
    "ResourceAttributes": {}, "SpanAttributes": {},
    "Events.Timestamp": [], "Events.Name": [], "Events.Attributes": [],
    "Links.TraceId": [], "Links.SpanId": [], "Links.TraceState": [], "Links.Attributes": [],
    "Duration": 0, "InputTokens": 0, "OutputTokens": 0, "CostUsd": 0.0, "CheckpointTier": 0,
    "Timestamp": 0, "IngestTime": 0, "CachedInputTokens": 0, "ReasoningTokens": 0,
}


def span_row_values(row: dict[str, Any]) -> list[Any]:
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
