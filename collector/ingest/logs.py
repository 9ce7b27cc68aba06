"""GenAI content that arrives as OTLP log records: redacted and stored as it comes.

The official GenAI instrumentations emit message content as log events carrying the trace
and span ids (docs/ingest-rules.md). They are stored in ``log_records`` and joined to their
span when the trace is read (:func:`flightlog.collector.genai.records.attach_to_spans`).
"""

from __future__ import annotations

from typing import Any

from flightlog.storage import Store
from flightlog.storage.logs import insert_log_records

from flightlog.collector.ingest import redact


def store_records(store: Store, project: str, records: list[dict[str, Any]], settings: Any = None) -> int:
    """Redact, then persist the records that belong to a span (same rules as span text)."""
    rules = redact.rules_from_settings(settings) if settings is not None else redact.SECRET_RULES
    cleaned = []
    for record in records:
        record, counts = redact.redact_log_record(record, rules)
        if counts:
            record["attributes"][redact.REDACTIONS_KEY] = redact.format_counts(counts)
        cleaned.append(record)
    return insert_log_records(store, project, cleaned)
