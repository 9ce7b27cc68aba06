"""Re-price stored spans after a price change, and rebuild the rollups they feed.

The storage layer does not know price tables (that is :mod:`flightlog.collector.pricing`);
it takes :class:`PriceWindow` objects: for a range of UTC days, the rates of each model
name seen in the store. One ``ALTER TABLE spans UPDATE`` per window sets CostUsd,
CostSource and PriceVersion of the spans whose cost was computed (or unknown) — a cost
sent by the client is never touched. Mutations do not pass through materialized views,
so the rollup rows of every day in the range are then deleted and re-aggregated from the
spans (each span once). Run it where the store can be opened: with the embedded engine,
while the collector is stopped (one process per data directory).

Spans ingested into a day while that day's rollup is being rebuilt may be counted twice
in the rollup (the view and the rebuild both see them); run it at a quiet time or re-run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from flightlog.semconv import READ_CACHE_WRITE_TOKENS

from .store import Store

MODEL = "if(ResponseModel != '', ResponseModel, RequestModel)"
Rates = tuple[float, float, float, float, float]  # USD per million: input, output, cached input, reasoning, cache write
MUTATION_SETTINGS = {"mutations_sync": 2}

# Cache-write tokens (part of the input count) are not a column: they are read from the span's
# attributes under the keys the collector's pricing reads, first present wins.

_UNCACHED = "(InputTokens - least(CachedInputTokens, InputTokens))"
_WRITTEN = ("least(toUInt64(greatest(0, multiIf("
            + ", ".join(f"mapContains(SpanAttributes, '{k}'), toFloat64OrZero(SpanAttributes['{k}'])"
                        for k in READ_CACHE_WRITE_TOKENS)
            + f", 0))), {_UNCACHED})")
_COST = (
    "round(("
    f"({_UNCACHED} - {_WRITTEN}) * transform({MODEL}, {{models:Array(String)}}, {{r_in:Array(Float64)}}, 0.)"
    f" + {_WRITTEN} * transform({MODEL}, {{models:Array(String)}}, {{r_write:Array(Float64)}}, 0.)"
    f" + least(CachedInputTokens, InputTokens) * transform({MODEL}, {{models:Array(String)}}, {{r_cached:Array(Float64)}}, 0.)"
    f" + (OutputTokens - least(ReasoningTokens, OutputTokens))"
    f" * transform({MODEL}, {{models:Array(String)}}, {{r_out:Array(Float64)}}, 0.)"
    f" + least(ReasoningTokens, OutputTokens) * transform({MODEL}, {{models:Array(String)}}, {{r_reason:Array(Float64)}}, 0.)"
    ") / 1000000, 12)"
)
_REPRICED = (
    "Project = {project:String} AND CostSource IN ('computed', 'unknown')"
    " AND (InputTokens > 0 OR OutputTokens > 0)"
    " AND Timestamp >= toDateTime64({lo:Int64}, 9, 'UTC') AND Timestamp < toDateTime64({hi:Int64}, 9, 'UTC')"
)

# The rollup SELECTs of migration 0006, over one project's spans in [lo, hi), each span once.
_HOURLY = """INSERT INTO usage_hourly
SELECT Project, toStartOfHour(Timestamp, 'UTC') AS Hour, if(ResponseModel != '', ResponseModel, RequestModel) AS Model,
    AgentName, AgentVersion, PromptId, PromptVersion, SpanType,
    count() AS Spans, countIf(SpanType IN ('llm', 'embedding')) AS Calls, countIf(StatusCode = 'Error') AS Errors,
    countIf(CostSource = 'unknown') AS UnknownPriced, sum(InputTokens) AS InputTokens, sum(OutputTokens) AS OutputTokens,
    sum(CachedInputTokens) AS CachedInputTokens, sum(ReasoningTokens) AS ReasoningTokens, sum(CostUsd) AS CostUsd,
    quantilesTDigestState(0.5, 0.9, 0.95, 0.99)(Duration) AS Latency
