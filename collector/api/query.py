"""The read-only query API (``/api/…``): what the UI and ``curl`` see (docs/internals.md §4).

Every route needs a read key (engineer, auditor or admin) and only ever reads the key's own
project. Routes parse, authorise and call :mod:`flightlog.storage.queries`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from flightlog.storage import costs, queries
from flightlog.storage.filters import SpanFilter
from flightlog.storage.logs import logs_for_trace

from flightlog.collector.auth import READ_ROLES
from flightlog.collector.errors import BadRequest, NotFound
from flightlog.collector.genai.records import attach_to_spans
from flightlog.collector.api.params import as_utc as _utc

router = APIRouter(prefix="/api", tags=["query"])

_HEX = set("0123456789abcdef")


def _project(request: Request) -> str:
    return request.app.state.collector.auth.require(request.headers, READ_ROLES).project


@router.get("/traces/{trace_id}", summary="One trace: every span in tree order")
async def get_trace(request: Request, trace_id: str) -> dict[str, Any]:
    project = _project(request)
    trace_id = trace_id.lower()
    if len(trace_id) != 32 or not set(trace_id) <= _HEX:
        raise BadRequest(f"trace id must be 32 hex characters, got {trace_id[:64]!r}")
    store = request.app.state.collector.store
    trace = await run_in_threadpool(queries.get_trace, store, project, trace_id)
    if trace is None:
        raise NotFound(f"no trace {trace_id} in project {project!r}")
    records = await run_in_threadpool(logs_for_trace, store, project, trace_id)
    attach_to_spans(trace["spans"], records)
    return trace


@router.get("/spans", summary="Search spans by text and filters, one page at a time")
async def search_spans(
    request: Request,
    q: Annotated[str, Query(max_length=1000, description="Words that must all appear (case-insensitive) in input, output, tool arguments or result")] = "",
    start: Annotated[datetime | None, Query(description="ISO 8601; spans starting at or after")] = None,
    end: Annotated[datetime | None, Query(description="ISO 8601; spans starting before")] = None,
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
    limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    sort: Annotated[str, Query(pattern="^(time|cost|tokens|duration)$")] = "time",
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
) -> dict[str, Any]:
    project = _project(request)
    flt = SpanFilter(
        q=q, start=_utc(start), end=_utc(end), model=model, status=status,
        equals={
            "agent": agent, "agent_version": agent_version, "prompt_id": prompt_id,
            "prompt_version": prompt_version, "span_type": span_type, "user": user,
            "session": session, "trace_id": trace_id.lower(), "tool": tool,
        },
    )
    store = request.app.state.collector.store
    return await run_in_threadpool(
        queries.search_spans, store, project, flt, limit=limit, offset=offset, sort=sort, order=order
    )


@router.get("/cost", summary="Cost, tokens and model calls grouped by model / agent / day / …")
async def cost(
    request: Request,
    group_by: Annotated[list[str], Query(description=f"any of {sorted(costs.GROUPS)}")] = ["model"],
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, Any]:
    project = _project(request)
    store = request.app.state.collector.store
    rows = await run_in_threadpool(
        costs.cost_summary, store, project, group_by, start=_utc(start), end=_utc(end)
    )
    return {"group_by": group_by, "rows": rows}


@router.get("/facets", summary="Distinct values for the search filters")
async def facets(request: Request) -> dict[str, list[str]]:
    project = _project(request)
    return await run_in_threadpool(queries.facets, request.app.state.collector.store, project)
