"""Decoded spans → storable rows: normalise, inherit trace facts, price, stamp.

Pure apart from the clock, so it can be table-tested without a store.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, cast

from flightlog import semconv as sc
from flightlog.storage import facts as trace_facts

from flightlog.collector.ingest import limits as span_limits
from flightlog.collector.ingest import mapping
from flightlog.collector.ingest import redact
from flightlog.collector.ingest import stages
from flightlog.collector.errors import BadRequest
from flightlog.collector.ingest.facts import TraceFacts, needs
from flightlog.collector.ingest.records import RawSpan
from flightlog.collector.pricing import PriceTable

# Run-level facts that list filters need on every row (docs/decisions/0012-trace-facts-on-every-row.md,
# docs/decisions/0013-trace-facts-across-requests.md).
TRACE_FACTS = trace_facts.FACTS
#: A collector-owned attribute on a span whose token counts add up its children's calls and so
#: are not counted again (its InputTokens/OutputTokens/CostUsd are 0; the sent counts stay in
#: SpanAttributes). Its value: the counts that were set aside, "input=N,output=M".
AGGREGATE_USAGE_KEY = sc.USAGE_AGGREGATE


def inherit_trace_facts(rows: list[dict[str, Any]],
                        known: Mapping[str, trace_facts.Facts] | None = None) -> dict[str, trace_facts.Facts]:
    """Fill empty run-level facts: from the nearest ancestor in the same request that has them,
    else from the trace's value (its root's, else its top-most span's; ``known`` adds what
    earlier requests said). Returns each trace's facts.

    Instrumentations usually set the agent, user and session only on the run's root or agent
    span; copying them down lets "all spans of agent X / user Y" be a plain filter. A root span
    (no parent) names its trace: its SpanName becomes the TraceName of every span of the trace.
    """
    for row in rows:
        if not row.get("ParentSpanId") and not row.get("TraceName") and row.get("SpanName"):
            row["TraceName"] = row["SpanName"]
    return trace_facts.resolve(rows, known=known)


def count_usage_once(rows: list[dict[str, Any]], leaf_usage: Mapping[str, bool]) -> None:
    """Token counts on agent, workflow and chain spans add up their calls': they are counted
    only when the trace has no counted call (``leaf_usage``: trace id → a call with usage was
    seen in an earlier request); otherwise they are set aside (see AGGREGATE_USAGE_KEY)."""
    leaves = {r["TraceId"] for r in rows if r.get("SpanType") in mapping.CALL_TYPES
              and (r.get("InputTokens") or r.get("OutputTokens"))}
    for row in rows:
        (row.get("SpanAttributes") or {}).pop(AGGREGATE_USAGE_KEY, None)  # collector-owned
        if row.get("SpanType") not in mapping.CONTAINER_TYPES:
            continue
        if not (row.get("InputTokens") or row.get("OutputTokens")):
            continue
        if row["TraceId"] not in leaves and not leaf_usage.get(row["TraceId"]):
            continue  # the aggregate is all there is: count it
        row.setdefault("SpanAttributes", {})[AGGREGATE_USAGE_KEY] = (
            f"input={row.get('InputTokens') or 0},output={row.get('OutputTokens') or 0}")
        row.update(InputTokens=0, OutputTokens=0, CostUsd=0.0, CostSource="none")


def rows_from_spans(raw_spans: Sequence[Mapping[str, Any]], *, project: str, prices: PriceTable,
                    settings: Any = None, facts: TraceFacts | None = None) -> list[dict[str, Any]]:
    """One storable row per decoded span, in the key's project (docs/ingest-rules.md)."""
    return rows_and_facts(raw_spans, project=project, prices=prices, settings=settings, facts=facts)[0]


def rows_and_facts(raw_spans: Sequence[Mapping[str, Any]], *, project: str, prices: PriceTable,
                   settings: Any = None, facts: TraceFacts | None = None) -> tuple[list[dict[str, Any]], list[list[Any]]]:
    """The storable rows of a request and the ``trace_facts`` rows it teaches.

    Order: reject bad ids (BadRequest naming the span) → drop duplicate span ids (later
    copy wins) → limits on the raw span → normalise → cap derived texts → redact → trace
    facts (this request, then what ``facts`` knows of earlier ones) → count usage once →
    price. ``settings`` (collector Settings) supplies the limits and the optional redactions;
    None means the defaults.
    """
    rows = prepare_rows(raw_spans, project=project, settings=settings)
    return finish_rows(rows, project=project, prices=prices, facts=facts)


def prepare_rows(raw_spans: Sequence[Mapping[str, Any]], *, project: str, settings: Any = None,
                 now_ns: int | None = None) -> list[dict[str, Any]]:
    """The per-span work that needs nothing but the spans and the settings (ids, limits,
    normalise, redact): pure, so ingest workers can run it in other processes
    (``--ingest-workers``, :mod:`.workers`)."""
    count = len(raw_spans)
    now_ns = time.time_ns() if now_ns is None else now_ns
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
        now_ms = now_ns // 1_000_000
        for row in rows:
            row["IngestTime"] = now_ms
    return rows


def finish_rows(rows: list[dict[str, Any]], *, project: str, prices: PriceTable,
                facts: TraceFacts | None = None) -> tuple[list[dict[str, Any]], list[list[Any]]]:
    """The work that needs the collector's state: trace facts (this request, then what ``facts``
    knows of earlier ones), usage counted once, price. Returns the rows and the ``trace_facts``
    rows they teach."""
    with stages.timed("normalise"):
        traces = sorted({r["TraceId"] for r in rows})
        known: dict[str, tuple[trace_facts.Facts, bool]] = {}
        if facts is not None:
            wanted = needs(rows, container_types=mapping.CONTAINER_TYPES, call_types=mapping.CALL_TYPES)
            known = facts.known(project, traces, wanted=wanted)
        resolved = inherit_trace_facts(rows, {t: f for t, (f, _) in known.items()})
        count_usage_once(rows, {t: leaf for t, (_, leaf) in known.items()})
        fact_rows: list[list[Any]] = []
        if facts is not None:
            leaves = {r["TraceId"] for r in rows if r.get("SpanType") in mapping.CALL_TYPES
                      and (r.get("InputTokens") or r.get("OutputTokens"))}
            for trace in traces:
                before, leaf_before = known.get(trace, ({}, False))
                after, leaf_after = resolved.get(trace, {}), leaf_before or trace in leaves
                if after != before or leaf_after != leaf_before:
                    fact_rows.extend(trace_facts.fact_row(project, trace, after, leaf_after))
                facts.remember(project, trace, after, leaf_after)
    with stages.timed("price", len(rows)):
        for row in rows:
            prices.price(row)
    return rows, fact_rows
