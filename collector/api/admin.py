"""The admin API (``/api/admin/…``, admin keys): API keys, retention and legal holds, review
sampling and daily budgets. Every change is written to the governance log.

An admin key manages its own project. Admin keys of the collector's default project
(``--project``, created on first start) are *instance* admins: they may act on any project
(``?project=`` or ``"project"`` in the body), which is how new projects come to exist while
the embedded store is held by the collector.
"""

from __future__ import annotations

import time
import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from flightlog.storage import budgets as budget_store
from flightlog.storage import governance as gov
from flightlog.storage import reviews as review_store
from flightlog.storage.keys import PERMISSIONS, ROLES, KeyRecord, create_key, list_keys, revoke_key

from flightlog.collector.api import models
from flightlog.collector.contract import ContractRoute, errors, respond
from flightlog.collector.api.deps import AdminKey, AdminProject, CollectorDep, admin_target, trace_ids
from flightlog.collector.audit import reviews
from flightlog.collector.audit.chain import apply_retention
from flightlog.collector.errors import BadRequest, NotFound

router = APIRouter(prefix="/api/admin", tags=["admin"], route_class=ContractRoute)
ADMIN_ERRORS = errors(400, 401, 403, 503)


# -- keys --------------------------------------------------------------------------------------------
class NewKey(BaseModel):
    project: str | None = Field(default=None, description="Defaults to the admin key's project.")
    role: str = Field(description=f"One of {', '.join(ROLES)}.")
    name: str = Field(default="", max_length=200, description="Who the key is: decisions are recorded under it.")
    permissions: list[str] = Field(default_factory=list, description=f"Beyond the role: any of {', '.join(PERMISSIONS)}.")


def _public(record: KeyRecord) -> dict[str, Any]:
    return {"key_id": record.key_id, "project": record.project, "role": record.role, "name": record.name,
            "revoked": record.revoked, "created_at": record.created_at.isoformat(),
            "permissions": list(record.permissions)}


@router.post("/keys", summary="Create a key; the secret is in the answer and never again",
             response_model=models.CreatedKey, responses=ADMIN_ERRORS)
async def create(admin: AdminKey, collector: CollectorDep, body: NewKey) -> Response:
    project = admin_target(collector, admin, body.project)
    record, secret = await run_in_threadpool(create_key, collector.store, project, body.role, body.name,
                                             body.permissions)
    await run_in_threadpool(collector.auth.forget)
    return respond({**_public(record), "key": secret})


@router.get("/keys", summary="List keys (never their secrets)",
            response_model=models.KeyList, responses=ADMIN_ERRORS)
async def list_(admin: AdminKey, collector: CollectorDep, project: str | None = None) -> Response:
    records = await run_in_threadpool(list_keys, collector.store, project)
    visible = [r for r in records if admin.project == collector.settings.project or r.project == admin.project]
    return respond({"keys": [_public(r) for r in visible]})


@router.delete("/keys/{key_id}", summary="Revoke a key",
               response_model=models.KeyInfo, responses=errors(400, 401, 403, 404, 503))
async def revoke(admin: AdminKey, collector: CollectorDep, key_id: str) -> Response:
    records = {r.key_id: r for r in await run_in_threadpool(list_keys, collector.store, None)}
    target = records.get(key_id)
    if target is None:
        raise NotFound(f"no key {key_id!r}")
    admin_target(collector, admin, target.project)
    record = await run_in_threadpool(revoke_key, collector.store, key_id)
    await run_in_threadpool(collector.auth.forget)
    return respond(_public(record))


# -- retention and legal holds -----------------------------------------------------------------------
class RetentionBody(BaseModel):
    days: int = Field(ge=0, le=36_500, description="Keep spans this many days; 0 keeps them forever.")
    project: str | None = None


class HoldBody(BaseModel):
    trace_ids: list[str] = Field(default_factory=list, description="Empty: hold the whole project.")
    reason: str = Field(default="", max_length=1000)
    project: str | None = None


@router.put("/retention", summary="Set the project's retention (days)",
            response_model=models.RetentionSet, responses=ADMIN_ERRORS)
