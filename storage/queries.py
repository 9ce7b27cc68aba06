"""Read queries behind the query API. Every read is bounded (STYLE D2).

Rows come back with the API's snake_case names. Because the table is a ReplacingMergeTree
whose merges happen later, reads that must not double-count a re-sent span use
``LIMIT 1 BY TraceId, SpanId`` rather than ``FINAL`` (DESIGN §7: FINAL is ~15× slower).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from .errors import InvalidQuery
from .filters import MODEL_EXPR, SORTS, SpanFilter
from .schema import SPAN_COLUMNS, snake
from .store import Store

_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="flightlog-count")
MAX_PAGE = 500
MAX_TRACE_SPANS = 10_000
SNIPPET_CHARS = 400
_BIG_COLUMNS = {
    "ResourceAttributes", "SpanAttributes", "Events.Timestamp", "Events.Name",
    "Events.Attributes", "Links.TraceId", "Links.SpanId", "Links.TraceState", "Links.Attributes",
    "InputText", "OutputText", "ToolArgs", "ToolResult",
}
_LIST_SELECT = ", ".join(
    [f"`{c}`" for c in SPAN_COLUMNS if c not in _BIG_COLUMNS]
    # Snippet aliases must not reuse the column names: ClickHouse resolves WHERE against
    # SELECT aliases, and the text search would then only see the first characters.
    + [f"leftUTF8({c}, {SNIPPET_CHARS}) AS {c}Snippet" for c in ("InputText", "OutputText", "ToolArgs", "ToolResult")]
    + ["toUnixTimestamp64Nano(Timestamp) AS StartNs"]
)
_FULL_SELECT = ", ".join([f"`{c}`" for c in SPAN_COLUMNS] + ["toUnixTimestamp64Nano(Timestamp) AS StartNs"])

GROUPS = {
    "model": MODEL_EXPR,
    "agent": "AgentName",
    "day": "toDate(Timestamp, 'UTC')",
    "project": "Project",
    "user": "UserId",
    "prompt_version": "PromptVersion",
    "agent_version": "AgentVersion",
    "prompt_id": "PromptId",
    "span_type": "SpanType",
}


@dataclass(frozen=True)
class Rollup:
    """A usage rollup table (migration 0006): its time column, grain and dimensions."""

    table: str
    time_column: str
    grain_s: int
    dims: dict[str, str]

    def covers(self, dims: list[str]) -> bool:
        return all(d in self.dims for d in dims)


ROLLUPS = (
    Rollup("usage_hourly", "Hour", 3600, {
        "model": "Model", "agent": "AgentName", "agent_version": "AgentVersion", "project": "Project",
        "prompt_id": "PromptId", "prompt_version": "PromptVersion", "span_type": "SpanType",
        "day": "toDate(Hour, 'UTC')", "hour": "Hour",
    }),
    Rollup("usage_users_daily", "Day", 86400, {
        "user": "UserId", "model": "Model", "agent": "AgentName", "project": "Project", "day": "Day",
    }),
)
BREAKDOWN_DIMS = tuple(sorted(ROLLUPS[0].dims))


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def span_to_api(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as the query API shows it: snake_case names, events/links as lists."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        if name.startswith(("Events.", "Links.")):
            continue
        out[snake(name.removesuffix("Snippet"))] = _jsonable(value)
    out["duration_ms"] = row.get("Duration", 0) / 1e6
    if "Events.Name" in row:
        out["events"] = [
            {"timestamp": _jsonable(ts), "name": name, "attributes": attrs}
            for ts, name, attrs in zip(row["Events.Timestamp"], row["Events.Name"], row["Events.Attributes"])
        ]
        out["links"] = [
            {"trace_id": t, "span_id": s, "trace_state": st, "attributes": a}
            for t, s, st, a in zip(
                row["Links.TraceId"], row["Links.SpanId"], row["Links.TraceState"], row["Links.Attributes"]
            )
        ]
    return out


def tree_order(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parents before children, siblings by start time; adds ``depth``.

    A span whose parent is missing (not yet arrived, or in another service's trace part)
    is shown as a root so nothing disappears from the view.
    """
    by_id = {s["span_id"]: s for s in spans}
    children: dict[str, list[dict[str, Any]]] = {}
    roots = []
    for span in spans:
        parent = span.get("parent_span_id") or ""
        if parent and parent in by_id and parent != span["span_id"]:
            children.setdefault(parent, []).append(span)
        else:
            roots.append(span)
    ordered: list[dict[str, Any]] = []
    seen: set[str] = set()
    stack = [(s, 0) for s in sorted(roots, key=lambda s: s["start_ns"], reverse=True)]
    while stack:
        span, depth = stack.pop()
        if span["span_id"] in seen:
            continue
        seen.add(span["span_id"])
        ordered.append({**span, "depth": depth})
        kids = sorted(children.get(span["span_id"], []), key=lambda s: s["start_ns"], reverse=True)
        stack.extend((k, depth + 1) for k in kids)
    # A parent cycle (malformed input) leaves spans unreached: append them flat.
    ordered.extend({**s, "depth": 0} for s in spans if s["span_id"] not in seen)
    return ordered


