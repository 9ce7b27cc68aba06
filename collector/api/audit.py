"""The audit API (``/api/audit/…``): chain verification, the access log, exports and their
manifests, the governance change log, human checkpoints and review scores.

Auditor or admin keys (checkpoints and reviews: any read key); every route reads only the
key's own project. Admin changes are in :mod:`.admin`; the services behind these routes
(chain, exports, access log, reviews) in :mod:`flightlog.collector.audit`.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from flightlog.storage import audit as db
from flightlog.storage import budgets as budget_store
from flightlog.storage import governance as gov
from flightlog.storage import reviews as review_store
from flightlog.storage.timewindow import Window

from flightlog.collector.api import models
from flightlog.collector.contract import ContractRoute, errors, respond
from flightlog.collector.api.deps import AuditKey, CollectorDep, ReadKey, TimeWindow, trace_ids
from flightlog.collector.api.query import READ_ERRORS
from flightlog.collector.audit import export
from flightlog.collector.audit.chain import verify
from flightlog.collector.errors import BadRequest, NotFound

router = APIRouter(prefix="/api/audit", tags=["audit"], route_class=ContractRoute)


@router.get("/verify", summary="Recompute the project's hash chain; name altered, deleted and forged spans",
            response_model=models.VerifyReport, responses=READ_ERRORS)
async def verify_chain(key: AuditKey, collector: CollectorDep, window: TimeWindow) -> Response:
    report = await run_in_threadpool(verify, collector.store, key.project, start=window.start, end=window.end)
    return respond({**report.to_dict(), "summary": report.summary()})


@router.get("/access", summary="Search the access log (newest first)", response_model=models.AccessLogPage,
            responses=READ_ERRORS)
async def access_log(
    key: AuditKey,
    collector: CollectorDep,
    window: TimeWindow,
    key_id: str = "",
    role: str = "",
    endpoint: str = "",
    contains: Annotated[str, Query(max_length=200)] = "",
    limit: Annotated[int, Query(ge=1, le=db.MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    await run_in_threadpool(collector.audit.flush_access)
    flt = db.AccessFilter(key_id=key_id, role=role, endpoint=endpoint, contains=contains, start=window.start,
                          end=window.end)
    return respond(await run_in_threadpool(db.search_access, collector.store, key.project, flt, limit=limit,
                                           offset=offset))


ExportFormat = Annotated[str, Query(pattern="^(jsonl|csv|parquet)$")]
TraceIdList = Annotated[list[str], Query(description="Repeat or comma-separate")]


def _export_filter(window: Window, agent: str, user: str, trace_id: list[str]) -> db.ExportFilter:
    return db.ExportFilter(start=window.start, end=window.end, agent=agent, user=user, trace_ids=trace_ids(trace_id))


def _manifest_builder(project: str, fmt: str, flt: db.ExportFilter) -> export.ManifestBuilder:
    """The manifest builder of an export (the streamed one and /export/manifest share it)."""
    filters = {"start": flt.start.isoformat() if flt.start else None, "end": flt.end.isoformat() if flt.end else None,
               "agent": flt.agent, "user": flt.user, "trace_ids": flt.trace_ids}
    return export.ManifestBuilder(project=project, fmt=fmt, filters=filters)


_EXPORT_CONTENT = {
    "application/x-ndjson": {"schema": {"type": "string"}, "example": '{"SpanId": "…", "TraceId": "…", …}\n'},
    "text/csv": {"schema": {"type": "string"}},
    "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
}


@router.get("/export", summary="Stream spans as JSONL, CSV or Parquet (JSONL ends with the manifest)",
            response_class=StreamingResponse,
            responses={200: {"description": "The spans with the store's column names, one per JSONL line or CSV row "
                                            "(maps and arrays as JSON text in CSV), or a Parquet file. A JSONL export "
                                            "ends with a line {\"flightlog_manifest\": ExportManifest} unless "
                                            "manifest=false.", "content": _EXPORT_CONTENT},
                       **READ_ERRORS})
async def export_spans(
    request: Request,
    key: AuditKey,
    collector: CollectorDep,
    window: TimeWindow,
    format: ExportFormat = "jsonl",
    agent: str = "",
    user: str = "",
    trace_id: TraceIdList = [],
    manifest: Annotated[bool, Query(description="JSONL only: end with a manifest line")] = True,
) -> StreamingResponse:
    store = collector.store
    flt = _export_filter(window, agent, user, trace_id)
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


@router.get("/export/manifest", summary="The manifest of an export with the same filters (counts, chain links)",
            response_model=models.ExportManifest, responses=READ_ERRORS)
async def export_manifest(key: AuditKey, collector: CollectorDep, window: TimeWindow, format: ExportFormat = "jsonl",
                          agent: str = "", user: str = "", trace_id: TraceIdList = []) -> Response:
    store = collector.store
    flt = _export_filter(window, agent, user, trace_id)

    def build() -> dict[str, Any]:
        builder = _manifest_builder(key.project, format, flt)
        for _ in builder.observe(export.iter_spans(store, key.project, flt)):
            pass
        return builder.build(store)

    return respond(await run_in_threadpool(build))


@router.get("/export/count", summary="How many spans an export with these filters holds",
            response_model=models.ExportCount, responses=READ_ERRORS)
async def export_count(key: AuditKey, collector: CollectorDep, window: TimeWindow, agent: str = "", user: str = "",
                       trace_id: TraceIdList = []) -> Response:
    flt = _export_filter(window, agent, user, trace_id)
    count = await run_in_threadpool(db.export_count, collector.store, key.project, flt)
    return respond({"spans": count})


@router.get("/chain", summary="Chain links by sequence number (for offline checks)", response_model=models.ChainLinks,
            responses=READ_ERRORS)
async def chain_links(key: AuditKey, collector: CollectorDep,
                      seq: Annotated[list[Annotated[int, Field(ge=0)]], Query()] = [],
                      stream: Annotated[str | None, Query(max_length=200, description=(
                          "Only this stream (a collector instance id; empty: the links written before "
                          "streams); every stream when absent."))] = None) -> Response:
    store = collector.store
    links = await run_in_threadpool(db.chain_links_for, store, key.project, seq[:10_000], stream)
    heads = await run_in_threadpool(db.chain_heads, store, key.project)
    if stream is not None:
        heads = [h for h in heads if h[0] == stream]
    return respond({"rows": [{"stream": link["Stream"], "seq": int(link["Seq"]), "batch_id": link["Bid"],
                              "prev_hash": link["Prev"], "hash": link["LinkHash"], "spans": int(link["N"])}
                             for link in links],
                    "head": {"seq": heads[0][1], "hash": heads[0][2], "stream": heads[0][0]} if heads else None,
                    "heads": [{"stream": s, "seq": n, "hash": h} for s, n, h in heads]})


@router.get("/governance", summary="Changes to retention, legal holds, budgets and review settings",
            response_model=models.GovernanceLog, responses=READ_ERRORS)
async def governance(key: AuditKey, collector: CollectorDep,
                     limit: Annotated[int, Query(ge=1, le=db.MAX_PAGE)] = 200) -> Response:
    changes = await run_in_threadpool(gov.governance_log, collector.store, key.project, limit)
    return respond({"changes": changes})


@router.get("/checkpoints", summary="Human checkpoints: tier, decision, approver, wait; unapproved tier-3 flagged",
            response_model=models.CheckpointAudit, responses=READ_ERRORS)
async def checkpoints(
    key: ReadKey,
    collector: CollectorDep,
    window: TimeWindow,
    min_tier: Annotated[int, Query(ge=1, le=3)] = 2,
    flagged_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=db.MAX_PAGE)] = 200,
) -> Response:
    return respond(await run_in_threadpool(db.checkpoints, collector.store, key.project, start=window.start,
                                           end=window.end, min_tier=min_tier, flagged_only=flagged_only, limit=limit))


# -- human review (sampling settings are admin routes, :mod:`.admin`) -----------------------------------
class ReviewScore(BaseModel):
    trace_id: str
    span_id: str = ""
    score: float = Field(ge=0.0, le=10.0)
    label: str = Field(default="", max_length=100)
    comment: str = Field(default="", max_length=10_000)


@router.get("/reviews/queue", summary="Sampled runs waiting for (or with) a review", response_model=models.ReviewQueue,
            responses=READ_ERRORS)
async def review_queue(key: ReadKey, collector: CollectorDep, agent: str = "", pending_only: bool = True,
                       limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Response:
    rows = await run_in_threadpool(lambda: review_store.queue(collector.store, key.project, pending_only=pending_only,
                                                              agent=agent, limit=limit))
    return respond({"queue": rows})


@router.post("/reviews/scores", summary="Record a reviewer's score, label and comment for a sampled run",
             response_model=models.ReviewScoreSaved, responses=errors(400, 401, 403, 404, 503))
async def add_review_score(key: ReadKey, collector: CollectorDep, body: ReviewScore) -> Response:
    found = trace_ids([body.trace_id])
    if len(found) != 1:
        raise BadRequest("trace_id must be one trace id (32 hex characters)")
    trace_id, store = found[0], collector.store

    def save() -> dict[str, Any]:
        run = review_store.queued_run(store, key.project, trace_id)
        if run is None:
            raise NotFound(f"trace {trace_id} is not in the review queue of project {key.project!r}")
        span_id = body.span_id or run["SpanId"]
        # Queued before the run's prompts were recorded: its LLM calls say them.
        prompts = run["PromptVersion"] or review_store.run_prompts(store, key.project, trace_id)
        review_store.add_score(store, key.project, trace_id, span_id, run["AgentName"], prompts,
                               key.key_id, body.score, body.label, body.comment)
        return {"trace_id": trace_id, "span_id": span_id, "reviewer": key.key_id, "score": body.score,
                "label": body.label, "agent": run["AgentName"], "prompt_version": prompts}

    return respond(await run_in_threadpool(save))


@router.get("/reviews/scores", summary="Review scores, newest first", response_model=models.ReviewScores,
            responses=READ_ERRORS)
async def review_scores(key: ReadKey, collector: CollectorDep, trace_id: str = "",
                        limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> Response:
    rows = await run_in_threadpool(review_store.scores, collector.store, key.project, trace_id.lower(), limit)
    return respond({"scores": rows})


@router.get("/reviews/trend", summary="Mean review score per day by agent or prompt version",
            response_model=models.ReviewTrend, responses=READ_ERRORS)
async def review_trend(key: ReadKey, collector: CollectorDep,
                       by: Annotated[str, Query(pattern="^(agent|prompt_version)$")] = "agent") -> Response:
    return respond({"by": by, "points": await run_in_threadpool(review_store.trend, collector.store, key.project, by)})


@router.get("/budget-alerts", summary="Budget alerts raised at 80% and 100%, with webhook outcome",
            response_model=models.BudgetAlerts, responses=READ_ERRORS)
async def budget_alerts(key: AuditKey, collector: CollectorDep,
                        limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> Response:
    return respond({"alerts": await run_in_threadpool(budget_store.alerts, collector.store, key.project, limit)})
