"""Insight endpoints of the read-only query API: incident trace-back with a comparison against
healthy runs, monitoring figures, cost per run and the costliest traces (docs/http-api/insights.md).

Every route needs a read key (engineer, auditor or admin) and reads only the key's project.
Routes parse, authorise and call :mod:`flightlog.storage.traceback` and
:mod:`flightlog.storage.monitoring`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from flightlog.storage import monitoring as figures
from flightlog.storage import traceback as incident

from flightlog.collector.api import models
from flightlog.collector.contract import ContractRoute, errors, respond
from flightlog.collector.api.deps import CollectorDep, ReadKey, TimeWindow, TraceIdPath, hex_id
from flightlog.collector.api.query import READ_ERRORS, trace_with_logs
from flightlog.collector.errors import NotFound

router = APIRouter(prefix="/api", tags=["insights"], route_class=ContractRoute)

_BUCKET = "^(hour|day)$"
_MONITOR_BY = "^(|agent|agent_version|prompt_version|prompt_id|model)$"


@router.get("/traces/{trace_id}/traceback", summary="Incident trace-back of one span, compared with healthy runs",
            response_model=models.Traceback, responses=errors(400, 401, 403, 404, 503))
async def traceback(
    key: ReadKey,
    collector: CollectorDep,
    trace_id: TraceIdPath,
    span_id: Annotated[str, Query(description="The span to trace back from (16 hex)")],
    compare: Annotated[int, Query(ge=0, le=incident.MAX_COMPARE, description="How many other runs of the step; 0 = none")] = 10,
    healthy_only: Annotated[bool, Query(description="Compare only with runs whose step did not fail")] = True,
) -> Response:
    project, store = key.project, collector.store
    span_id = hex_id(span_id, 16, "span id")
    trace = await run_in_threadpool(trace_with_logs, store, project, trace_id)
    back = incident.build_traceback(trace["spans"], span_id)
    if back is None:
        raise NotFound(f"no span {span_id} in trace {trace_id}")
    back["project"] = project
    back["upstream"] = await run_in_threadpool(incident.linked_spans, store, project, back["links"])
    back["comparison"] = (
        await run_in_threadpool(
            lambda: incident.compare_runs(
                store, project, back["target"], back["profile"], limit=compare, healthy_only=healthy_only
            )
        )
        if compare
        else {"step": {}, "healthy_only": healthy_only, "runs": []}
    )
    return respond(back)


@router.get("/insights/monitoring", summary="Success rate, latency quantiles, tokens per run, tool errors, escalations",
            response_model=models.Monitoring, responses=READ_ERRORS)
async def monitoring(
    key: ReadKey,
    collector: CollectorDep,
    window: TimeWindow,
    bucket: Annotated[str, Query(pattern=_BUCKET)] = "day",
    by: Annotated[str, Query(pattern=_MONITOR_BY, description="Breakdown; prompt_version/prompt_id/model count "
                                                              "LLM calls, the rest agent runs")] = "",
    agent: str = "",
    agent_version: Annotated[str, Query(description="Only this agent version (alert links filter by it)")] = "",
    prompt_id: Annotated[str, Query(max_length=200, description="Only LLM calls of this prompt (the unit becomes "
                                                                "the LLM call; tool errors and checkpoints ignore it)")] = "",
    prompt_version: Annotated[str, Query(max_length=200, description="Only LLM calls of this prompt version "
                                                                     "(as prompt_id)")] = "",
    model: Annotated[str, Query(max_length=200, description="Only LLM calls of this model (as prompt_id)")] = "",
) -> Response:
    project, store = key.project, collector.store
    def read() -> dict[str, Any]:
        bounds: dict[str, Any] = {"start": window.start, "end": window.end, "bucket": bucket, "agent": agent,
                                  "agent_version": agent_version}
        return {
            **figures.monitoring(store, project, by=by, prompt_id=prompt_id, prompt_version=prompt_version,
                                 model=model, **bounds),
            "tools": figures.tool_errors(store, project, **bounds),
            "checkpoints": figures.checkpoint_escalations(store, project, by=by, **bounds),
        }

    return respond(await run_in_threadpool(read))


@router.get("/insights/cost_per_run", summary="Runs, cost per run and cost per successful run",
            response_model=models.CostPerRun, responses=READ_ERRORS)
async def cost_per_run(
    key: ReadKey,
    collector: CollectorDep,
    window: TimeWindow,
    by: Annotated[str, Query(pattern="^(|agent|agent_version|day)$")] = "agent",
) -> Response:
    rows = await run_in_threadpool(
        lambda: figures.cost_per_run(collector.store, key.project, start=window.start, end=window.end, by=by)
    )
    return respond({"by": by, "rows": rows})


@router.get("/insights/top_traces", summary="The costliest traces", response_model=models.TopTraces,
            responses=READ_ERRORS)
async def top_traces(
    key: ReadKey,
    collector: CollectorDep,
    window: TimeWindow,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> Response:
    rows = await run_in_threadpool(
        lambda: figures.top_traces(collector.store, key.project, start=window.start, end=window.end, limit=limit)
    )
    return respond({"rows": rows})