FROM (
    SELECT Project, Timestamp, ResponseModel, RequestModel, AgentName, AgentVersion, PromptId, PromptVersion, SpanType,
           StatusCode, CostSource, InputTokens, OutputTokens, CachedInputTokens, ReasoningTokens, CostUsd, Duration
    FROM spans
    WHERE Project = {project:String}
      AND Timestamp >= toDateTime64({lo:Int64}, 9, 'UTC') AND Timestamp < toDateTime64({hi:Int64}, 9, 'UTC')
    ORDER BY IngestTime DESC LIMIT 1 BY TraceId, SpanId
)
GROUP BY Project, Hour, Model, AgentName, AgentVersion, PromptId, PromptVersion, SpanType"""
_USERS = """INSERT INTO usage_users_daily
SELECT Project, toDate(Timestamp, 'UTC') AS Day, UserId, if(ResponseModel != '', ResponseModel, RequestModel) AS Model,
    AgentName, count() AS Spans, countIf(SpanType IN ('llm', 'embedding')) AS Calls,
    countIf(StatusCode = 'Error') AS Errors, sum(InputTokens) AS InputTokens, sum(OutputTokens) AS OutputTokens,
    sum(CostUsd) AS CostUsd
FROM (
    SELECT Project, Timestamp, UserId, ResponseModel, RequestModel, AgentName, SpanType, StatusCode,
           InputTokens, OutputTokens, CostUsd
    FROM spans
    WHERE Project = {project:String}
      AND Timestamp >= toDateTime64({lo:Int64}, 9, 'UTC') AND Timestamp < toDateTime64({hi:Int64}, 9, 'UTC')
    ORDER BY IngestTime DESC LIMIT 1 BY TraceId, SpanId
)
GROUP BY Project, Day, UserId, Model, AgentName"""


@dataclass(frozen=True)
class PriceWindow:
    """Rates in force for spans starting on UTC days [start, end); None = open end.

    ``rates`` maps a model name as stored (ResponseModel, else RequestModel) to its rates;
    a model absent from it is priced "unknown" (cost 0).
    """

    start: date | None
    end: date | None
    version: str
    rates: Mapping[str, Rates] = field(default_factory=dict)


@dataclass
class RepriceReport:
    """What :func:`reprice` did."""

    spans_repriced: int = 0
    unknown_after: int = 0
    days_rebuilt: int = 0
    windows: int = 0


def _day_seconds(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp())


def models_seen(store: Store, project: str) -> list[str]:
    """Every model name the project's spans carry (from the hourly rollup)."""
    rows = store.query_rows(
        "SELECT DISTINCT Model FROM usage_hourly WHERE Project = {p:String} AND Model != '' ORDER BY Model LIMIT 100000",
        {"p": project},
    )
    return [r[0] for r in rows]


def _clip(window: PriceWindow, since: date | None, until: date | None) -> tuple[int, int] | None:
    """The window ∩ [since, until) as unix seconds, or None when empty."""
    lo = max([d for d in (window.start, since) if d is not None], default=date(1970, 1, 1))
    hi = min([d for d in (window.end, until) if d is not None], default=date(2262, 1, 1))
    return (_day_seconds(lo), _day_seconds(hi)) if lo < hi else None