def trace_time_range(store: Store, project: str, trace_id: str) -> tuple[int, int] | None:
    """(first, last) span start of a trace in unix ns, from the trace index; None if unknown."""
    rows = store.query_rows(
        "SELECT toUnixTimestamp64Nano(min(Start)), toUnixTimestamp64Nano(max(End)), count() FROM trace_index"
        " WHERE Project = {project:String} AND TraceId = {trace_id:String}",
        {"project": project, "trace_id": trace_id},
    )
    if not rows or not rows[0][2]:
        return None
    return int(rows[0][0]), int(rows[0][1])


def get_trace(store: Store, project: str, trace_id: str) -> dict[str, Any] | None:
    """All spans of one trace in tree order, or None if the project has no such trace.

    The trace index gives the trace's time range, so only the parts (days) that hold it
    are probed with the TraceId bloom filter (DateTime64(9) bounds keep nanoseconds).
    """
    # One round trip: the scalar subqueries are evaluated first, so their time range
    # prunes partitions and granules like literal bounds would. An unknown trace gives an
    # empty range (min/max of nothing), hence no rows.
    in_index = "FROM trace_index WHERE Project = {project:String} AND TraceId = {trace_id:String}"
    rows = store.query(
        f"SELECT {_FULL_SELECT} FROM spans"
        " WHERE Project = {project:String} AND TraceId = {trace_id:String}"
        f" AND Timestamp >= (SELECT min(Start) {in_index}) AND Timestamp <= (SELECT max(End) {in_index})"
        " ORDER BY IngestTime DESC LIMIT 1 BY SpanId LIMIT {limit:UInt32}",
        {"project": project, "trace_id": trace_id, "limit": MAX_TRACE_SPANS},
    )
    if not rows:
        # The index is fed by a materialized view, which is not atomic with the spans insert:
        # a crash between the two (the spool replay then finds the spans already stored)
        # can leave a trace out of the index. Fall back to the TraceId bloom filter alone.
        rows = store.query(
            f"SELECT {_FULL_SELECT} FROM spans WHERE Project = {{project:String}} AND TraceId = {{trace_id:String}}"
            " ORDER BY IngestTime DESC LIMIT 1 BY SpanId LIMIT {limit:UInt32}",
            {"project": project, "trace_id": trace_id, "limit": MAX_TRACE_SPANS},
        )
    if not rows:
        return None
    spans = tree_order([span_to_api(r) for r in rows])
    start = min(s["start_ns"] for s in spans)
    end = max(s["start_ns"] + s["duration"] for s in spans)
    return {
        "trace_id": trace_id,
        "project": project,
        "spans": spans,
        "span_count": len(spans),
        "start_ns": start,
        "duration_ms": (end - start) / 1e6,
        "total_cost_usd": sum(s["cost_usd"] for s in spans),
        "input_tokens": sum(s["input_tokens"] for s in spans),
        "output_tokens": sum(s["output_tokens"] for s in spans),
        "error_count": sum(1 for s in spans if s["status_code"] == "Error"),
        "truncated": len(rows) >= MAX_TRACE_SPANS,
    }


