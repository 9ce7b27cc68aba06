"""Decoded spans → storable rows: normalise, inherit trace facts, price, stamp.

Pure apart from the clock, so it can be table-tested without a store.
"""

from __future__ import annotations

import time
from typing import Any

from . import mapping
from .pricing import PriceTable

# Run-level facts that list filters need on every row (DESIGN §3: no joins at read time).
TRACE_FACTS = ("AgentName", "AgentVersion", "UserId", "SessionId")


def inherit_trace_facts(rows: list[dict[str, Any]]) -> None:
    """Fill empty run-level facts from the nearest ancestor in the same request that has them.

    Instrumentations usually set the agent, user and session only on the run's root span;
    copying them down lets "all spans of agent X / user Y" be a plain filter. Spans whose
    ancestors are in another request keep what they carried (the SDK copies these facts
    onto every span itself).
    """
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


def rows_from_spans(raw_spans: list[dict[str, Any]], *, project: str, prices: PriceTable) -> list[dict[str, Any]]:
    """One storable row per decoded span, in the key's project."""
    now_ms = time.time_ns() // 1_000_000
    rows = [mapping.normalise(raw, project=project) for raw in raw_spans]
    inherit_trace_facts(rows)
    for row in rows:
        prices.price(row)
        row["IngestTime"] = now_ms
    return rows
