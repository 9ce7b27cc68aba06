"""Alert rules, their state, silences and history (``/api/alerts``, docs/alerts.md).

- read (rules with their state, one rule, the history): read keys;
- create, delete, silence, unsilence: an admin key, or a named key with the ``alerts``
  permission (recorded under its name).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from flightlog.collector.api import models
from flightlog.collector.api.deps import CollectorDep, ReadKey
from flightlog.collector.contract import ContractRoute, errors, respond
from flightlog.collector.control.alerts import parse_duration
from flightlog.collector.errors import BadRequest

router = APIRouter(prefix="/api/alerts", tags=["alerts"], route_class=ContractRoute)


class SilenceBody(BaseModel):
    until: datetime | None = Field(default=None, description="When the silence ends (ISO 8601; naive = UTC).")
    duration: str = Field(default="", max_length=20, alias="for",
                          description="Or how long from now: '30m', '2h', '1d'.")
    reason: str = Field(min_length=1, max_length=2000)


class UnsilenceBody(BaseModel):
    reason: str = Field(default="", max_length=2000)


@router.post("/rules", summary="Create an alert rule", response_model=models.AlertRule,
             responses=errors(400, 401, 403, 503))
async def create_rule(key: ReadKey, collector: CollectorDep, request: Request) -> Response:
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError as exc:
        raise BadRequest(f"the rule must be a JSON object: {exc}") from exc
    return respond(await run_in_threadpool(collector.control.alerts.create, key, body))


@router.get("/rules", summary="The project's alert rules with their state, firing first",
            response_model=models.AlertRuleList, responses=errors(401, 403, 503))
async def list_rules(key: ReadKey, collector: CollectorDep) -> Response:
    return respond({"rules": await run_in_threadpool(collector.control.alerts.rules, key.project)})


@router.get("/rules/{rule_id}", summary="One alert rule with its state and last evaluation",
            response_model=models.AlertRule, responses=errors(401, 403, 404, 503))
async def get_rule(key: ReadKey, collector: CollectorDep, rule_id: str) -> Response:
    return respond(await run_in_threadpool(collector.control.alerts.get, key.project, rule_id))


@router.delete("/rules/{rule_id}", summary="Delete an alert rule (its history stays)",
               response_model=models.AlertRule, responses=errors(401, 403, 404, 503))
async def delete_rule(key: ReadKey, collector: CollectorDep, rule_id: str) -> Response:
    rule = await run_in_threadpool(collector.control.alerts.delete, key, rule_id)
    rule.pop("deleted", None)
    return respond(rule)


@router.post("/rules/{rule_id}/silence", summary="Silence a rule: its state is recorded, nothing is sent",
             response_model=models.AlertRule, responses=errors(400, 401, 403, 404, 503))
async def silence(key: ReadKey, collector: CollectorDep, rule_id: str, body: SilenceBody) -> Response:
    if (body.until is None) == (not body.duration):
        raise BadRequest("a silence needs either 'until' (a time) or 'for' (a duration such as '2h'), not both")
    if body.until is not None:
        until = body.until if body.until.tzinfo else body.until.replace(tzinfo=timezone.utc)
    else:
        try:
            until = datetime.now(timezone.utc) + parse_duration(body.duration, "for")
        except ValueError as exc:
            raise BadRequest(str(exc)) from exc
    return respond(await run_in_threadpool(lambda: collector.control.alerts.silence(
        key, rule_id, until=until, reason=body.reason)))


@router.post("/rules/{rule_id}/unsilence", summary="Lift a rule's silence",
             response_model=models.AlertRule, responses=errors(400, 401, 403, 404, 503))
async def unsilence(key: ReadKey, collector: CollectorDep, rule_id: str, body: UnsilenceBody) -> Response:
    return respond(await run_in_threadpool(lambda: collector.control.alerts.silence(
        key, rule_id, until=None, reason=body.reason or "silence lifted")))


class ReplayBody(BaseModel):
    start: datetime = Field(description="From this time (ISO 8601; naive = UTC).")
    end: datetime | None = Field(default=None, description="Until this time (default: now).")
    step: str = Field(default="", max_length=20, description="Evaluate every this long (default: the window).")


@router.post("/rules/{rule_id}/replay", summary="Evaluate a new rule over the stored past and record its transitions",
             response_model=models.AlertReplay, responses=errors(400, 401, 403, 404, 409, 503))
async def replay(key: ReadKey, collector: CollectorDep, rule_id: str, body: ReplayBody) -> Response:
    service = collector.control.alerts
    rule = await run_in_threadpool(service.get, key.project, rule_id)
    now = datetime.now(timezone.utc)
    start = body.start if body.start.tzinfo else body.start.replace(tzinfo=timezone.utc)
    end = body.end or now
    end = end if end.tzinfo else end.replace(tzinfo=timezone.utc)
    try:
        step = parse_duration(body.step or rule["window"], "step")
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc
    events = await run_in_threadpool(lambda: service.replay(key, rule_id, start=start, end=min(end, now), step=step))
    return respond({"rule_id": rule_id, "evaluations": int((min(end, now) - start) / step) + 1,
                    "events": events})


@router.get("/history", summary="Transitions (firing, resolved) and silence changes, newest first",
            response_model=models.AlertHistory, responses=errors(400, 401, 403, 503))
async def history(key: ReadKey, collector: CollectorDep, rule_id: str = "",
                  limit: Annotated[int, Query(ge=1, le=500)] = 100) -> Response:
    return respond({"events": await run_in_threadpool(collector.control.alerts.history, key.project, rule_id,
                                                      limit)})
