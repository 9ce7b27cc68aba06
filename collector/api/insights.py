"""Insight endpoints of the read-only query API (docs/ui.md, "Insight endpoints"): incident
trace-back with a comparison against healthy runs, monitoring figures, cost per run and the
costliest traces.

Every route needs a read key (engineer, auditor or admin) and reads only the key's project.
Routes parse, authorise and call :mod:`flightlog.storage.insights`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from flightlog.storage import insights, queries
from flightlog.storage.logs import logs_for_trace

from flightlog.collector.auth import READ_ROLES
from flightlog.collector.errors import BadRequest, NotFound
from flightlog.collector.genai.records import attach_to_spans
from flightlog.collector.api.params import as_utc as _utc

router = APIRouter(prefix="/api", tags=["insights"])

_HEX = frozenset("0123456789abcdef")
_BUCKET = "^(hour|day)$"
_MONITOR_BY = "^(|agent|agent_version|prompt_version|prompt_id|model)$"


def _project(request: Request) -> str:
    return request.app.state.collector.auth.require(request.headers, READ_ROLES).project


def _hex_id(value: str, length: int, what: str) -> str:
    value = value.lower()
    if len(value) != length or not set(value) <= _HEX:
        raise BadRequest(f"{what} must be {length} hex characters, got {value[:64]!r}")
    return value


@router.get("/traces/{trace_id}/traceback", summary="Incident trace-back of one span, compared with healthy runs")
async def traceback(
    request: Request,
    trace_id: str,
    span_id: Annotated[str, Query(description="The span to trace back from (16 hex)")],
    compare: Annotated[int, Query(ge=0, le=insights.MAX_COMPARE, description="How many other runs of the step; 0 = none")] = 10,
    healthy_only: Annotated[bool, Query(description="Compare only with runs whose step did not fail")] = True,
) -> dict[str, Any]:
    project = _project(request)
    trace_id = _hex_id(trace_id, 32, "trace id")
    span_id = _hex_id(span_id, 16, "span id")
    store = request.app.state.collector.store
    trace = await run_in_threadpool(queries.get_trace, store, project, trace_id)
    if trace is None:
        raise NotFound(f"no trace {trace_id} in project {project!r}")
    records = await run_in_threadpool(logs_for_trace, store, project, trace_id)
    attach_to_spans(trace["spans"], records)
    back = insights.build_traceback(trace["spans"], span_id)
    if back is None:
        raise NotFound(f"no span {span_id} in trace {trace_id}")
    back["project"] = project
    back["upstream"] = await run_in_threadpool(insights.linked_spans, store, project, back["links"])
    back["comparison"] = (
        await run_in_threadpool(
            lambda: insights.compare_runs(
                store, project, back["target"], back["profile"], limit=compare, healthy_only=healthy_only
            )
        )
        if compare
        else {"step": {}, "healthy_only": healthy_only, "runs": []}
    )
    return back


@router.get("/insights/monitoring", summary="Success rate, latency quantiles, tokens per run, tool errors, escalations")
async def monitoring(
    request: Request,
    start: datetime | None = None,
    end: datetime | None = None,
    bucket: Annotated[str, Query(pattern=_BUCKET)] = "day",
    by: Annotated[str, Query(pattern=_MONITOR_BY, description="Breakdown; prompt_version/prompt_id/model count LLM calls, the rest agent runs")] = "",
    agent: str = "",
) -> dict[str, Any]:
    project = _project(request)
    store = request.app.state.collector.store
    window = {"start": _utc(start), "end": _utc(end), "bucket": bucket, "agent": agent}

    def read() -> dict[str, Any]:
        return {
            **insights.monitoring(store, project, by=by, **window),
            "tools": insights.tool_errors(store, project, **window),
            "checkpoints": insights.checkpoint_escalations(store, project, by=by, **window),
        }

    return await run_in_threadpool(read)


@router.get("/insights/cost_per_run", summary="Runs, cost per run and cost per successful run")
async def cost_per_run(
    request: Request,
    start: datetime | None = None,
    end: datetime | None = None,
    by: Annotated[str, Query(pattern="^(|agent|agent_version|day)$")] = "agent",
) -> dict[str, Any]:
    project = _project(request)
    store = request.app.state.collector.store
    rows = await run_in_threadpool(
        lambda: insights.cost_per_run(store, project, start=_utc(start), end=_utc(end), by=by)
    )
    return {"by": by, "rows": rows}


@router.get("/insights/top_traces", summary="The costliest traces")
async def top_traces(
    request: Request,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> dict[str, Any]:
    project = _project(request)
    store = request.app.state.collector.store
    rows = await run_in_threadpool(
        lambda: insights.top_traces(store, project, start=_utc(start), end=_utc(end), limit=limit)
    )
    return {"rows": rows}


@router.get("/budgets", summary="The project's daily budgets (read-only view for dashboards)")
async def list_budgets(request: Request) -> dict[str, Any]:
    """Budgets are set by admins (``PUT /api/admin/budgets``); read keys may see them, without webhooks."""
    from flightlog.storage import budgets as budget_store

    collector = request.app.state.collector
    project = collector.auth.require(request.headers, READ_ROLES).project
    rows = await run_in_threadpool(budget_store.budgets, collector.store, project)
    return {"budgets": [{k: v for k, v in b.items() if k != "webhook_url"} for b in rows]}
