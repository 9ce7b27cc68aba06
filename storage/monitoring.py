"""Monitoring figures, cost per run and the costliest traces (behind /api/insights/…).

Every read is bounded (docs/decisions/0007-bounded-reads.md), values are bound parameters and identifiers come from
the allow-lists below (docs/decisions/0004-bound-parameters-only.md). Charts read the ``usage_hourly`` rollup (migration 0006)
where it has the figures; tool errors, checkpoints and per-trace cost have no rollup, so
they read ``spans`` deduplicated with ``LIMIT 1 BY TraceId, SpanId`` (docs/decisions/0006-dedupe-at-insert.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .errors import InvalidQuery
from .store import Store
from .timewindow import Window, iso

BUCKETS = {
    "hour": ("Hour", "toStartOfHour(Timestamp, 'UTC')"),
    "day": ("toStartOfDay(Hour, 'UTC')", "toStartOfDay(Timestamp, 'UTC')"),
}
"""Time bucket → (expression over the rollup's ``Hour``, expression over ``spans``)."""

_PROMPT_LABEL = "if(PromptId = '' AND PromptVersion = '', '', concat(PromptId, '@', PromptVersion))"
MONITOR_GROUPS = {
    "": ("''", "''"),
    "agent": ("AgentName", "AgentName"),
    "agent_version": ("AgentVersion", "AgentVersion"),
    # A version means little without its prompt: "refund-policy@v7".
    "prompt_version": (_PROMPT_LABEL, _PROMPT_LABEL),
    "prompt_id": ("PromptId", "PromptId"),
    "model": ("Model", "if(ResponseModel != '', ResponseModel, RequestModel)"),
}
"""Breakdown → (column of ``usage_hourly``, expression over ``spans``)."""

PROMPT_GROUPS = frozenset({"prompt_version", "prompt_id", "model"})
"""Breakdowns only LLM spans carry: their unit is the LLM call, not the agent run."""

PROMPT_FILTERS = {
    "prompt_id": ("PromptId", "PromptId"),
    "prompt_version": ("PromptVersion", "PromptVersion"),
    "model": ("Model", "if(ResponseModel != '', ResponseModel, RequestModel)"),
}
"""Filters only LLM spans carry → (column of ``usage_hourly``, expression over ``spans``); with one
set the unit is the LLM call."""

RUN_COST_GROUPS = {"": "''", "agent": "AgentName", "agent_version": "AgentVersion", "day": "toStartOfDay(Hour, 'UTC')"}




def _allowed(value: str, allowed: Mapping[str, Any], what: str) -> None:
    if value not in allowed:
        raise InvalidQuery(f"{what} must be one of {sorted(k for k in allowed if k)}, got {value!r}")


def _filter(
    project: str,
    column: str,
    start: datetime | None,
    end: datetime | None,
    *,
    seconds: bool,
    agent: str = "",
    agent_version: str = "",
    prompts: Mapping[str, str] | None = None,
    **extra: Any,
) -> tuple[list[str], dict[str, Any]]:
    """The project, time-window (:class:`~.timewindow.Window`; ``seconds`` for a rollup's
    DateTime column) and optional agent, agent-version and ``prompts`` (prompt id, prompt version,
    model: :data:`PROMPT_FILTERS`) conditions, with their parameters (``extra`` parameters first,
    after ``project``)."""
    params: dict[str, Any] = {"project": project, **extra}
    window = Window(start, end)
    bounds = window.second_conditions(params, column, prefix="t") if seconds else window.conditions(params, column)
    cond = ["Project = {project:String}", *bounds]
    if agent:
        cond.append("AgentName = {agent:String}")
        params["agent"] = agent
    if agent_version:
        cond.append("AgentVersion = {agent_version:String}")
        params["agent_version"] = agent_version
    for key, value in (prompts or {}).items():
        if value:
            rollup, spans = PROMPT_FILTERS[key]
            cond.append(f"{rollup if seconds else spans} = {{f_{key}:String}}")
            params[f"f_{key}"] = value
    return cond, params


# -- monitoring --------------------------------------------------------------------------


def _rate(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def monitoring(
    store: Store,
    project: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    bucket: str = "day",
    by: str = "",
    agent: str = "",
    agent_version: str = "",
    prompt_id: str = "",
    prompt_version: str = "",
    model: str = "",
) -> dict[str, Any]:
    """Success/error rate, latency p50/p95/p99 and tokens per unit, per time bucket and group,
    from the ``usage_hourly`` rollup.

    The unit is the agent run (root ``agent`` spans) unless ``by`` is a breakdown, or a filter
    (``prompt_id``, ``prompt_version``, ``model``) is set, that only LLM spans carry: then it is
    the LLM call. Tokens count every span of the group (the run's LLM calls, or the calls
    themselves). Times have hour resolution. Latency quantiles come from merged t-digests
    (approximate).
    """
    _allowed(bucket, BUCKETS, "bucket")
    _allowed(by, MONITOR_GROUPS, "by")
    prompts = {"prompt_id": prompt_id, "prompt_version": prompt_version, "model": model}
    unit = "llm" if by in PROMPT_GROUPS or any(prompts.values()) else "agent"
    cond, params = _filter(project, "Hour", start, end, seconds=True, agent=agent, agent_version=agent_version,
                           prompts=prompts)
    time_expr, group_col = BUCKETS[bucket][0], MONITOR_GROUPS[by][0]
    unit_types = "('llm', 'embedding')" if unit == "llm" else "('agent')"
    rows = store.query(
        f"SELECT {time_expr} AS t, {group_col} AS g,"
        f" sumIf(Spans, SpanType IN {unit_types}) AS units, sumIf(Errors, SpanType IN {unit_types}) AS unit_errors,"
        " sum(InputTokens) + sum(OutputTokens) AS tokens, sum(CostUsd) AS cost_usd,"
        f" quantilesTDigestMergeIf(0.5, 0.95, 0.99)(Latency, SpanType IN {unit_types}) AS q"
        f" FROM usage_hourly WHERE {' AND '.join(cond)}"
        " GROUP BY t, g ORDER BY t, g LIMIT 20000",
        params,
    )
    span_where = _filter(project, "Timestamp", start, end, seconds=False, agent=agent)
    waits = _human_waits(store, span_where, bucket, by) if unit == "agent" else {}
    series = []
    for r in rows:
        units, errors = int(r["units"]), int(r["unit_errors"])
        q = [float(v) / 1e6 if v == v else None for v in r["q"]] if units else [None, None, None]
        w = waits.get((iso(r["t"]), r["g"]), {})
        series.append({
            "time": iso(r["t"]), "group": r["g"], "units": units, "errors": errors,
            "success_rate": _rate(units - errors, units), "error_rate": _rate(errors, units),
            "latency_p50_ms": q[0], "latency_p95_ms": q[1], "latency_p99_ms": q[2],
            "tokens": int(r["tokens"]), "tokens_per_unit": _rate(int(r["tokens"]), units),
            "cost_usd": float(r["cost_usd"]),
            "agent_latency_p50_ms": w.get("agent", [None] * 3)[0], "agent_latency_p95_ms": w.get("agent", [None] * 3)[1],
            "agent_latency_p99_ms": w.get("agent", [None] * 3)[2],
            "human_waits": int(w.get("waits", 0)), "human_wait_p50_ms": w.get("wait", [None] * 3)[0],
            "human_wait_p95_ms": w.get("wait", [None] * 3)[1],
        })
    return {"bucket": bucket, "by": by, "unit": "llm call" if unit == "llm" else "run", "series": series}


def _human_waits(store: Store, where: tuple[list[str], dict[str, Any]], bucket: str,
                 by: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Per bucket × group: run latency without the time spent waiting for a person (checkpoints
    of tier ≥ 2), and those waits. Reads only root agent spans and checkpoint spans."""
    cond, params = where
    bucket_expr = BUCKETS[bucket][1].replace("Timestamp", "min(Timestamp)")
    group = MONITOR_GROUPS[by][1]
    rows = store.query(
        "SELECT t, g, quantiles(0.5, 0.95, 0.99)(greatest(toInt64(run) - toInt64(wait), 0)) AS agent,"
        " quantilesIf(0.5, 0.95, 0.99)(wait, wait > 0) AS waited, countIf(wait > 0) AS waits FROM"
        f" (SELECT TraceId, {bucket_expr} AS t, anyIf(grp, ParentSpanId = '') AS g,"
        "   maxIf(Duration, ParentSpanId = '') AS run, sumIf(Duration, SpanType = 'checkpoint' AND CheckpointTier >= 2) AS wait,"
        "   countIf(ParentSpanId = '') AS roots"
        f"  FROM (SELECT TraceId, SpanId, Timestamp, Duration, SpanType, CheckpointTier, ParentSpanId, {group} AS grp"
        f"   FROM spans WHERE {' AND '.join(cond)}"
        "    AND ((SpanType = 'agent' AND ParentSpanId = '') OR SpanType = 'checkpoint')"
        "   ORDER BY IngestTime DESC LIMIT 1 BY TraceId, SpanId)"
        "  GROUP BY TraceId HAVING roots > 0)"
        " GROUP BY t, g LIMIT 20000",
        params,
    )
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        waits = int(r["waits"])
        out[(iso(r["t"]), r["g"])] = {
            "agent": [float(v) / 1e6 if v == v else None for v in r["agent"]],
            "wait": [float(v) / 1e6 if v == v else None for v in r["waited"]] if waits else [None] * 3,
            "waits": waits,
        }
    return out


def _raw_spans(columns: str, cond: list[str]) -> str:
    """A deduplicated subquery over spans of the type bound as ``{span_type:String}`` (no
    rollup has these columns)."""
    return (
        f"(SELECT {columns} FROM spans WHERE {' AND '.join(cond)} AND SpanType = {{span_type:String}}"
        " ORDER BY IngestTime DESC LIMIT 1 BY TraceId, SpanId)"
    )


def tool_errors(
    store: Store,
    project: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    bucket: str = "day",
    agent: str = "",
    agent_version: str = "",
) -> dict[str, Any]:
    """Tool calls and their errors per tool and error type, in total and per time bucket."""
    _allowed(bucket, BUCKETS, "bucket")
    cond, params = _filter(project, "Timestamp", start, end, seconds=False, agent=agent, agent_version=agent_version,
                           span_type="tool")
    source = _raw_spans(f"{BUCKETS[bucket][1]} AS t, ToolName, ErrorType, StatusCode", cond)
    by_tool = store.query(
        "SELECT ToolName AS tool, count() AS calls, countIf(StatusCode = 'Error') AS errors"
        f" FROM {source} GROUP BY tool ORDER BY errors DESC, calls DESC, tool LIMIT 1000",
        params,
    )
    by_type = store.query(
        "SELECT t, ToolName AS tool, if(ErrorType != '', ErrorType, 'error') AS error_type, count() AS errors"
        f" FROM {source} WHERE StatusCode = 'Error' GROUP BY t, tool, error_type ORDER BY t, tool, error_type LIMIT 20000",
        params,
    )
    for row in by_tool:
        row["error_rate"] = _rate(row["errors"], row["calls"])
    return {
        "bucket": bucket,
        "tools": by_tool,
        # One key per field: the bucket start only as "time" (ISO 8601 UTC).
        "errors": [{"time": iso(r["t"]), "tool": r["tool"], "error_type": r["error_type"], "errors": int(r["errors"])}
                   for r in by_type],
    }


def checkpoint_escalations(
    store: Store,
    project: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    bucket: str = "day",
    by: str = "",
    agent: str = "",
    agent_version: str = "",
) -> dict[str, Any]:
    """Checkpoints per bucket (and agent / agent version): how many, how many escalated to a
    person (tier ≥ 2), and the decisions (approved, rejected, timed_out, autonomous…)."""
    _allowed(bucket, BUCKETS, "bucket")
    if by not in ("", "agent", "agent_version"):
        by = ""  # checkpoint spans carry no prompt version or model: shown ungrouped
    cond, params = _filter(project, "Timestamp", start, end, seconds=False, agent=agent, agent_version=agent_version,
                           span_type="checkpoint")
    source = _raw_spans(
        f"{BUCKETS[bucket][1]} AS t, {MONITOR_GROUPS[by][1]} AS g, CheckpointTier, CheckpointDecision",
        cond,
    )
    rows = store.query(
        "SELECT t, g, count() AS checkpoints, countIf(CheckpointTier >= 2) AS escalated,"
        " countIf(CheckpointDecision = 'approved') AS approved, countIf(CheckpointDecision = 'rejected') AS rejected,"
        " countIf(CheckpointDecision = 'timed_out') AS timed_out,"
        " countIf(CheckpointDecision = 'autonomous') AS autonomous"
        f" FROM {source} GROUP BY t, g ORDER BY t, g LIMIT 20000",
        params,
    )
    series = [
        {**{k: v for k, v in r.items() if k not in ("t", "g")}, "time": iso(r["t"]), "group": r["g"],
         "escalation_rate": _rate(r["escalated"], r["checkpoints"])}
        for r in rows
    ]
    return {"bucket": bucket, "by": by, "series": series}


# -- cost ----------------------------------------------------------------------------------


def cost_per_run(
    store: Store,
    project: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    by: str = "",
) -> list[dict[str, Any]]:
    """Runs, successful runs, cost, cost per run and cost per successful run, from the rollup.

    Cost per successful run is all spend (failed runs included) divided by the runs that
    succeeded: what one good outcome really cost. A run is a root ``agent`` span.
    """
    _allowed(by, RUN_COST_GROUPS, "by")
    cond, params = _filter(project, "Hour", start, end, seconds=True)
    rows = store.query(
        f"SELECT {RUN_COST_GROUPS[by]} AS g, sumIf(Spans, SpanType = 'agent') AS runs,"
        " sumIf(Errors, SpanType = 'agent') AS failed_runs, sum(CostUsd) AS cost_usd,"
        " sum(InputTokens) + sum(OutputTokens) AS tokens"
        f" FROM usage_hourly WHERE {' AND '.join(cond)} GROUP BY g ORDER BY g LIMIT 10000",
        params,
    )
    out = []
    for r in rows:
        runs, failed = int(r["runs"]), int(r["failed_runs"])
        ok = runs - failed
        out.append({
            (by or "all"): iso(r["g"]), "runs": runs, "successful_runs": ok, "cost_usd": float(r["cost_usd"]),
            "tokens": int(r["tokens"]), "cost_per_run": _rate(float(r["cost_usd"]), runs),
            "cost_per_successful_run": _rate(float(r["cost_usd"]), ok),
        })
    return out


def top_traces(
    store: Store,
    project: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 20,
) -> list[dict[str, Any]]:
    """The costliest traces: cost, tokens, spans, errors, agent, user, start (no rollup per trace)."""
    if not 1 <= limit <= 500:
        raise InvalidQuery(f"limit must be between 1 and 500, got {limit}")
    cond, params = _filter(project, "Timestamp", start, end, seconds=False, limit=limit)
    rows = store.query(
        "SELECT TraceId AS trace_id, sum(CostUsd) AS cost_usd, sum(InputTokens) + sum(OutputTokens) AS tokens,"
        " count() AS spans, countIf(StatusCode = 'Error') AS errors, min(Timestamp) AS started,"
        " anyIf(AgentName, SpanType = 'agent') AS root_agent, any(AgentName) AS any_agent,"
        " anyIf(UserId, UserId != '') AS user_id, anyIf(SpanName, ParentSpanId = '') AS root_name"
        " FROM (SELECT TraceId, SpanId, CostUsd, InputTokens, OutputTokens, StatusCode, Timestamp, AgentName,"
        " SpanType, UserId, SpanName, ParentSpanId"
        f" FROM spans WHERE {' AND '.join(cond)} ORDER BY IngestTime DESC LIMIT 1 BY TraceId, SpanId)"
        " GROUP BY TraceId HAVING cost_usd > 0 ORDER BY cost_usd DESC, trace_id LIMIT {limit:UInt32}",
        params,
    )
    return [
        {"trace_id": r["trace_id"], "agent": r["root_agent"] or r["any_agent"], "name": r["root_name"],
         "user": r["user_id"], "started": iso(r["started"]), "cost_usd": float(r["cost_usd"]),
         "tokens": int(r["tokens"]), "spans": int(r["spans"]), "errors": int(r["errors"])}
        for r in rows
    ]
