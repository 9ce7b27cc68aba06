"""Decoded spans → storable rows: normalise, inherit trace facts, price, stamp.

Pure apart from the clock, so it can be table-tested without a store.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, cast

from flightlog.collector.ingest import limits as span_limits
from flightlog.collector.ingest import mapping
from flightlog.collector.ingest import redact
from flightlog.collector.ingest import stages
from flightlog.collector.errors import BadRequest
from flightlog.collector.ingest.records import RawSpan
from flightlog.collector.pricing import PriceTable

# Run-level facts that list filters need on every row (docs/decisions/0012-trace-facts-on-every-row.md).
TRACE_FACTS = ("AgentName", "AgentVersion", "UserId", "SessionId", "TraceName")


def inherit_trace_facts(rows: list[dict[str, Any]]) -> None:
    """Fill empty run-level facts from the nearest ancestor in the same request that has them.

    Instrumentations usually set the agent, user and session only on the run's root span;
    copying them down lets "all spans of agent X / user Y" be a plain filter. A root span
    (no parent) names its trace: its SpanName becomes the TraceName that every descendant
    in the request carries. Spans whose ancestors are in another request keep what they
    carried (the SDK copies these facts onto every span itself).
    """
    for row in rows:
        if not row.get("ParentSpanId") and not row.get("TraceName") and row.get("SpanName"):
            row["TraceName"] = row["SpanName"]
    by_key = {(r["TraceId"], r["SpanId"]): r for r in rows}
    for row in rows:
        missing = [f for f in TRACE_FACTS if not row.get(f)]
        seen = {row["SpanId"]}
        parent = by_key.get((row["TraceId"], row.get("ParentSpanId", "")))
        while missing and parent is not None and parent["SpanId"] not in seen:
            seen.add(parent["SpanId"])
            for fact in list(missing):
                if parent.get(fact):
                    row[fact] = parent[fact]
                    missing.remove(fact)
            parent = by_key.get((parent["TraceId"], parent.get("ParentSpanId", "")))


def rows_from_spans(raw_spans: Sequence[Mapping[str, Any]], *, project: str, prices: PriceTable,
                    settings: Any = None) -> list[dict[str, Any]]:
    """One storable row per decoded span, in the key's project (docs/ingest-rules.md).

    Order: reject bad ids (BadRequest naming the span) → drop duplicate span ids (later
    copy wins) → limits on the raw span → normalise → cap derived texts → redact → inherit
    trace facts → price. ``settings`` (collector Settings) supplies the limits and the
    optional redactions; None means the defaults.
    """
    count = len(raw_spans)
    now_ns = time.time_ns()
    with stages.timed("limits", count):
        for index, raw in enumerate(raw_spans):
            reason = span_limits.reject_reason(raw, index)
            if reason:
                raise BadRequest(reason)
        limits = span_limits.Limits.from_settings(settings)
        limited = [(*span_limits.limit_span(raw, limits, now_ns=now_ns), flags)
                   for raw, flags in span_limits.dedupe(list(raw_spans))]
    with stages.timed("normalise", count):
        rows: list[dict[str, Any]] = []
        for span, span_flags, flags in limited:
            # The stages below fill and fix the row in place: a plain dict from here on (no copy).
            row = cast(dict[str, Any], mapping.normalise(cast(RawSpan, span), project=project))
            span_limits.record_fixups(row, flags + span_flags + span_limits.limit_row(row, limits))
            rows.append(row)
    with stages.timed("redact", count):
        rules = redact.rules_from_settings(settings)
        for row in rows:
            redact.redact_row(row, rules)
    with stages.timed("normalise"):
        inherit_trace_facts(rows)
    with stages.timed("price", count):
        now_ms = now_ns // 1_000_000
        for row in rows:
            prices.price(row)
            row["IngestTime"] = now_ms
    return rows
