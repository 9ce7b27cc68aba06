"""The content an OTLP log record adds to its span, and joining records to spans when read.

The official GenAI instrumentations emit message content as log events that carry the trace
and span ids. They are stored as they come (``log_records``) and attached to the span in the
trace view: as events, and as the span's input/output text when the span itself carried
none. A record may arrive before or after its span; reading joins them either way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flightlog.collector.genai.render import render_event


def log_record_contribution(record: Mapping[str, Any]) -> dict[str, Any]:
    """What one decoded OTLP log record adds to its span.

    `record` holds `trace_id`, `span_id`, `event_name`, `attributes` (dict), `body` (decoded
    AnyValue or None) and optionally `time_ns` / `observed_time_ns`. Returns
    `{"input_text": str, "output_text": str, "event": {"time_ns", "name", "attributes"}}`:
    the rendered content (GenAI `gen_ai.client.inference.operation.details`, or the older
    per-message events `gen_ai.*.message` / `gen_ai.choice`) and the record as a span event
    (its body, if any, JSON-encoded under the attribute `body`).
    """
    name = record.get("event_name") or ""
    attributes = dict(record.get("attributes") or {})
    body = record.get("body")
    input_text, output_text = render_event(name, body, attributes)
    event_attributes = dict(attributes)
    if body not in (None, "", {}, []):
        event_attributes["body"] = body
    time_ns = record.get("time_ns") or record.get("observed_time_ns") or 0
    return {
        "input_text": input_text,
        "output_text": output_text,
        "event": {"time_ns": int(time_ns), "name": name, "attributes": event_attributes},
    }


def _decoded(value: str) -> Any:
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def attach_to_spans(spans: list[dict[str, Any]], records: list[dict[str, Any]]) -> None:
    """Add each record to its span (API dicts) as an event, and fill empty content from it."""
    by_span: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        by_span.setdefault(rec["span_id"], []).append(rec)
    for span in spans:
        recs = by_span.get(span["span_id"])
        if not recs:
            continue
        inputs, outputs = [], []
        for rec in recs:
            span.setdefault("events", []).append(
                {"timestamp_ns": rec["time_ns"], "name": rec["event_name"], "attributes": rec["attributes"],
                 "body": rec["body"], "source": "log"}
            )
            contribution = log_record_contribution(
                {"event_name": rec["event_name"], "body": _decoded(rec["body"]) if rec["body"] else None,
                 "attributes": {k: _decoded(v) for k, v in rec["attributes"].items()}}
            )
            if contribution.get("input_text"):
                inputs.append(contribution["input_text"])
            if contribution.get("output_text"):
                outputs.append(contribution["output_text"])
        if inputs and not span.get("input_text"):
            span["input_text"] = "\n".join(inputs)
        if outputs and not span.get("output_text"):
            span["output_text"] = "\n".join(outputs)
