"""GenAI content that arrives as OTLP log records, and how it joins its span when read.

The official GenAI instrumentations emit message content as log events carrying the trace
and span ids (DESIGN §4). They are stored as they come (``log_records``) and attached to the
span in the trace view: as events, and as the span's input/output text when the span itself
carried none. A record may arrive before or after its span; reading joins them either way.
"""

from __future__ import annotations

import json
from typing import Any

from flightlog.storage import Store
from flightlog.storage.logs import insert_log_records

from . import mapping, redact


def store_records(store: Store, project: str, records: list[dict[str, Any]], settings: Any = None) -> int:
    """Redact, then persist the records that belong to a span (same rules as span text)."""
    rules = redact.rules_from_settings(settings) if settings is not None else redact.SECRET_RULES
    cleaned = []
    for record in records:
        record, counts = redact.redact_log_record(record, rules)
        if counts:
            record["attributes"]["flightlog.redactions"] = redact.format_counts(counts)
        cleaned.append(record)
    return insert_log_records(store, project, cleaned)


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
            contribution = mapping.log_record_contribution(
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