def reprice(
    store: Store,
    project: str,
    windows: Sequence[PriceWindow],
    *,
    since: date | None = None,
    until: date | None = None,
    event_id: str = "",
) -> RepriceReport:
    """Re-price the project's computed/unknown spans in [since, until) and rebuild its rollups.

    The new cost of every span it changes is recorded in ``chain_cost_revisions`` under
    ``event_id`` (a recompute is itself a recorded, verifiable event; docs/audit.md).
    """
    report = RepriceReport()
    touched: list[tuple[int, int]] = []
    for window in windows:
        bounds = _clip(window, since, until)
        if bounds is None:
            continue
        report.windows += 1
        models = sorted(window.rates)
        rates = [window.rates[m] for m in models]
        params: dict[str, Any] = {
            "project": project, "lo": bounds[0], "hi": bounds[1], "version": window.version,
            "models": models,
            "r_in": [float(r[0]) for r in rates], "r_out": [float(r[1]) for r in rates],
            "r_cached": [float(r[2]) for r in rates], "r_reason": [float(r[3]) for r in rates],
            "r_write": [float(r[4]) for r in rates],
        }
        counts = store.query_rows(
            f"SELECT count(), countIf(NOT has({{models:Array(String)}}, {MODEL})) FROM spans WHERE {_REPRICED}",
            params,
        )[0]
        if not counts[0]:
            continue
        report.spans_repriced += int(counts[0])
        report.unknown_after += int(counts[1])
        store.command_rendered(
            "ALTER TABLE spans UPDATE"
            f" CostUsd = if(has({{models:Array(String)}}, {MODEL}), {_COST}, 0.),"
            f" CostSource = if(has({{models:Array(String)}}, {MODEL}), 'computed', 'unknown'),"
            " PriceVersion = {version:String}"
            f" WHERE {_REPRICED}",
            params,
            settings=MUTATION_SETTINGS,
        )
        _record_revisions(store, params, event_id or "recompute")
        touched.append(bounds)
    report.days_rebuilt = rebuild_rollups(store, project, touched)
    return report


REVISION_PAGE = 50_000


def _record_revisions(store: Store, params: dict[str, Any], event_id: str) -> None:
    """Chain the cost every span of one re-priced window now carries (read back, page by page)."""
    from .audit import cost_hash, record_cost_revisions

    after = (0, "", "")
    while True:
        rows = store.query_rows(
            "SELECT toUnixTimestamp64Nano(Timestamp) AS ns, TraceId, SpanId, CostSource, PriceVersion, CostUsd"
            f" FROM spans WHERE {_REPRICED} AND PriceVersion = {{version:String}}"
            " AND (toUnixTimestamp64Nano(Timestamp), TraceId, SpanId) > ({a_ns:Int64}, {a_t:String}, {a_s:String})"
            " ORDER BY ns, TraceId, SpanId LIMIT 1 BY TraceId, SpanId LIMIT {page:UInt32}",
            {**params, "a_ns": after[0], "a_t": after[1], "a_s": after[2], "page": REVISION_PAGE},
        )
        if not rows:
            return
        record_cost_revisions(store, [[params["project"], ns, t, sid, cost_hash(src, ver, usd), event_id]
                                      for ns, t, sid, src, ver, usd in rows])
        after = (int(rows[-1][0]), rows[-1][1], rows[-1][2])


def rebuild_rollups(store: Store, project: str, ranges: Sequence[tuple[int, int]]) -> int:
    """Re-aggregate the rollup rows of every UTC day that overlaps ``ranges`` (unix seconds)."""
    days: set[date] = set()
    for lo, hi in ranges:
        rows = store.query_rows(
            "SELECT DISTINCT Day FROM usage_users_daily WHERE Project = {p:String}"
            " AND Day >= toDate(toDateTime({lo:Int64}, 'UTC')) AND Day <= toDate(toDateTime({hi:Int64}, 'UTC'))",
            {"p": project, "lo": lo, "hi": hi},
        )
        days.update(r[0] for r in rows)
    for day in sorted(days):
        lo = _day_seconds(day)
        hi = _day_seconds(day + timedelta(days=1))
        params = {"project": project, "lo": lo, "hi": hi}
        store.command_rendered(
            "ALTER TABLE usage_hourly DELETE WHERE Project = {project:String}"
            " AND Hour >= toDateTime({lo:Int64}, 'UTC') AND Hour < toDateTime({hi:Int64}, 'UTC')",
            params, settings=MUTATION_SETTINGS,
        )
        store.command_rendered(
            "ALTER TABLE usage_users_daily DELETE WHERE Project = {project:String}"
            " AND Day = toDate(toDateTime({lo:Int64}, 'UTC'))",
            params, settings=MUTATION_SETTINGS,
        )
        store.command(_HOURLY, params)
        store.command(_USERS, params)
    return len(days)