async def put_retention(admin: AdminKey, collector: CollectorDep, body: RetentionBody) -> Response:
    project, store = admin_target(collector, admin, body.project), collector.store

    def change() -> None:
        before = gov.retention_policies(store, project).get(project, 0)
        gov.set_retention(store, project, body.days, admin.key_id)
        gov.log_change(store, project, admin.key_id, "retention.set", {"days": body.days, "before": before})

    await run_in_threadpool(change)
    return respond({"project": project, "days": body.days})


@router.get("/retention", summary="The project's retention and active legal holds",
            response_model=models.Retention, responses=ADMIN_ERRORS)
async def get_retention(scope: AdminProject, collector: CollectorDep) -> Response:
    days = (await run_in_threadpool(gov.retention_policies, collector.store, scope.project)).get(scope.project, 0)
    holds = await run_in_threadpool(gov.legal_holds, collector.store, scope.project)
    return respond({"project": scope.project, "days": days, "holds": holds})


@router.post("/retention/run", summary="Apply retention now (a legal hold suspends or narrows it)",
             response_model=models.RetentionRun, responses=ADMIN_ERRORS)
async def run_retention(scope: AdminProject, collector: CollectorDep) -> Response:
    run = await run_in_threadpool(lambda: apply_retention(collector.store, scope.project, now_ns=time.time_ns(),
                                                          actor=scope.key.key_id))
    return respond(run.to_dict())


@router.post("/holds", summary="Place a legal hold on the project or on a set of traces",
             response_model=models.HoldCreated, responses=ADMIN_ERRORS)
async def create_hold(admin: AdminKey, collector: CollectorDep, body: HoldBody) -> Response:
    project, store = admin_target(collector, admin, body.project), collector.store
    traces = trace_ids(body.trace_ids)
    hold_id = uuid.uuid4().hex[:16]

    def change() -> None:
        gov.put_hold(store, project, hold_id, traces, body.reason, admin.key_id, int(time.time() * 1000))
        gov.log_change(store, project, admin.key_id, "hold.create",
                       {"hold_id": hold_id, "trace_ids": traces, "reason": body.reason})

    await run_in_threadpool(change)
    return respond({"hold_id": hold_id, "project": project, "trace_ids": traces,
                    "scope": "traces" if traces else "project"})


@router.get("/holds", summary="Legal holds of the project",
            response_model=models.HoldList, responses=ADMIN_ERRORS)
async def list_holds(scope: AdminProject, collector: CollectorDep, include_released: bool = False) -> Response:
    holds = await run_in_threadpool(lambda: gov.legal_holds(collector.store, scope.project,
                                                           active_only=not include_released))
    return respond({"holds": holds})


@router.delete("/holds/{hold_id}", summary="Release a legal hold",
               response_model=models.LegalHold, responses=errors(400, 401, 403, 404, 503))
async def release_hold(scope: AdminProject, collector: CollectorDep, hold_id: str) -> Response:
    project, store, actor = scope.project, collector.store, scope.key.key_id

    def change() -> dict[str, Any]:
        found = [h for h in gov.legal_holds(store, project) if h["hold_id"] == hold_id]
        if not found:
            raise NotFound(f"no active hold {hold_id!r} in project {project!r}")
        h = found[0]
        gov.put_hold(store, project, hold_id, h["trace_ids"], h["reason"], h["created_by"], h["created_at_ms"],
                     released=True, released_by=actor)
        gov.log_change(store, project, actor, "hold.release", {"hold_id": hold_id})
        return {**h, "released": True, "released_by": actor}

    return respond(await run_in_threadpool(change))


# -- human review sampling ---------------------------------------------------------------------------
class ReviewRate(BaseModel):
    agent: str = Field(default="", description="Agent name; empty = every agent without its own rate.")
    rate: float = Field(ge=0.0, le=1.0, description="Share of the agent's runs sampled per day.")
    project: str | None = None


@router.put("/reviews/settings", summary="Set the review sampling rate of an agent (or the default)",
            response_model=models.ReviewRateSet, responses=ADMIN_ERRORS)
