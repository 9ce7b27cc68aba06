"""Audit and governance routes, the access-log middleware and the background services.

``/api/audit/…`` needs an auditor or admin key (checkpoints: any read key) and reads the
key's own project: chain verification, the access log, exports and their manifests, the
governance change log, checkpoints, review scores. ``/api/admin/…`` (admin keys) sets
retention, legal holds, budgets and review sampling; ``/api/budget/remaining`` is for the SDK.

Wiring (collector/app.py): ``AuditServices`` is built in ``Collector.__init__`` and its
``prepare`` is the BatchWriter hook that chains each batch; ``install(app)`` adds the
routers and the access-log middleware.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import deque
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flightlog.storage import StorageError, Store
from flightlog.storage import audit as db
from flightlog.storage.keys import KeyRecord

from . import budgets, export, reviews
from .auth import ADMIN_ROLES, AUDIT_ROLES, READ_ROLES, key_from_headers
from .chain import ChainWriter, apply_retention, verify
from .errors import BadRequest, CollectorError, Forbidden, NotFound

log = logging.getLogger(__name__)

ACCESS_FLUSH_S = 1.0
BUDGET_CHECK_S = 5.0
RETENTION_EVERY_S = 3600.0
REVIEW_SAMPLE_EVERY_S = 600.0
MAX_ACCESS_BUFFER = 10_000
MAX_COUNTED_BODY = 8 * 1024 * 1024  # larger JSON answers are logged with rows = -1 → 0
_HEX = frozenset("0123456789abcdef")


# -- background services -------------------------------------------------------------------------
class AuditServices:
    """Chain writer, access-log buffer and the periodic jobs (retention, budgets, sampling).

    One daemon thread runs the jobs; ``close()`` stops it and flushes the access log.
    """

    def __init__(self, store: Store, settings: Any = None, *, start: bool = True) -> None:
        self.store = store
        self.settings = settings
        self.chain = ChainWriter(store)
        self.budgets = budgets.BudgetMonitor(store)
        self._access: deque[list[Any]] = deque()
        self._access_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="flightlog-audit", daemon=True)
        if start:
            self._thread.start()

    def prepare(self, rows: list[list[Any]]) -> list[list[Any]]:
        """The BatchWriter hook: chain the batch (deterministic, so retries are safe)."""
        return self.chain.prepare(rows)

    # access log
    def record_access(self, entry: list[Any]) -> None:
        with self._access_lock:
            self._access.append(entry)
            full = len(self._access) >= MAX_ACCESS_BUFFER
        if full:
            self.flush_access()

    def flush_access(self) -> None:
        with self._access_lock:
            rows = list(self._access)
            self._access.clear()
        if not rows:
            return
        try:
            db.insert_access(self.store, rows)
        except StorageError:
            log.exception("access log insert failed; %d entries kept for the next flush", len(rows))
            with self._access_lock:
                self._access.extendleft(reversed(rows))

    # periodic jobs
    def run_retention(self, actor: str = "retention") -> list[dict[str, Any]]:
        now = time.time_ns()
        return [apply_retention(self.store, p, now_ns=now, actor=actor).to_dict()
                for p, days in db.retention_policies(self.store).items() if days > 0]

    def _run(self) -> None:
        last = {"budget": 0.0, "retention": time.monotonic(), "reviews": 0.0}
        jobs = (("budget", BUDGET_CHECK_S, self.budgets.check),
                ("retention", RETENTION_EVERY_S, self.run_retention),
                ("reviews", REVIEW_SAMPLE_EVERY_S, lambda: reviews.sample_all(self.store)))
        while not self._stop.wait(ACCESS_FLUSH_S):
            self.flush_access()
            for name, every, job in jobs:
                if time.monotonic() - last[name] < every:
                    continue
                last[name] = time.monotonic()
                try:
                    job()
                except Exception:  # a failing job must not stop the others; logged with its traceback
                    log.exception("audit job %s failed", name)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self.flush_access()
        self.budgets.close()


# -- access log middleware ---------------------------------------------------------------------
_ROW_KEYS = ("rows", "spans", "entries", "checkpoints", "keys", "traces", "items", "holds", "budgets", "alerts",
             "queue", "scores", "points", "series", "changes", "results", "models", "steps")


def count_rows(payload: Any) -> int:
    """Rows in a JSON answer: a list's length, else the first list under a known key, else 1."""
    if isinstance(payload, list):
        return len(payload)
    if isinstance(payload, dict):
        for key in _ROW_KEYS:
            if isinstance(payload.get(key), list):
                return len(payload[key])
        return 1
    return 0


