"""Read queries behind the query API. Every read is bounded (STYLE D2).

Rows come back with the API's snake_case names. Because the table is a ReplacingMergeTree
whose merges happen later, reads that must not double-count a re-sent span use
``LIMIT 1 BY TraceId, SpanId`` rather than ``FINAL`` (DESIGN §7: FINAL is ~15× slower).
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from .errors import InvalidQuery
from .filters import MODEL_EXPR, SORTS, SpanFilter
from .schema import SPAN_COLUMNS, snake
from .store import Store

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
    "day": "toDate(Timestamp)",
    "project": "Project",
    "user": "UserId",
    "prompt_version": "PromptVersion",
    "agent_version": "AgentVersion",
}


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


def get_trace(store: Store, project: str, trace_id: str) -> dict[str, Any] | None:
    """All spans of one trace in tree order, or None if the project has no such trace."""
    rows = store.query(
        f"SELECT {_FULL_SELECT} FROM spans"
        " WHERE Project = {project:String} AND TraceId = {trace_id:String}"
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
    where, params = flt.where(project)
    rows = store.query(
        f"SELECT {_LIST_SELECT} FROM spans WHERE {where}"
        f" ORDER BY {SORTS[sort]} {order.upper()}, TraceId, SpanId"
        " LIMIT 1 BY TraceId, SpanId LIMIT {limit:UInt32} OFFSET {offset:UInt32}",
        {**params, "limit": limit, "offset": offset},
    )
    total = store.query_rows(f"SELECT uniqExact(TraceId, SpanId) FROM spans WHERE {where}", params)[0][0]
    return {
        "items": [span_to_api(r) for r in rows],
        "total": int(total),
        "limit": limit,
        "offset": offset,
    }


def cost_summary(
    store: Store,
    project: str,
    group_by: list[str],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[dict[str, Any]]:
    """Cost, tokens and model-call counts grouped by the named dimensions."""
    unknown = [g for g in group_by if g not in GROUPS]
    if unknown:
        raise InvalidQuery(f"unknown group_by {unknown}; allowed: {sorted(GROUPS)}")
    dims = list(dict.fromkeys(group_by))
    flt = SpanFilter(start=start, end=end)
    where, params = flt.where(project)
    inner_cols = ", ".join(
        [f"{GROUPS[g]} AS g_{g}" for g in dims]
        + ["CostUsd", "InputTokens", "OutputTokens", "SpanType"]
    )
    select_dims = "".join(f"g_{g} AS {g}, " for g in dims)
    group = f"GROUP BY {', '.join('g_' + g for g in dims)} ORDER BY {', '.join('g_' + g for g in dims)}" if dims else ""
    rows = store.query(
        f"SELECT {select_dims}sum(CostUsd) AS cost_usd, sum(InputTokens) AS input_tokens,"
        " sum(OutputTokens) AS output_tokens, countIf(SpanType IN ('llm', 'embedding')) AS calls,"
        " count() AS spans"
        f" FROM (SELECT {inner_cols} FROM spans WHERE {where} LIMIT 1 BY TraceId, SpanId)"
        f" {group} LIMIT 10000",
        params,
    )
    return [{k: _jsonable(v) for k, v in r.items()} for r in rows]


def facets(store: Store, project: str) -> dict[str, list[str]]:
    """Distinct values for the search filters (at most 200 each)."""
    row = store.query(
        "SELECT groupUniqArray(200)(AgentName) AS agents,"
        f" groupUniqArray(200)({MODEL_EXPR}) AS models,"
        " groupUniqArray(200)(PromptId) AS prompt_ids,"
        " groupUniqArray(200)(PromptVersion) AS prompt_versions,"
        " groupUniqArray(50)(SpanType) AS span_types,"
        " groupUniqArray(200)(UserId) AS users,"
        " groupUniqArray(200)(AgentVersion) AS agent_versions,"
        " groupUniqArray(200)(ToolName) AS tools"
        " FROM spans WHERE Project = {project:String}",
        {"project": project},
    )[0]
    return {k: sorted(v for v in vals if v) for k, vals in row.items()}
