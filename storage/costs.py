"""Cost and usage reads behind the cost API, dashboards and ``flightlog prices unknown``.

They read the usage rollups (migration 0006) for whole hours or days and raw spans only for the
partial grains at the edges, so a 30-day dashboard never scans raw spans. Every read is bounded
(docs/decisions/0007-bounded-reads.md); results use the API's snake_case names, like :mod:`.queries`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .errors import InvalidQuery
from .filters import MODEL_EXPR
from .queries import jsonable
from .store import Store
from .timewindow import Window

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
    window = Window(start, end)
    raw_ranges = [window]
    if rollup is not None:
        whole = window.inner_grains(rollup.grain_s)
        if whole is not None:
            raw_ranges = window.edges(whole)
            cond = ["Project = {project:String}", *whole.second_conditions(params, rollup.time_column)]
            cols = "".join(f"{rollup.dims[g]} AS g_{g}, " for g in dims)
            parts.append(
                f"SELECT {cols}CostUsd AS c, InputTokens AS i, OutputTokens AS o, Calls AS k, Spans AS n"
                f" FROM {rollup.table} WHERE {' AND '.join(cond)}"
            )
    if raw_ranges:
        spans_cond = []
        for n, edge in enumerate(raw_ranges):
            bits = edge.conditions(params, prefix=f"s{n}")
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
    return [{k: jsonable(v) for k, v in r.items()} for r in rows]


def _hourly_window(project: str, start: datetime | None,
                   end: datetime | None) -> tuple[list[str], dict[str, Any]]:
    """Conditions and parameters for one project's whole hours of the hourly rollup covering
    [start, end): ``start`` rounded down, ``end`` up."""
    params: dict[str, Any] = {"project": project}
    cond = ["Project = {project:String}", *Window(start, end).second_conditions(params, "Hour", grain_s=3600)]
    return cond, params


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
    cond, params = _hourly_window(project, start, end)
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
        for name, value in zip(("p50", "p90", "p95", "p99"), q, strict=True):
            r[f"latency_{name}_ms"] = round(float(value) / 1e6, 3) if value == value else None
        out.append({k: jsonable(v) for k, v in r.items()})
    return out


def unknown_models(
    store: Store, project: str, *, start: datetime | None = None, end: datetime | None = None
) -> list[dict[str, Any]]:
    """Models whose spans had tokens but no price in the table ("unknown", cost 0), most used first.

    Each row: ``model`` ("" when the span named none), ``spans`` so priced, their
    ``input_tokens`` / ``output_tokens`` and ``first_seen`` / ``last_seen`` hours. Add a
    price for them and run ``flightlog prices recompute``.
    """
    cond, params = _hourly_window(project, start, end)
    rows = store.query(
        "SELECT Model AS model, sum(UnknownPriced) AS spans,"
        " sumIf(InputTokens, UnknownPriced > 0) AS input_tokens, sumIf(OutputTokens, UnknownPriced > 0) AS output_tokens,"
        " min(Hour) AS first_seen, max(Hour) AS last_seen"
        f" FROM usage_hourly WHERE {' AND '.join(cond)} AND UnknownPriced > 0"
        " GROUP BY Model HAVING spans > 0 ORDER BY spans DESC, model LIMIT 1000",
        params,
    )
    return [{k: jsonable(v) for k, v in r.items()} for r in rows]
