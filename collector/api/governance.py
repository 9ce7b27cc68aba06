"""Governance routes: ``/api/admin/…`` (admin keys) sets retention, legal holds, review
sampling and budgets; ``/api/budget/remaining`` is for the SDK. Added by ``audit_api.install``.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from flightlog.storage import governance as gov

from flightlog.collector.audit import budgets
from flightlog.collector.audit import reviews
from flightlog.collector.api.deps import _admin_project, _key, _services, _trace_ids
from flightlog.collector.auth import ADMIN_ROLES, READ_ROLES
from flightlog.collector.audit.chain import apply_retention
from flightlog.collector.errors import BadRequest, NotFound

admin_router = APIRouter(prefix="/api/admin", tags=["governance"])
budget_router = APIRouter(prefix="/api/budget", tags=["budget"])


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
        before = gov.retention_policies(store, project).get(project, 0)
        gov.set_retention(store, project, body.days, admin.key_id)
        gov.log_change(store, project, admin.key_id, "retention.set", {"days": body.days, "before": before})

    await run_in_threadpool(change)
    return {"project": project, "days": body.days}


@admin_router.get("/retention", summary="The project's retention and active legal holds")
async def get_retention(request: Request, project: str | None = None) -> dict[str, Any]:
    _, project = _admin_project(request, project)
    store = request.app.state.collector.store
    days = (await run_in_threadpool(gov.retention_policies, store, project)).get(project, 0)
    holds = await run_in_threadpool(gov.legal_holds, store, project)
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
        gov.put_hold(store, project, hold_id, traces, body.reason, admin.key_id, int(time.time() * 1000))
        gov.log_change(store, project, admin.key_id, "hold.create",
                      {"hold_id": hold_id, "trace_ids": traces, "reason": body.reason})

    await run_in_threadpool(change)
    return {"hold_id": hold_id, "project": project, "trace_ids": traces, "scope": "traces" if traces else "project"}


@admin_router.get("/holds", summary="Legal holds of the project")
async def list_holds(request: Request, project: str | None = None, include_released: bool = False) -> dict[str, Any]:
    _, project = _admin_project(request, project)
    holds = await run_in_threadpool(lambda: gov.legal_holds(request.app.state.collector.store, project,
                                                           active_only=not include_released))
    return {"holds": holds}


@admin_router.delete("/holds/{hold_id}", summary="Release a legal hold")
async def release_hold(request: Request, hold_id: str, project: str | None = None) -> dict[str, Any]:
    admin, project = _admin_project(request, project)
    store = request.app.state.collector.store

    def change() -> dict[str, Any]:
        found = [h for h in gov.legal_holds(store, project) if h["hold_id"] == hold_id]
        if not found:
            raise NotFound(f"no active hold {hold_id!r} in project {project!r}")
        h = found[0]
        gov.put_hold(store, project, hold_id, h["trace_ids"], h["reason"], h["created_by"], h["created_at_ms"],
                    released=True, released_by=admin.key_id)
        gov.log_change(store, project, admin.key_id, "hold.release", {"hold_id": hold_id})
        return {**h, "released": True, "released_by": admin.key_id}

    return await run_in_threadpool(change)


# -- human review --------------------------------------------------------------------------------
class ReviewRate(BaseModel):
    agent: str = Field(default="", description="Agent name; empty = every agent without its own rate.")
    rate: float = Field(ge=0.0, le=1.0, description="Share of the agent's runs sampled per day.")
    project: str | None = None



@admin_router.put("/reviews/settings", summary="Set the review sampling rate of an agent (or the default)")
async def put_review_rate(request: Request, body: ReviewRate) -> dict[str, Any]:
    from flightlog.storage import reviews as rdb

    admin, project = _admin_project(request, body.project)
    store = request.app.state.collector.store

    def change() -> None:
        rdb.set_rate(store, project, body.agent, body.rate)
        gov.log_change(store, project, admin.key_id, "reviews.rate", {"agent": body.agent, "rate": body.rate})

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
        gov.log_change(store, project, admin.key_id, "budget.set", body.model_dump(exclude={"project"}))

    await run_in_threadpool(change)
    return {"project": project, **body.model_dump(exclude={"project"})}


@admin_router.delete("/budgets/{scope}", summary="Remove a budget")
async def delete_budget(request: Request, scope: str, subject: str = "", project: str | None = None) -> dict[str, Any]:
    from flightlog.storage import budgets as bdb

    admin, project = _admin_project(request, project)
    store = request.app.state.collector.store

    def change() -> None:
        bdb.put_budget(store, project, scope, subject, 0, 0.0, "", deleted=True)
        gov.log_change(store, project, admin.key_id, "budget.delete", {"scope": scope, "subject": subject})

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


@budget_router.get("/remaining", summary="Today's remaining budget for an agent and user (for the SDK)")
async def budget_remaining(request: Request, agent: str = "", user: str = "") -> dict[str, Any]:
    from flightlog.collector.auth import INGEST_ROLES

    key = _key(request, INGEST_ROLES | READ_ROLES)
    return await run_in_threadpool(lambda: budgets.remaining(request.app.state.collector.store, key.project,
                                                             agent=agent, user=user))
