"""The read-only query API: one trace, span search, the trace and session lists, cost and the search facets.

Every route needs a read key (engineer, auditor or admin) and only ever reads the key's own
project. Routes parse, authorise and call :mod:`flightlog.storage.queries` (docs/http-api/query.md).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from flightlog.storage import Store, costs, queries, tracelist
from flightlog.storage import metrics as stored_metrics
from flightlog.storage.filters import SpanFilter
from flightlog.storage.logs import logs_for_trace

from flightlog.collector.api import models
from flightlog.collector.contract import ContractRoute, errors, respond
from flightlog.collector.api.deps import CollectorDep, ReadKey, TimeWindow, TraceIdPath
from flightlog.collector.errors import NotFound
from flightlog.collector.genai.records import attach_to_spans

router = APIRouter(prefix="/api", tags=["query"], route_class=ContractRoute)
READ_ERRORS = errors(400, 401, 403, 503)


def trace_with_logs(store: Store, project: str, trace_id: str) -> dict[str, Any]:
    """One trace with the log records of its spans attached, or 404 (blocking: run in a thread)."""
    trace = queries.get_trace(store, project, trace_id)
    if trace is None:
        raise NotFound(f"no trace {trace_id} in project {project!r}")
    attach_to_spans(trace["spans"], logs_for_trace(store, project, trace_id))
    return trace


@router.get("/traces/{trace_id}", summary="One trace: every span in tree order", response_model=models.Trace,
            responses=errors(400, 401, 403, 404, 503))
async def get_trace(key: ReadKey, collector: CollectorDep, trace_id: TraceIdPath) -> Response:
    return respond(await run_in_threadpool(trace_with_logs, collector.store, key.project, trace_id))


def span_filter(
    window: TimeWindow,
    q: Annotated[str, Query(max_length=1000, description="Words that must all appear (case-insensitive) in input, "
                                                         "output, tool arguments or result")] = "",
    agent: str = "",
    agent_version: str = "",
    model: str = "",
    prompt_id: str = "",
    prompt_version: str = "",
    span_type: str = "",
    status: Annotated[str, Query(pattern="^(|ok|error|unset)$")] = "",
    user: str = "",
    session: str = "",
    trace_id: str = "",
    tool: str = "",
) -> SpanFilter:
    """The search filters shared by the span search and the trace list."""
    return SpanFilter(
        q=q, start=window.start, end=window.end, model=model, status=status,
        equals={
            "agent": agent, "agent_version": agent_version, "prompt_id": prompt_id,
            "prompt_version": prompt_version, "span_type": span_type, "user": user,
            "session": session, "trace_id": trace_id.lower(), "tool": tool,
        },
    )


SpanFilterDep = Annotated[SpanFilter, Depends(span_filter)]
Offset = Annotated[int, Query(ge=0, le=100_000)]
Order = Annotated[str, Query(pattern="^(asc|desc)$")]


@router.get("/spans", summary="Search spans by text and filters, one page at a time", response_model=models.SpanPage,
            responses=READ_ERRORS)
async def search_spans(
    key: ReadKey,
    collector: CollectorDep,
    flt: SpanFilterDep,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE)] = 50,
    offset: Offset = 0,
    sort: Annotated[str, Query(pattern="^(time|cost|tokens|duration)$")] = "time",
    order: Order = "desc",
) -> Response:
    return respond(await run_in_threadpool(
        queries.search_spans, collector.store, key.project, flt, limit=limit, offset=offset, sort=sort, order=order
    ))


@router.get("/traces", summary="Traces with a span that matches the search filters, one row per trace",
            description="Runs only: a trace of control events alone (a pause, a policy change, an approval "
                        "asked outside any run) is left out unless span_type=control is asked for.",
            response_model=models.TracePage, responses=READ_ERRORS)
async def list_traces(
    key: ReadKey,
    collector: CollectorDep,
    flt: SpanFilterDep,
    limit: Annotated[int, Query(ge=1, le=tracelist.MAX_PAGE)] = 50,
    offset: Offset = 0,
    sort: Annotated[str, Query(pattern="^(time|duration|cost|tokens|spans|errors)$",
                               description="time is the trace's start")] = "time",
    order: Order = "desc",
) -> Response:
    return respond(await run_in_threadpool(
        tracelist.list_traces, collector.store, key.project, flt, limit=limit, offset=offset, sort=sort, order=order
    ))


@router.get("/sessions", summary="Sessions (conversations), most recently active first",
            response_model=models.SessionPage, responses=READ_ERRORS)
async def list_sessions(
    key: ReadKey,
    collector: CollectorDep,
    window: TimeWindow,
    agent: str = "",
    agent_version: str = "",
    user: str = "",
    q: Annotated[str, Query(max_length=1000, description="every word in a span of one of the session's runs")] = "",
    errors_only: Annotated[bool, Query(description="only sessions with a failed span")] = False,
    limit: Annotated[int, Query(ge=1, le=tracelist.MAX_PAGE)] = 50,
    offset: Offset = 0,
) -> Response:
    return respond(await run_in_threadpool(
        tracelist.list_sessions, collector.store, key.project, start=window.start, end=window.end,
        agent=agent, agent_version=agent_version, user=user, q=q, errors_only=errors_only, limit=limit,
        offset=offset,
    ))


def _session(store: Store, project: str, session_id: str) -> dict[str, Any]:
    found = tracelist.get_session(store, project, session_id)
    if found is None:
        raise NotFound(f"no session {session_id!r} in project {project!r}")
    return found


@router.get("/sessions/{session_id}", summary="One session: its runs in order and one transcript across them",
            response_model=models.Session, responses=errors(400, 401, 403, 404, 503))
async def get_session(
    key: ReadKey,
    collector: CollectorDep,
    session_id: Annotated[str, Path(min_length=1, max_length=256)],
) -> Response:
    return respond(await run_in_threadpool(_session, collector.store, key.project, session_id))


@router.get("/cost", summary="Cost, tokens and model calls grouped by model / agent / day / …",
            response_model=models.CostAnswer, responses=READ_ERRORS)
async def cost(
    key: ReadKey,
    collector: CollectorDep,
    window: TimeWindow,
    group_by: Annotated[list[str], Query(description=f"any of {sorted(costs.GROUPS)}")] = ["model"],
) -> Response:
    rows = await run_in_threadpool(
        costs.cost_summary, collector.store, key.project, group_by, start=window.start, end=window.end
    )
    return respond({"group_by": group_by, "rows": rows})


@router.get("/facets", summary="Distinct values for the search filters", response_model=models.Facets,
            responses=errors(401, 403, 503))
async def facets(key: ReadKey, collector: CollectorDep) -> Response:
    return respond(await run_in_threadpool(queries.facets, collector.store, key.project))


@router.get("/metrics", summary="The OTLP metrics the project sent (GenAI client metrics and others)",
            response_model=models.MetricCatalogue, responses=READ_ERRORS)
async def metric_catalogue(key: ReadKey, collector: CollectorDep, window: TimeWindow) -> Response:
    found = await run_in_threadpool(stored_metrics.names, collector.store, key.project,
                                    start=window.start, end=window.end)
    return respond({"metrics": found})


@router.get("/metrics/series", summary="One metric: totals per model / token type / … and its points",
            response_model=models.MetricSeries, responses=READ_ERRORS)
async def metric_series(
    key: ReadKey,
    collector: CollectorDep,
    window: TimeWindow,
    name: Annotated[str, Query(min_length=1, max_length=255, description="Metric name, e.g. gen_ai.client.token.usage")],
    group_by: Annotated[str, Query(pattern="^(model|provider|operation|token_type|agent|service)$")] = "model",
) -> Response:
    return respond(await run_in_threadpool(stored_metrics.series, collector.store, key.project, name,
                                           start=window.start, end=window.end, group_by=group_by))
