"""Trace, search and facet reads behind the query API (costs: :mod:`.costs`). Every read is
bounded (docs/decisions/0007-bounded-reads.md).

Rows come back with the API's snake_case names. Because the table is a ReplacingMergeTree
whose merges happen later, reads that must not double-count a re-sent span use
``LIMIT 1 BY TraceId, SpanId`` rather than ``FINAL`` (docs/decisions/0006-dedupe-at-insert.md: FINAL is ~15× slower).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flightlog.semconv import CONTROL_SPAN_TYPE

from . import facts as trace_facts
from .errors import InvalidQuery
from .filters import SORTS, SpanFilter
from .schema import SPAN_COLUMNS, snake
from .store import Store
from .timewindow import iso

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
_API_NAMES = {"TraceId": "trace_id", "SpanId": "span_id", "ParentSpanId": "parent_span_id", **trace_facts.API_FACTS}
_FULL_SELECT = ", ".join([f"`{c}`" for c in SPAN_COLUMNS] + ["toUnixTimestamp64Nano(Timestamp) AS StartNs"])

def jsonable(value: Any) -> Any:
    """A value read from the store as JSON-ready data (times as ISO 8601 UTC text)."""
    if isinstance(value, (datetime, date)):
        return iso(value)
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


def run_extent(spans: list[dict[str, Any]]) -> tuple[int, int]:
    """A trace's first start and last end (unix ns) over the run's own spans.

    Control events (an approval decided, a pause; span type ``control``) are recorded by the
    collector when they happen, which can be hours after the run ended: they stay in the
    trace but do not stretch its duration. A trace of control events only: their extent.
    """
    own = [s for s in spans if s.get("span_type") != CONTROL_SPAN_TYPE] or spans
    return min(s["start_ns"] for s in own), max(s["start_ns"] + s["duration"] for s in own)


def span_to_api(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as the query API shows it: snake_case names, events/links as lists."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        if name.startswith(("Events.", "Links.")):
            continue
        out[snake(name.removesuffix("Snippet"))] = jsonable(value)
    out["duration_ms"] = row.get("Duration", 0) / 1e6
    if "Events.Name" in row:
        out["events"] = [
            {"timestamp": jsonable(ts), "name": name, "attributes": attrs}
            for ts, name, attrs in zip(row["Events.Timestamp"], row["Events.Name"], row["Events.Attributes"], strict=False)
        ]
        out["links"] = [
            {"trace_id": t, "span_id": s, "trace_state": st, "attributes": a}
            for t, s, st, a in zip(
                row["Links.TraceId"], row["Links.SpanId"], row["Links.TraceState"], row["Links.Attributes"], strict=False
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
    # Facts a span was stored without (its run's agent span came in a later request): the
    # trace's own spans say them (docs/decisions/0013-trace-facts-across-requests.md).
    trace_facts.resolve(spans, names=_API_NAMES)
    start, end = run_extent(spans)
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
    total_future = store.query_rows_later(f"SELECT count() FROM spans WHERE {where}", params)
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
        trace_facts.fill_api_spans(store, project, items)
        _log_texts(store, project, items)
    total = total_future.result()[0][0]
    return {
        "items": items,
        "total": int(total),
        "limit": limit,
        "offset": offset,
    }


def _log_texts(store: Store, project: str, items: list[dict[str, Any]]) -> None:
    """Empty input/output snippets of a page, from the spans' log records (GenAI event mode)."""
    empty = [i for i in items if not i.get("input_text") or not i.get("output_text")]
    if not empty:
        return
    rows = store.query(
        "SELECT TraceId, SpanId, arrayStringConcat(groupArray(InputText), '\n') AS i,"
        " arrayStringConcat(groupArray(OutputText), '\n') AS o FROM"
        " (SELECT TraceId, SpanId, InputText, OutputText FROM log_records WHERE Project = {project:String}"
        " AND TraceId IN {traces:Array(String)} AND SpanId IN {spans:Array(String)}"
        " AND (InputText != '' OR OutputText != '') ORDER BY Timestamp"
        " LIMIT 1 BY TraceId, SpanId, Timestamp, EventName, InputText, OutputText)"
        " GROUP BY TraceId, SpanId",
        {"project": project, "traces": sorted({i["trace_id"] for i in empty}),
         "spans": sorted({i["span_id"] for i in empty})},
    )
    found = {(r["TraceId"], r["SpanId"]): r for r in rows}
    for item in empty:
        row = found.get((item["trace_id"], item["span_id"]))
        if row is None:
            continue
        text_in, text_out = row["i"].strip("\n"), row["o"].strip("\n")
        if not item.get("input_text") and text_in:
            item["input_text"] = text_in[:SNIPPET_CHARS]
        if not item.get("output_text") and text_out:
            item["output_text"] = text_out[:SNIPPET_CHARS]


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
