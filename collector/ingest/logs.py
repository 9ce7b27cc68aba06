"""GenAI content that arrives as OTLP log records: redacted, spooled and stored like spans.

The official GenAI instrumentations emit message content as log events carrying the trace
and span ids (docs/ingest-rules.md). They are stored in ``log_records`` and joined to their
span when the trace is read (:func:`flightlog.collector.genai.records.attach_to_spans`).
"""

from __future__ import annotations

from typing import Any

from flightlog.storage.logs import log_rows

from flightlog.collector.genai.records import log_record_contribution
from flightlog.collector.ingest import redact


def records_to_rows(project: str, records: list[dict[str, Any]], settings: Any = None) -> list[list[Any]]:
    """Redact the records (same rules as span text), then the ``log_records`` rows of those that
    belong to a span; the writer spools and stores them like spans."""
    rules = redact.rules_from_settings(settings) if settings is not None else redact.SECRET_RULES
    cleaned = []
    for record in records:
        record, counts = redact.redact_log_record(record, rules)
        if counts:
            record["attributes"][redact.REDACTIONS_KEY] = redact.format_counts(counts)
        contribution = log_record_contribution(record)  # searchable like span text (storage/filters.py)
        record["input_text"] = contribution["input_text"]
        record["output_text"] = contribution["output_text"]
        cleaned.append(record)
    return log_rows(project, cleaned)