async def put_review_rate(admin: AdminKey, collector: CollectorDep, body: ReviewRate) -> Response:
    project, store = admin_target(collector, admin, body.project), collector.store

    def change() -> None:
        review_store.set_rate(store, project, body.agent, body.rate)
        gov.log_change(store, project, admin.key_id, "reviews.rate", {"agent": body.agent, "rate": body.rate})

    await run_in_threadpool(change)
    return respond({"project": project, "agent": body.agent, "rate": body.rate})


@router.get("/reviews/settings", summary="Review sampling rates",
            response_model=models.ReviewRates, responses=ADMIN_ERRORS)
async def get_review_rates(scope: AdminProject, collector: CollectorDep) -> Response:
    found = await run_in_threadpool(review_store.rates, collector.store, scope.project)
    return respond({"project": scope.project, "rates": found.get(scope.project, {})})


@router.post("/reviews/sample", summary="Sample a day's runs into the review queue now",
             response_model=models.ReviewSample, responses=ADMIN_ERRORS)
async def sample_reviews(scope: AdminProject, collector: CollectorDep,
                         day: Annotated[str, Query(pattern=r"^\d{4}-\d{2}-\d{2}$")]) -> Response:
    try:
        parsed = date.fromisoformat(day)
    except ValueError as exc:
        raise BadRequest(f"day {day!r} is not a calendar date (YYYY-MM-DD)") from exc
    return respond(await run_in_threadpool(reviews.sample, collector.store, scope.project, parsed))


# -- daily budgets -----------------------------------------------------------------------------------
class BudgetBody(BaseModel):
    scope: str = Field(pattern="^(project|agent|user)$")
    subject: str = Field(default="", description="Agent name or user id; empty for scope=project.")
    max_tokens: int = Field(default=0, ge=0, le=2**63 - 1, description="Per UTC day; 0 = no token limit.")
    max_cost_usd: float = Field(default=0.0, ge=0.0, description="Per UTC day; 0 = no cost limit.")
    webhook_url: str = Field(default="", max_length=2000, pattern=r"^(|https?://\S+)$")
    project: str | None = None


@router.put("/budgets", summary="Create or change a daily budget (project, agent or user)",
            response_model=models.BudgetSet, responses=ADMIN_ERRORS)
async def put_budget(admin: AdminKey, collector: CollectorDep, body: BudgetBody) -> Response:
    project, store = admin_target(collector, admin, body.project), collector.store
    if body.scope != "project" and not body.subject:
        raise BadRequest(f"a {body.scope} budget needs a subject")

    def change() -> None:
        budget_store.put_budget(store, project, body.scope, body.subject, body.max_tokens, body.max_cost_usd,
                                body.webhook_url)
        gov.log_change(store, project, admin.key_id, "budget.set", body.model_dump(exclude={"project"}))

    await run_in_threadpool(change)
    return respond({"project": project, **body.model_dump(exclude={"project"})})


@router.delete("/budgets/{scope}", summary="Remove a budget",
               response_model=models.BudgetDeleted, responses=ADMIN_ERRORS)
async def delete_budget(target: AdminProject, collector: CollectorDep, scope: str, subject: str = "") -> Response:
    project, store = target.project, collector.store

    def change() -> None:
        budget_store.put_budget(store, project, scope, subject, 0, 0.0, "", deleted=True)
        gov.log_change(store, project, target.key.key_id, "budget.delete", {"scope": scope, "subject": subject})

    await run_in_threadpool(change)
    return respond({"project": project, "scope": scope, "subject": subject, "deleted": True})


@router.post("/budgets/check", summary="Check every budget now (alerts due are raised and sent)",
             response_model=models.BudgetCheck, responses=errors(401, 403, 503))
async def check_budgets(admin: AdminKey, collector: CollectorDep) -> Response:
    raised = await run_in_threadpool(collector.audit.budgets.check)
    return respond({"alerts": raised})


@router.get("/budgets", summary="Budgets of the project",
            response_model=models.AdminBudgets, responses=ADMIN_ERRORS)
async def list_budgets(scope: AdminProject, collector: CollectorDep) -> Response:
    return respond({"budgets": await run_in_threadpool(budget_store.budgets, collector.store, scope.project)})
