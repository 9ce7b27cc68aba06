"""Control events as spans: every proposal, decision, expiry, pause and policy change becomes a
span of the project, written through the spool like ingested spans and so chained with them
(docs/audit.md). An approval's events join the trace of the checkpoint that asked for it, as
children of the checkpoint span, so the trace page shows who decided what and when.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from flightlog import semconv as sc
from flightlog.storage.schema import SpanRow

Emit = Callable[[list[SpanRow]], Any]
SERVICE = "flightlog-collector"


def event_row(project: str, name: str, attributes: Mapping[str, Any], *, trace_id: str = "",
              parent_span_id: str = "", agent: str = "", agent_version: str = "", text: str = "",
              decision: str = "", approver: str = "", tier: int = 0) -> SpanRow:
    """One control event as a ``spans`` row (a zero-length span at the moment it happened)."""
    now = time.time_ns()
    attrs = {k: "" if v is None else (v if isinstance(v, str) else str(v)) for k, v in attributes.items()}
    attrs[sc.CONTROL_EVENT] = name
    return {
        "Project": project, "Timestamp": now, "TraceId": trace_id or os.urandom(16).hex(),
        "SpanId": os.urandom(8).hex(), "ParentSpanId": parent_span_id, "TraceState": "", "SpanName": name,
        "SpanKind": "Internal", "ServiceName": SERVICE, "ResourceAttributes": {sc.SERVICE_NAME: SERVICE},
        "ScopeName": "flightlog.control", "ScopeVersion": "1", "SpanAttributes": attrs, "Duration": 0,
        "StatusCode": "Ok", "StatusMessage": "", "Events.Timestamp": [], "Events.Name": [], "Events.Attributes": [],
        "Links.TraceId": [], "Links.SpanId": [], "Links.TraceState": [], "Links.Attributes": [],
        "SpanType": sc.CONTROL_SPAN_TYPE, "Operation": name, "AgentName": agent, "AgentVersion": agent_version,
        "OutputText": text, "CheckpointTier": tier, "CheckpointDecision": decision, "Approver": approver,
        "CostSource": "none",
    }
