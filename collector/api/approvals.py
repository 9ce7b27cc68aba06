"""The approval inbox (``/api/approvals``, docs/control.md): agents propose, named people decide.

- create: an ingest key (the agent's SDK); an existing idempotency key returns its approval;
- list, show and long-poll: read keys, and ingest keys for their own project (the SDK waits);
- decide: a key with the ``approve`` permission, or an admin; never an ingest key;
- consume: the ingest key, once, with the hash of the arguments it will use.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from flightlog.storage import control as store_control
from flightlog.storage.keys import KeyRecord

from flightlog.collector.api import models
from flightlog.collector.api.control import CLIENT_GONE, until_disconnected
from flightlog.collector.api.deps import CollectorDep, IngestOrReadKey, hex_id, require
from flightlog.collector.auth import ADMIN_ROLES, INGEST_ROLES, READ_ROLES
from flightlog.collector.contract import ContractRoute, errors, respond
from flightlog.collector.control.approvals import public

router = APIRouter(prefix="/api/approvals", tags=["approvals"], route_class=ContractRoute)
IngestKey = Annotated[KeyRecord, Depends(require(INGEST_ROLES))]
DeciderKey = Annotated[KeyRecord, Depends(require(READ_ROLES | ADMIN_ROLES))]


class DecidedByBody(BaseModel):
    span_id: str = Field(default="", max_length=16)
    model: str = Field(default="", max_length=200)
    prompt_id: str = Field(default="", max_length=200)
    prompt_version: str = Field(default="", max_length=200)


class PolicyRefBody(BaseModel):
    id: str = Field(max_length=300)
    version: int = Field(ge=0, le=2**31)


class NewApproval(BaseModel):
    idempotency_key: str = Field(min_length=1, max_length=300,
                                 description="Same key, same approval: a restarted agent resumes waiting.")
    action: str = Field(min_length=1, max_length=10_000)
    tool: str = Field(default="", max_length=200)
    arguments: Any = Field(default=None, description="The action's arguments (JSON).")
    arguments_hash: str = Field(default="", max_length=64, description="sha256 of their canonical JSON (checked).")
    tier: int = Field(ge=2, le=3, description="3: wait for a decision; 2: notify only.")
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    agent: str = Field(default="", max_length=200)
    agent_version: str = Field(default="", max_length=200)
    prompt_id: str = Field(default="", max_length=200)
    prompt_version: str = Field(default="", max_length=200)
    trace_id: str = Field(default="", max_length=32)
    span_id: str = Field(default="", max_length=16)
    decided_by: DecidedByBody | None = None
    policy: PolicyRefBody | None = None
    timeout_s: float = Field(default=900, gt=0, le=7 * 86_400)
    on_timeout: str = Field(default="reject", pattern="^(reject|approve)$")


class DecisionBody(BaseModel):
    decision: str = Field(pattern="^(approve|reject)$")
    reason: str = Field(min_length=1, max_length=10_000, description="Why: kept with the decision in the audit record.")
    arguments: Any = Field(default=None, description="Approve with these arguments instead (the agent uses them).")


class ConsumeBody(BaseModel):
    arguments_hash: str = Field(min_length=64, max_length=64)


@router.post("", summary="Propose an action for a person's decision (tier 3) or a notification (tier 2)",
             response_model=models.Approval, status_code=201,
             responses={200: {"model": models.Approval, "description": "The approval this idempotency key already made"},
                        **errors(400, 401, 403, 503)})
async def create(key: IngestKey, collector: CollectorDep, body: NewApproval) -> Response:
    for value, length, what in ((body.trace_id, 32, "trace_id"), (body.span_id, 16, "span_id")):
        if value:
            hex_id(value, length, what)
    approval, created = await run_in_threadpool(collector.control.approvals.create, key, body.model_dump())
    return respond(approval, status_code=201 if created else 200)


@router.get("", summary="Approvals of the project: pending first", response_model=models.ApprovalPage,
            responses=errors(400, 401, 403, 503))
async def list_(key: IngestOrReadKey, collector: CollectorDep,
                status: Annotated[str, Query(pattern="^(|pending|approved|rejected|expired|notified)$")] = "",
                agent: str = "", limit: Annotated[int, Query(ge=1, le=store_control.MAX_PAGE)] = 100,
                offset: Annotated[int, Query(ge=0, le=100_000)] = 0) -> Response:
    rows, total = await run_in_threadpool(lambda: store_control.list_approvals(
        collector.store, key.project, status=status, agent=agent, limit=limit, offset=offset))
    return respond({"items": [public(r) for r in rows], "total": total, "limit": limit, "offset": offset})


@router.get("/{approval_id}", summary="One approval", response_model=models.Approval,
            responses=errors(400, 401, 403, 404, 503))
async def show(key: IngestOrReadKey, collector: CollectorDep, approval_id: str) -> Response:
    return respond(await run_in_threadpool(collector.control.approvals.get, key.project, _id(approval_id)))


@router.get("/{approval_id}/wait", summary="Long-poll: the approval once decided (or as it is after timeout_s)",
            response_model=models.Approval, responses=errors(400, 401, 403, 404, 503))
async def wait(key: IngestOrReadKey, collector: CollectorDep, approval_id: str, request: Request,
               timeout_s: Annotated[float, Query(ge=0, le=60)] = 30) -> Response:
    approval = await until_disconnected(request, collector.control.approvals.wait(key.project, _id(approval_id),
                                                                                  timeout_s))
    return Response(status_code=CLIENT_GONE) if approval is None else respond(approval)


@router.post("/{approval_id}/decide", summary="Approve or reject, as the named person this key is",
             response_model=models.Approval, responses=errors(400, 401, 403, 404, 409, 503))
async def decide(key: DeciderKey, collector: CollectorDep, approval_id: str, body: DecisionBody) -> Response:
    approval = await run_in_threadpool(collector.control.approvals.decide, key, _id(approval_id), body.decision,
                                       body.reason, body.arguments)
    return respond(approval)


@router.post("/{approval_id}/consume", summary="The agent takes its decision, once, for these arguments",
             response_model=models.Approval, responses=errors(400, 401, 403, 404, 409, 503))
async def consume(key: IngestKey, collector: CollectorDep, approval_id: str, body: ConsumeBody) -> Response:
    return respond(await run_in_threadpool(collector.control.approvals.consume, key, _id(approval_id),
                                           body.arguments_hash))


def _id(value: str) -> str:
    return hex_id(value, 20, "approval id")
