"""The typed records ingest passes between its stages: what :mod:`.decode` makes of an OTLP
request, before :mod:`.limits` and :mod:`.mapping` turn it into a
:data:`~flightlog.storage.schema.SpanRow`.

Attribute values are decoded ``AnyValue``s: str, bool, int, float, bytes, lists and dicts of
those (OTLP arrays and key-value lists).
"""

from __future__ import annotations

from typing import Any, TypedDict

Attributes = dict[str, Any]


class RawEvent(TypedDict):
    time_ns: int
    name: str
    attributes: Attributes


class RawLink(TypedDict):
    trace_id: str
    span_id: str
    trace_state: str
    attributes: Attributes


class RawSpan(TypedDict):
    """One decoded span; ids are lower-case hex, times unix nanoseconds, enums OTLP integers."""

    trace_id: str
    span_id: str
    parent_span_id: str
    trace_state: str
    name: str
    kind: int
    start_ns: int
    end_ns: int
    attributes: Attributes
    resource: Attributes
    scope_name: str
    scope_version: str
    status_code: int
    status_message: str
    events: list[RawEvent]
    links: list[RawLink]


class RawLogRecord(TypedDict):
    """One decoded log record; only records with a trace and span id are stored."""

    trace_id: str
    span_id: str
    time_ns: int
    event_name: str
    severity_text: str
    body: Any
    attributes: Attributes
    resource: Attributes
    scope_name: str
