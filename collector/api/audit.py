"""Audit and governance routes, the access-log middleware and the background services.

``/api/audit/…`` needs an auditor or admin key (checkpoints: any read key) and reads the
key's own project: chain verification, the access log, exports and their manifests, the
governance change log, checkpoints, review scores. ``/api/admin/…`` (admin keys) sets
retention, legal holds, budgets and review sampling; ``/api/budget/remaining`` is for the SDK.

Wiring (collector/app.py): ``AuditServices`` is built in ``Collector.__init__`` and its
``prepare`` is the BatchWriter hook that chains each batch; ``install(app)`` adds the
routers and the access-log middleware.

Split by concern: ``audit_services`` (AuditServices), ``access_log`` (the middleware),
``governance_api`` (the admin and budget routers), ``audit_common`` (shared helpers).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from flightlog.storage import audit as db
from flightlog.storage import governance as gov

from flightlog.collector.audit import export
from flightlog.collector.audit.access_log import MAX_COUNTED_BODY, AccessLogMiddleware, count_rows
from flightlog.collector.api.deps import _key, _services, _trace_ids, _utc
from flightlog.collector.audit.services import (
    ACCESS_FLUSH_S,
    BUDGET_CHECK_S,
    MAX_ACCESS_BUFFER,
    RETENTION_EVERY_S,
    REVIEW_SAMPLE_EVERY_S,
    AuditServices,
)
from flightlog.collector.auth import AUDIT_ROLES, READ_ROLES
from flightlog.collector.audit.chain import verify
from flightlog.collector.errors import NotFound
from flightlog.collector.api.governance import admin_router, budget_router

__all__ = [
    "ACCESS_FLUSH_S", "BUDGET_CHECK_S", "MAX_ACCESS_BUFFER", "MAX_COUNTED_BODY", "RETENTION_EVERY_S",
    "REVIEW_SAMPLE_EVERY_S", "AccessLogMiddleware", "AuditServices", "admin_router", "budget_router",
    "count_rows", "install", "router",
]


def install(app: FastAPI) -> None:
    """Add the audit routers and the access-log middleware to the collector app."""
    app.include_router(router)
    app.include_router(admin_router)
    app.include_router(budget_router)
    app.add_middleware(AccessLogMiddleware)


router = APIRouter(prefix="/api/audit", tags=["audit"])


# -- audit routes ------------------------------------------------------------------------------------
@router.get("/verify", summary="Recompute the project's hash chain; name altered, deleted and forged spans")
async def verify_chain(
    request: Request,
    start: Annotated[datetime | None, Query(description="ISO 8601; spans starting at or after")] = None,
    end: Annotated[datetime | None, Query(description="ISO 8601; spans starting before")] = None,
) -> dict[str, Any]:
    key = _key(request, AUDIT_ROLES)
    store = request.app.state.collector.store
    report = await run_in_threadpool(verify, store, key.project, start=_utc(start), end=_utc(end))
    return {**report.to_dict(), "summary": report.summary()}


@router.get("/access", summary="Search the access log (newest first)")
async def access_log(
    request: Request,
    key_id: str = "",
    role: str = "",
    endpoint: str = "",
    contains: Annotated[str, Query(max_length=200)] = "",
    start: datetime | None = None,
    end: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=db.MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    key = _key(request, AUDIT_ROLES)
    services = _services(request)
    await run_in_threadpool(services.flush_access)
    flt = db.AccessFilter(key_id=key_id, role=role, endpoint=endpoint, contains=contains, start=_utc(start),
                          end=_utc(end))
    return await run_in_threadpool(db.search_access, services.store, key.project, flt, limit=limit, offset=offset)


def _export_filter(start: datetime | None, end: datetime | None, agent: str, user: str,
                   trace_id: list[str]) -> db.ExportFilter:
    return db.ExportFilter(start=_utc(start), end=_utc(end), agent=agent, user=user, trace_ids=_trace_ids(trace_id))


@router.get("/export", summary="Stream spans as JSONL, CSV or Parquet (JSONL ends with the manifest)")
async def export_spans(
    request: Request,
    format: Annotated[str, Query(pattern="^(jsonl|csv|parquet)$")] = "jsonl",
    start: datetime | None = None,
    end: datetime | None = None,
    agent: str = "",
    user: str = "",
    trace_id: Annotated[list[str], Query(description="Repeat or comma-separate")] = [],
    manifest: Annotated[bool, Query(description="JSONL only: end with a manifest line")] = True,
) -> StreamingResponse:
    key = _key(request, AUDIT_ROLES)
    store = request.app.state.collector.store
    flt = _export_filter(start, end, agent, user, trace_id)
    builder = _manifest_builder(key.project, format, flt)
    state = request.scope.setdefault("state", {})

    def body() -> Any:
        rows = builder.observe(export.iter_spans(store, key.project, flt))
        yield from export.chunks(format, rows)
        state["flightlog_rows"] = builder.count
        if format == "jsonl" and manifest:
            yield (json.dumps({export.MANIFEST_KEY: builder.build(store)}, sort_keys=True) + "\n").encode()

    name = f"flightlog-{key.project}-spans.{format}"
    return StreamingResponse(body(), media_type=export.MEDIA_TYPES[format],
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _manifest_builder(project: str, fmt: str, flt: db.ExportFilter) -> export.ManifestBuilder:
    """The manifest builder of an export (the streamed one and /export/manifest share it)."""
    return export.ManifestBuilder(project=project, fmt=fmt, filters=_filters_dict(flt))


def _filters_dict(flt: db.ExportFilter) -> dict[str, Any]:
    return {"start": flt.start.isoformat() if flt.start else None, "end": flt.end.isoformat() if flt.end else None,
            "agent": flt.agent, "user": flt.user, "trace_ids": flt.trace_ids}


@router.get("/export/manifest", summary="The manifest of an export with the same filters (counts, chain links)")
async def export_manifest(
    request: Request,
    format: Annotated[str, Query(pattern="^(jsonl|csv|parquet)$")] = "jsonl",
    start: datetime | None = None,
    end: datetime | None = None,
    agent: str = "",
    user: str = "",
    trace_id: Annotated[list[str], Query()] = [],
) -> dict[str, Any]:
    key = _key(request, AUDIT_ROLES)
    store = request.app.state.collector.store
    flt = _export_filter(start, end, agent, user, trace_id)

    def build() -> dict[str, Any]:
        builder = _manifest_builder(key.project, format, flt)
        for _ in builder.observe(export.iter_spans(store, key.project, flt)):
            pass
        return builder.build(store)

    return await run_in_threadpool(build)


@router.get("/export/count", summary="How many spans an export with these filters holds")
async def export_count(
    request: Request,
    start: datetime | None = None,
    end: datetime | None = None,
    agent: str = "",
    user: str = "",
    trace_id: Annotated[list[str], Query()] = [],
) -> dict[str, Any]:
    key = _key(request, AUDIT_ROLES)
    flt = _export_filter(start, end, agent, user, trace_id)
    count = await run_in_threadpool(db.export_count, request.app.state.collector.store, key.project, flt)
    return {"spans": count}


@router.get("/chain", summary="Chain links by sequence number (for offline checks)")
async def chain_links(request: Request, seq: Annotated[list[int], Query()] = []) -> dict[str, Any]:
    key = _key(request, AUDIT_ROLES)
    store = request.app.state.collector.store
    links = await run_in_threadpool(db.chain_links_for, store, key.project, seq[:10_000])
    head = await run_in_threadpool(db.chain_head, store, key.project)
    return {"rows": [{"seq": int(l["Seq"]), "batch_id": l["Bid"], "prev_hash": l["Prev"], "hash": l["LinkHash"],
                      "spans": int(l["N"])} for l in links],
            "head": {"seq": head[0], "hash": head[1]} if head else None}


@router.get("/governance", summary="Changes to retention, legal holds, budgets and review settings")
async def governance(request: Request, limit: Annotated[int, Query(ge=1, le=db.MAX_PAGE)] = 200) -> dict[str, Any]:
    key = _key(request, AUDIT_ROLES)
    changes = await run_in_threadpool(gov.governance_log, request.app.state.collector.store, key.project, limit)
    return {"changes": changes}


@router.get("/checkpoints", summary="Human checkpoints: tier, decision, approver, wait; unapproved tier-3 flagged")
async def checkpoints(
    request: Request,
    start: datetime | None = None,
    end: datetime | None = None,
    min_tier: Annotated[int, Query(ge=1, le=3)] = 2,
    flagged_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=db.MAX_PAGE)] = 200,
) -> dict[str, Any]:
    key = _key(request, READ_ROLES)
    return await run_in_threadpool(db.checkpoints, request.app.state.collector.store, key.project,
                                   start=_utc(start), end=_utc(end), min_tier=min_tier, flagged_only=flagged_only,
                                   limit=limit)


# -- human review (the audit side; sampling settings are in governance_api) --------------------------------------------------------------------------------
class ReviewScore(BaseModel):
    trace_id: str
    span_id: str = ""
    score: float = Field(ge=0.0, le=10.0)
    label: str = Field(default="", max_length=100)
    comment: str = Field(default="", max_length=10_000)



@router.get("/reviews/queue", summary="Sampled runs waiting for (or with) a review")
async def review_queue(request: Request, agent: str = "", pending_only: bool = True,
                       limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    from flightlog.storage import reviews as rdb

    key = _key(request, READ_ROLES)
    rows = await run_in_threadpool(lambda: rdb.queue(request.app.state.collector.store, key.project,
                                                     pending_only=pending_only, agent=agent, limit=limit))
    return {"queue": rows}


@router.post("/reviews/scores", summary="Record a reviewer's score, label and comment for a sampled run")
async def add_review_score(request: Request, body: ReviewScore) -> dict[str, Any]:
    from flightlog.storage import reviews as rdb

    key = _key(request, READ_ROLES)
    trace_id = _trace_ids([body.trace_id])[0] if body.trace_id else ""
    store = request.app.state.collector.store

    def save() -> dict[str, Any]:
        run = rdb.queued_run(store, key.project, trace_id)
        if run is None:
            raise NotFound(f"trace {trace_id} is not in the review queue of project {key.project!r}")
        span_id = body.span_id or run["SpanId"]
        rdb.add_score(store, key.project, trace_id, span_id, run["AgentName"], run["PromptVersion"], key.key_id,
                      body.score, body.label, body.comment)
        return {"trace_id": trace_id, "span_id": span_id, "reviewer": key.key_id, "score": body.score,
                "label": body.label, "agent": run["AgentName"], "prompt_version": run["PromptVersion"]}

    return await run_in_threadpool(save)


@router.get("/reviews/scores", summary="Review scores, newest first")
async def review_scores(request: Request, trace_id: str = "",
                        limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> dict[str, Any]:
    from flightlog.storage import reviews as rdb

    key = _key(request, READ_ROLES)
    rows = await run_in_threadpool(rdb.scores, request.app.state.collector.store, key.project, trace_id.lower(), limit)
    return {"scores": rows}


@router.get("/reviews/trend", summary="Mean review score per day by agent or prompt version")
async def review_trend(request: Request,
                       by: Annotated[str, Query(pattern="^(agent|prompt_version)$")] = "agent") -> dict[str, Any]:
    from flightlog.storage import reviews as rdb

    key = _key(request, READ_ROLES)
    return {"by": by, "points": await run_in_threadpool(rdb.trend, request.app.state.collector.store, key.project, by)}


@router.get("/budget-alerts", summary="Budget alerts raised at 80% and 100%, with webhook outcome")
async def budget_alerts(request: Request, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> dict[str, Any]:
    from flightlog.storage import budgets as bdb

    key = _key(request, AUDIT_ROLES)
    return {"alerts": await run_in_threadpool(bdb.alerts, request.app.state.collector.store, key.project, limit)}