class AccessLogMiddleware:
    """Records every ``/api/…`` request (key id, role, endpoint, parameters, status, rows)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        seen: dict[str, Any] = {"status": 0, "json": False, "body": [], "size": 0}

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                headers = dict(message.get("headers") or [])
                seen["json"] = headers.get(b"content-type", b"").startswith(b"application/json")
            elif message["type"] == "http.response.body" and seen["json"]:
                body = message.get("body", b"")
                seen["size"] += len(body)
                if seen["size"] <= MAX_COUNTED_BODY:
                    seen["body"].append(body)
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            self._record(scope, seen, (time.perf_counter() - started) * 1000)

    def _record(self, scope: Scope, seen: dict[str, Any], duration_ms: float) -> None:
        app = scope.get("app")
        collector = getattr(getattr(app, "state", None), "collector", None)
        services: AuditServices | None = getattr(collector, "audit", None)
        if services is None:
            return
        from starlette.datastructures import Headers, QueryParams

        record: KeyRecord | None = None
        try:
            record = collector.auth.lookup(key_from_headers(Headers(scope=scope)))
        except CollectorError:
            record = None
        rows = (scope.get("state") or {}).get("flightlog_rows")
        if rows is None:
            rows = 0
            if seen["json"] and 200 <= seen["status"] < 300 and seen["size"] <= MAX_COUNTED_BODY:
                try:
                    rows = count_rows(json.loads(b"".join(seen["body"]) or b"null"))
                except ValueError:
                    rows = 0
        query = QueryParams(scope.get("query_string", b""))
        params: dict[str, Any] = {}
        for k in query.keys():
            values = query.getlist(k)
            params[k] = values if len(values) > 1 else values[0]
        params.update({f"path.{k}": str(v) for k, v in (scope.get("path_params") or {}).items()})
        route = scope.get("route")
        client = scope.get("client") or ("", 0)
        services.record_access([
            int(time.time() * 1000), record.project if record else "", record.key_id if record else "",
            record.role if record else "", scope.get("method", ""), getattr(route, "path", "unmatched"),
            scope["path"], json.dumps(params, sort_keys=True), int(seen["status"]), int(rows), duration_ms,
            str(client[0]),
        ])


def install(app: FastAPI) -> None:
    """Add the audit routers and the access-log middleware to the collector app."""
    app.include_router(router)
    app.include_router(admin_router)
    app.include_router(budget_router)
    app.add_middleware(AccessLogMiddleware)


# -- helpers ---------------------------------------------------------------------------------------
router = APIRouter(prefix="/api/audit", tags=["audit"])
admin_router = APIRouter(prefix="/api/admin", tags=["governance"])
budget_router = APIRouter(prefix="/api/budget", tags=["budget"])


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _key(request: Request, roles: frozenset[str]) -> KeyRecord:
    return request.app.state.collector.auth.require(request.headers, roles)


def _services(request: Request) -> AuditServices:
    return request.app.state.collector.audit


def _admin_project(request: Request, project: str | None) -> tuple[KeyRecord, str]:
    """The admin key and the project it acts on (instance admins may name another project)."""
    collector = request.app.state.collector
    admin = _key(request, ADMIN_ROLES)
    target = project or admin.project
    if target != admin.project and admin.project != collector.settings.project:
        raise Forbidden(f"an admin key of project {admin.project!r} may not manage project {target!r}")
    return admin, target


def _trace_ids(values: list[str]) -> list[str]:
    out = []
    for value in values:
        for part in value.split(","):
            part = part.strip().lower()
            if not part:
                continue
            if len(part) != 32 or not set(part) <= _HEX:
                raise BadRequest(f"trace id must be 32 hex characters, got {part[:64]!r}")
            out.append(part)
    return out


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
    builder = export.ManifestBuilder(project=key.project, fmt=format, filters=_filters_dict(flt))
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
        builder = export.ManifestBuilder(project=key.project, fmt=format, filters=_filters_dict(flt))
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
    changes = await run_in_threadpool(db.governance_log, request.app.state.collector.store, key.project, limit)
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


# -- admin: retention and legal holds -------------------------------------------------------------
class RetentionBody(BaseModel):
    days: int = Field(ge=0, le=36_500, description="Keep spans this many days; 0 keeps them forever.")
    project: str | None = None


class HoldBody(BaseModel):
    trace_ids: list[str] = Field(default_factory=list, description="Empty: hold the whole project.")
    reason: str = Field(default="", max_length=1000)
    project: str | None = None


@admin_router.put("/retention", summary="Set the project's retention (days)")
async def put_retention(request: Request, body: RetentionBody) -> dict[str, Any]:
    admin, project = _admin_project(request, body.project)
    store = request.app.state.collector.store

    def change() -> None:
        before = db.retention_policies(store, project).get(project, 0)
        db.set_retention(store, project, body.days, admin.key_id)
        db.log_change(store, project, admin.key_id, "retention.set", {"days": body.days, "before": before})

    await run_in_threadpool(change)
    return {"project": project, "days": body.days}


@admin_router.get("/retention", summary="The project's retention and active legal holds")
async def get_retention(request: Request, project: str | None = None) -> dict[str, Any]:
    _, project = _admin_project(request, project)
    store = request.app.state.collector.store
    days = (await run_in_threadpool(db.retention_policies, store, project)).get(project, 0)
    holds = await run_in_threadpool(db.legal_holds, store, project)
    return {"project": project, "days": days, "holds": holds}


@admin_router.post("/retention/run", summary="Apply retention now (a legal hold suspends or narrows it)")
async def run_retention(request: Request, project: str | None = None) -> dict[str, Any]:
    admin, project = _admin_project(request, project)
    store = request.app.state.collector.store
    run = await run_in_threadpool(lambda: apply_retention(store, project, now_ns=time.time_ns(), actor=admin.key_id))
    return run.to_dict()


@admin_router.post("/holds", summary="Place a legal hold on the project or on a set of traces")
async def create_hold(request: Request, body: HoldBody) -> dict[str, Any]:
    admin, project = _admin_project(request, body.project)
    traces = _trace_ids(body.trace_ids)
    hold_id = uuid.uuid4().hex[:16]
    store = request.app.state.collector.store

    def change() -> None:
        db.put_hold(store, project, hold_id, traces, body.reason, admin.key_id, int(time.time() * 1000))
        db.log_change(store, project, admin.key_id, "hold.create",
                      {"hold_id": hold_id, "trace_ids": traces, "reason": body.reason})

    await run_in_threadpool(change)
    return {"hold_id": hold_id, "project": project, "trace_ids": traces, "scope": "traces" if traces else "project"}


@admin_router.get("/holds", summary="Legal holds of the project")
async def list_holds(request: Request, project: str | None = None, include_released: bool = False) -> dict[str, Any]:
    _, project = _admin_project(request, project)
    holds = await run_in_threadpool(lambda: db.legal_holds(request.app.state.collector.store, project,
                                                           active_only=not include_released))
    return {"holds": holds}


@admin_router.delete("/holds/{hold_id}", summary="Release a legal hold")
async def release_hold(request: Request, hold_id: str, project: str | None = None) -> dict[str, Any]:
    admin, project = _admin_project(request, project)
    store = request.app.state.collector.store

    def change() -> dict[str, Any]:
        found = [h for h in db.legal_holds(store, project) if h["hold_id"] == hold_id]
        if not found:
            raise NotFound(f"no active hold {hold_id!r} in project {project!r}")
        h = found[0]
        db.put_hold(store, project, hold_id, h["trace_ids"], h["reason"], h["created_by"], h["created_at_ms"],
                    released=True, released_by=admin.key_id)
        db.log_change(store, project, admin.key_id, "hold.release", {"hold_id": hold_id})
        return {**h, "released": True, "released_by": admin.key_id}

    return await run_in_threadpool(change)


# -- human review --------------------------------------------------------------------------------
class ReviewRate(BaseModel):
    agent: str = Field(default="", description="Agent name; empty = every agent without its own rate.")
    rate: float = Field(ge=0.0, le=1.0, description="Share of the agent's runs sampled per day.")
    project: str | None = None


class ReviewScore(BaseModel):
    trace_id: str
    span_id: str = ""
    score: float = Field(ge=0.0, le=10.0)
    label: str = Field(default="", max_length=100)
    comment: str = Field(default="", max_length=10_000)


@admin_router.put("/reviews/settings", summary="Set the review sampling rate of an agent (or the default)")
async def put_review_rate(request: Request, body: ReviewRate) -> dict[str, Any]:
    from flightlog.storage import reviews as rdb

    admin, project = _admin_project(request, body.project)
    store = request.app.state.collector.store

    def change() -> None:
        rdb.set_rate(store, project, body.agent, body.rate)
        db.log_change(store, project, admin.key_id, "reviews.rate", {"agent": body.agent, "rate": body.rate})

    await run_in_threadpool(change)
    return {"project": project, "agent": body.agent, "rate": body.rate}


@admin_router.get("/reviews/settings", summary="Review sampling rates")
async def get_review_rates(request: Request, project: str | None = None) -> dict[str, Any]:
    from flightlog.storage import reviews as rdb

    _, project = _admin_project(request, project)
    found = await run_in_threadpool(rdb.rates, request.app.state.collector.store, project)
    return {"project": project, "rates": found.get(project, {})}


@admin_router.post("/reviews/sample", summary="Sample a day's runs into the review queue now")
async def sample_reviews(request: Request, day: Annotated[str, Query(pattern=r"^\d{4}-\d{2}-\d{2}$")],
                         project: str | None = None) -> dict[str, Any]:
    from datetime import date as date_

    _, project = _admin_project(request, project)
    return await run_in_threadpool(reviews.sample, request.app.state.collector.store, project,
                                   date_.fromisoformat(day))


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


# -- budgets ---------------------------------------------------------------------------------------
class BudgetBody(BaseModel):
    scope: str = Field(pattern="^(project|agent|user)$")
    subject: str = Field(default="", description="Agent name or user id; empty for scope=project.")
    max_tokens: int = Field(default=0, ge=0, description="Per UTC day; 0 = no token limit.")
    max_cost_usd: float = Field(default=0.0, ge=0.0, description="Per UTC day; 0 = no cost limit.")
    webhook_url: str = Field(default="", max_length=2000, pattern=r"^(|https?://\S+)$")
    project: str | None = None


@admin_router.put("/budgets", summary="Create or change a daily budget (project, agent or user)")
async def put_budget(request: Request, body: BudgetBody) -> dict[str, Any]:
    from flightlog.storage import budgets as bdb

    admin, project = _admin_project(request, body.project)
    if body.scope != "project" and not body.subject:
        raise BadRequest(f"a {body.scope} budget needs a subject")
    store = request.app.state.collector.store

    def change() -> None:
        bdb.put_budget(store, project, body.scope, body.subject, body.max_tokens, body.max_cost_usd, body.webhook_url)
        db.log_change(store, project, admin.key_id, "budget.set", body.model_dump(exclude={"project"}))

    await run_in_threadpool(change)
    return {"project": project, **body.model_dump(exclude={"project"})}


@admin_router.delete("/budgets/{scope}", summary="Remove a budget")
async def delete_budget(request: Request, scope: str, subject: str = "", project: str | None = None) -> dict[str, Any]:
    from flightlog.storage import budgets as bdb

    admin, project = _admin_project(request, project)
    store = request.app.state.collector.store

    def change() -> None:
        bdb.put_budget(store, project, scope, subject, 0, 0.0, "", deleted=True)
        db.log_change(store, project, admin.key_id, "budget.delete", {"scope": scope, "subject": subject})

    await run_in_threadpool(change)
    return {"project": project, "scope": scope, "subject": subject, "deleted": True}


@admin_router.post("/budgets/check", summary="Check every budget now (alerts due are raised and sent)")
async def check_budgets(request: Request) -> dict[str, Any]:
    _key(request, ADMIN_ROLES)
    raised = await run_in_threadpool(_services(request).budgets.check)
    return {"alerts": raised}


@admin_router.get("/budgets", summary="Budgets of the project")
async def list_budgets(request: Request, project: str | None = None) -> dict[str, Any]:
    from flightlog.storage import budgets as bdb

    _, project = _admin_project(request, project)
    return {"budgets": await run_in_threadpool(bdb.budgets, request.app.state.collector.store, project)}


@router.get("/budget-alerts", summary="Budget alerts raised at 80% and 100%, with webhook outcome")
async def budget_alerts(request: Request, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> dict[str, Any]:
    from flightlog.storage import budgets as bdb

    key = _key(request, AUDIT_ROLES)
    return {"alerts": await run_in_threadpool(bdb.alerts, request.app.state.collector.store, key.project, limit)}


@budget_router.get("/remaining", summary="Today's remaining budget for an agent and user (for the SDK)")
async def budget_remaining(request: Request, agent: str = "", user: str = "") -> dict[str, Any]:
    from .auth import INGEST_ROLES

    key = _key(request, INGEST_ROLES | READ_ROLES)
    return await run_in_threadpool(lambda: budgets.remaining(request.app.state.collector.store, key.project,
                                                             agent=agent, user=user))