def search_spans(
    store: Store,
    project: str,
    flt: SpanFilter,
    *,
    limit: int = 50,
    offset: int = 0,
    sort: str = "time",
    order: str = "desc",
) -> dict[str, Any]:
    """One page of matching spans (newest first by default) and the total match count."""
    if sort not in SORTS:
        raise InvalidQuery(f"sort must be one of {sorted(SORTS)}, got {sort!r}")
    if order not in ("asc", "desc"):
        raise InvalidQuery(f"order must be asc or desc, got {order!r}")
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidQuery(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
    if offset < 0:
        raise InvalidQuery(f"offset must be ≥ 0, got {offset}")
    where, params = flt.where(project, text_index=store.settings.text_index)
    # The total runs on another reader client while the page is fetched (2 round trips, not 3).
    # Re-sent spans are dropped at ingest (Store.insert), so count() is exact for new data.
    total_future = _POOL.submit(store.query_rows, f"SELECT count() FROM spans WHERE {where}", params)
    # Ids first: sort and page over three small columns, then read the wide rows of
    # this page only (bounded memory whatever the match count).
    # Reading in reverse key order does not pay off here: the skip indexes leave few
    # granules, which a plain read + top-k sorts faster (measured 40 vs 68 ms at 10M spans).
    keys = [
        (r["TraceId"], r["SpanId"], r["StartNs"])
        for r in store.query(
            f"SELECT TraceId, SpanId, toUnixTimestamp64Nano(Timestamp) AS StartNs FROM spans WHERE {where}"
            f" ORDER BY {SORTS[sort]} {order.upper()}, TraceId, SpanId"
            " LIMIT 1 BY TraceId, SpanId LIMIT {limit:UInt32} OFFSET {offset:UInt32}",
            {**params, "limit": limit, "offset": offset},
            settings={"optimize_read_in_order": 0},
        )
    ]
    items: list[dict[str, Any]] = []
    if keys:
        rows = store.query(
            f"SELECT {_LIST_SELECT} FROM spans WHERE Project = {{project:String}}"
            " AND Timestamp >= fromUnixTimestamp64Nano({lo:Int64}) AND Timestamp <= fromUnixTimestamp64Nano({hi:Int64})"
            " AND SpanId IN {span_ids:Array(String)} AND TraceId IN {trace_ids:Array(String)}"
            " ORDER BY IngestTime DESC LIMIT 1 BY TraceId, SpanId",
            {"project": project, "lo": min(k[2] for k in keys), "hi": max(k[2] for k in keys),
             "span_ids": sorted({k[1] for k in keys}), "trace_ids": sorted({k[0] for k in keys})},
        )
        by_key = {(r["TraceId"], r["SpanId"]): r for r in rows}
        items = [span_to_api(by_key[(t, sid)]) for t, sid, _ in keys if (t, sid) in by_key]
    total = total_future.result()[0][0]
    return {
        "items": items,
        "total": int(total),
        "limit": limit,
        "offset": offset,
    }


def _ns(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return int(value.timestamp()) * 1_000_000_000 + value.microsecond * 1000


def _grain_floor(value: datetime, grain_s: int) -> datetime:
    seconds = _ns(value) // 1_000_000_000
    return datetime.fromtimestamp(seconds - seconds % grain_s, tz=timezone.utc)


def _grain_ceil(value: datetime, grain_s: int) -> datetime:
    floor = _grain_floor(value, grain_s)
    return floor if _ns(floor) == _ns(value) else floor + timedelta(seconds=grain_s)


def _choose_rollup(dims: list[str]) -> Rollup | None:
    return next((r for r in ROLLUPS if r.covers(dims)), None)


def cost_summary(
    store: Store,
    project: str,
    group_by: list[str],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[dict[str, Any]]:
    """Cost, tokens and model-call counts grouped by the named dimensions.

    Reads a rollup (migration 0006) for the whole grains (hours, or days when grouping by
    user) inside [start, end), and raw spans only for the partial grains at the edges, so
    the answer is exact and a 30-day dashboard never scans raw spans. Groupings no rollup
    covers (user with prompt version) read raw spans.
    """
    unknown = [g for g in group_by if g not in GROUPS]
    if unknown:
        raise InvalidQuery(f"unknown group_by {unknown}; allowed: {sorted(GROUPS)}")
    dims = list(dict.fromkeys(group_by))
    rollup = _choose_rollup(dims)
    params: dict[str, Any] = {"project": project}
    parts: list[str] = []
    raw_ranges: list[tuple[datetime | None, datetime | None]] = [(start, end)]
    if rollup is not None:
        lo = _grain_ceil(start, rollup.grain_s) if start is not None else None
        hi = _grain_floor(end, rollup.grain_s) if end is not None else None
        if lo is None or hi is None or lo < hi:
            raw_ranges = []
            if start is not None and lo is not None and _ns(lo) > _ns(start):
                raw_ranges.append((start, lo))
            if end is not None and hi is not None and _ns(end) > _ns(hi):
                raw_ranges.append((hi, end))
            cond = ["Project = {project:String}"]
            if lo is not None:
                cond.append(f"{rollup.time_column} >= toDateTime({{rlo:Int64}}, 'UTC')")
                params["rlo"] = _ns(lo) // 1_000_000_000
            if hi is not None:
                cond.append(f"{rollup.time_column} < toDateTime({{rhi:Int64}}, 'UTC')")
                params["rhi"] = _ns(hi) // 1_000_000_000
            cols = "".join(f"{rollup.dims[g]} AS g_{g}, " for g in dims)
            parts.append(
                f"SELECT {cols}CostUsd AS c, InputTokens AS i, OutputTokens AS o, Calls AS k, Spans AS n"
                f" FROM {rollup.table} WHERE {' AND '.join(cond)}"
            )
    if raw_ranges:
        spans_cond = []
        for n, (lo_raw, hi_raw) in enumerate(raw_ranges):
            bits = []
            if lo_raw is not None:
                bits.append(f"Timestamp >= fromUnixTimestamp64Nano({{slo{n}:Int64}})")
                params[f"slo{n}"] = _ns(lo_raw)
            if hi_raw is not None:
                bits.append(f"Timestamp < fromUnixTimestamp64Nano({{shi{n}:Int64}})")
                params[f"shi{n}"] = _ns(hi_raw)
            spans_cond.append("(" + (" AND ".join(bits) or "1") + ")")
        inner = ", ".join([f"{GROUPS[g]} AS g_{g}" for g in dims]
                          + ["CostUsd", "InputTokens", "OutputTokens", "SpanType"])
        cols = "".join(f"g_{g}, " for g in dims)
        parts.append(
            f"SELECT {cols}CostUsd AS c, InputTokens AS i, OutputTokens AS o,"
            " toUInt64(SpanType IN ('llm', 'embedding')) AS k, toUInt64(1) AS n"
            f" FROM (SELECT {inner} FROM spans WHERE Project = {{project:String}}"
            f" AND ({' OR '.join(spans_cond)}) LIMIT 1 BY TraceId, SpanId)"
        )
    select_dims = "".join(f"g_{g} AS {g}, " for g in dims)
    group = f"GROUP BY {', '.join('g_' + g for g in dims)} ORDER BY {', '.join('g_' + g for g in dims)}" if dims else ""
    rows = store.query(
        f"SELECT {select_dims}sum(c) AS cost_usd, sum(i) AS input_tokens, sum(o) AS output_tokens,"
        " sum(k) AS calls, sum(n) AS spans"
        f" FROM ({' UNION ALL '.join(parts)}) {group} LIMIT 10000",
        params,
    )
    return [{k: _jsonable(v) for k, v in r.items()} for r in rows]


def usage_breakdown(
    store: Store,
    project: str,
    by: list[str],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    equals: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Monitoring figures from the hourly rollup: calls, errors, tokens, cost, latency.

    ``by`` and the keys of ``equals`` are among :data:`BREAKDOWN_DIMS` (model, agent,
    agent_version, prompt_id, prompt_version, span_type, hour, day, project). Times have
    hour resolution: ``start`` is rounded down and ``end`` up to whole hours. Latency
    quantiles (ms) come from merged t-digest states, so they are approximate.
    """
    rollup = ROLLUPS[0]
    dims = list(dict.fromkeys(by))
    bad = [d for d in dims + sorted(equals or {}) if d not in rollup.dims]
    if bad:
        raise InvalidQuery(f"unknown breakdown dimension {bad}; allowed: {list(BREAKDOWN_DIMS)}")
    cond = ["Project = {project:String}"]
    params: dict[str, Any] = {"project": project}
    if start is not None:
        cond.append("Hour >= toDateTime({rlo:Int64}, 'UTC')")
        params["rlo"] = _ns(_grain_floor(start, 3600)) // 1_000_000_000
    if end is not None:
        cond.append("Hour < toDateTime({rhi:Int64}, 'UTC')")
        params["rhi"] = _ns(_grain_ceil(end, 3600)) // 1_000_000_000
    for i, (name, value) in enumerate(sorted((equals or {}).items())):
        cond.append(f"{rollup.dims[name]} = {{e{i}:String}}")
        params[f"e{i}"] = value
    select_dims = "".join(f"{rollup.dims[d]} AS {d}, " for d in dims)
    group = f"GROUP BY {', '.join(dims)} ORDER BY {', '.join(dims)}" if dims else ""
    rows = store.query(
        f"SELECT {select_dims}sum(Spans) AS spans, sum(Calls) AS calls, sum(Errors) AS errors,"
        " sum(InputTokens) AS input_tokens, sum(OutputTokens) AS output_tokens, sum(CostUsd) AS cost_usd,"
        " quantilesTDigestMerge(0.5, 0.9, 0.95, 0.99)(Latency) AS latency_ns"
        f" FROM usage_hourly WHERE {' AND '.join(cond)} {group} LIMIT 10000",
        params,
    )
    out = []
    for r in rows:
        q = r.pop("latency_ns")
        r["error_rate"] = r["errors"] / r["spans"] if r["spans"] else 0.0
        for name, value in zip(("p50", "p90", "p95", "p99"), q):
            r[f"latency_{name}_ms"] = round(float(value) / 1e6, 3) if value == value else None
        out.append({k: _jsonable(v) for k, v in r.items()})
    return out


def unknown_models(
    store: Store, project: str, *, start: datetime | None = None, end: datetime | None = None
) -> list[dict[str, Any]]:
    """Models whose spans had tokens but no price in the table ("unknown", cost 0), most used first.

    Each row: ``model`` ("" when the span named none), ``spans`` so priced, their
    ``input_tokens`` / ``output_tokens`` and ``first_seen`` / ``last_seen`` hours. Add a
    price for them and run ``flightlog prices recompute``.
    """
    cond = ["Project = {project:String}"]
    params: dict[str, Any] = {"project": project}
    if start is not None:
        cond.append("Hour >= toDateTime({rlo:Int64}, 'UTC')")
        params["rlo"] = _ns(_grain_floor(start, 3600)) // 1_000_000_000
    if end is not None:
        cond.append("Hour < toDateTime({rhi:Int64}, 'UTC')")
        params["rhi"] = _ns(_grain_ceil(end, 3600)) // 1_000_000_000
    rows = store.query(
        "SELECT Model AS model, sum(UnknownPriced) AS spans,"
        " sumIf(InputTokens, UnknownPriced > 0) AS input_tokens, sumIf(OutputTokens, UnknownPriced > 0) AS output_tokens,"
        " min(Hour) AS first_seen, max(Hour) AS last_seen"
        f" FROM usage_hourly WHERE {' AND '.join(cond)} AND UnknownPriced > 0"
        " GROUP BY Model HAVING spans > 0 ORDER BY spans DESC, model LIMIT 1000",
        params,
    )
    return [{k: _jsonable(v) for k, v in r.items()} for r in rows]


def facets(store: Store, project: str) -> dict[str, list[str]]:
    """Distinct values for the search filters (at most 200 each), read from the rollups."""
    params = {"project": project}
    row = store.query(
        "SELECT groupUniqArray(200)(AgentName) AS agents,"
        " groupUniqArray(200)(Model) AS models,"
        " groupUniqArray(200)(PromptId) AS prompt_ids,"
        " groupUniqArray(200)(PromptVersion) AS prompt_versions,"
        " groupUniqArray(50)(SpanType) AS span_types,"
        " groupUniqArray(200)(AgentVersion) AS agent_versions"
        " FROM usage_hourly WHERE Project = {project:String}",
        params,
    )[0]
    users = store.query_rows(
        "SELECT groupUniqArray(200)(UserId) FROM usage_users_daily WHERE Project = {project:String}", params
    )[0][0]
    tools = store.query_rows(
        "SELECT groupUniqArray(200)(ToolName) FROM spans WHERE Project = {project:String} AND ToolName != ''", params
    )[0][0]
    out = {
        "agents": row["agents"], "models": row["models"], "prompt_ids": row["prompt_ids"],
        "prompt_versions": row["prompt_versions"], "span_types": row["span_types"], "users": users,
        "agent_versions": row["agent_versions"], "tools": tools,
    }
    return {k: sorted(v for v in vals if v) for k, vals in out.items()}
