"""The kill switch, central policies and notification settings (docs/control.md).

- ``GET /api/control/state``: what every agent process caches (ingest or read keys); with
  ``If-None-Match`` it answers 304 while nothing changed, with ``wait_s`` it long-polls;
- ``POST /api/control/pause`` / ``resume`` and ``PUT /api/policies``: admin keys;
- ``GET /api/policies…``: ingest and read keys;
- ``/api/admin/notifications``: where webhooks go, and what was delivered (admin keys);
- ``GET /api/whoami``: the calling key's name, role and permissions (any key), so the UI can
  say who a person is signed in as and whether they may decide or pause.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from flightlog.storage import control as store_control

from flightlog.collector.api import models
from flightlog.collector.api.deps import AdminKey, CollectorDep, IngestOrReadKey
from flightlog.collector.contract import ContractRoute, errors, respond
from flightlog.collector.control.notify import validate_settings
from flightlog.collector.errors import BadRequest

router = APIRouter(prefix="/api", tags=["control"], route_class=ContractRoute)
T = TypeVar("T")
CLIENT_GONE = 499  # the client closed the connection before the answer (nobody reads it)


async def until_disconnected(request: Request, work: Awaitable[T]) -> T | None:
    """``work``'s result, or None as soon as the client has gone away: a long-poll nobody waits
    for any more must not hold its task (a stopping collector waits for open requests)."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_gone(request))
    try:
        done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if task in done:
        return task.result()
    task.cancel()
    return None


async def _gone(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


class PauseBody(BaseModel):
    agent: str = Field(default="", max_length=200, description="'' pauses the whole project.")
    agent_version: str = Field(default="", max_length=200, description="Only this version of the agent.")
    tool: str = Field(default="", max_length=200, description="Only this tool of the agent.")
    reason: str = Field(min_length=1, max_length=2000)


@router.get("/whoami", summary="The calling key: its id, name, role, permissions and project (never its secret)",
            response_model=models.WhoAmI, tags=["keys"], responses=errors(401, 503))
async def whoami(key: IngestOrReadKey) -> Response:
    return respond({"key_id": key.key_id, "name": key.name, "role": key.role,
                    "permissions": list(key.permissions), "project": key.project})


@router.get("/control/state", summary="Active pauses and the policies in force (long-poll with wait_s)",
            response_model=models.ControlState, responses={304: {"description": "Unchanged since If-None-Match"},
                                                           **errors(400, 401, 403, 503)})
async def state(key: IngestOrReadKey, collector: CollectorDep, request: Request,
                wait_s: Annotated[float, Query(ge=0, le=30, description="Wait up to this long for a change")] = 0,
                if_none_match: Annotated[str, Header()] = "") -> Response:
    known = if_none_match.strip().strip('"')
    current = await until_disconnected(request, collector.control.state.wait_for_change(
        key.project, known, wait_s if known else 0))
    if current is None:
        return Response(status_code=CLIENT_GONE)
    if known and current["version"] == known:
        return Response(status_code=304, headers={"ETag": f'"{known}"'})
    response = respond(current)
    response.headers["ETag"] = f'"{current["version"]}"'
    return response


@router.post("/control/pause", summary="Pause a project, an agent, an agent version or one tool of an agent",
             response_model=models.PauseChange, responses=errors(400, 401, 403, 503))
async def pause(key: AdminKey, collector: CollectorDep, body: PauseBody) -> Response:
    return respond(await run_in_threadpool(lambda: collector.control.state.set_pause(
        key, agent=body.agent, agent_version=body.agent_version, tool=body.tool, paused=True, reason=body.reason)))


@router.post("/control/resume", summary="Resume what a pause stopped (the same scope)",
             response_model=models.PauseChange, responses=errors(400, 401, 403, 503))
async def resume(key: AdminKey, collector: CollectorDep, body: PauseBody) -> Response:
    return respond(await run_in_threadpool(lambda: collector.control.state.set_pause(
        key, agent=body.agent, agent_version=body.agent_version, tool=body.tool, paused=False, reason=body.reason)))


@router.put("/policies", summary="Store a new version of an agent's policy", response_model=models.PolicyDoc,
            responses=errors(400, 401, 403, 503))
async def put_policy(key: AdminKey, collector: CollectorDep, request: Request) -> Response:
    try:
        document = json.loads(await request.body() or b"null")
    except ValueError as exc:
        raise BadRequest(f"the policy must be a JSON object: {exc}") from exc
    if not isinstance(document, dict):
        raise BadRequest("the policy must be a JSON object")
    return respond(await run_in_threadpool(collector.control.state.put_policy, key, document))


@router.get("/policies", summary="The policy in force for every agent", response_model=models.PolicyList,
            responses=errors(401, 403, 503))
async def list_policies(key: IngestOrReadKey, collector: CollectorDep) -> Response:
    state = await run_in_threadpool(collector.control.state.state, key.project)
    return respond({"policies": state["policies"]})


@router.get("/policies/{agent}", summary="The policy in force for one agent (and version)",
            response_model=models.PolicyDoc, responses=errors(401, 403, 404, 503))
async def get_policy(key: IngestOrReadKey, collector: CollectorDep, agent: str, agent_version: str = "") -> Response:
    return respond(await run_in_threadpool(collector.control.state.policy, key.project, agent, agent_version))


@router.get("/policies/{agent}/history", summary="Every version of an agent's policies, newest first",
            response_model=models.PolicyList, responses=errors(401, 403, 503))
async def policy_history(key: IngestOrReadKey, collector: CollectorDep, agent: str) -> Response:
    return respond({"policies": await run_in_threadpool(collector.control.state.history, key.project, agent)})


@router.put("/admin/notifications", summary="Where the project's webhooks go (targets, escalation, UI link)",
            response_model=models.NotificationSettings, responses=errors(400, 401, 403, 503))
async def put_notifications(key: AdminKey, collector: CollectorDep, request: Request) -> Response:
    try:
        settings = validate_settings(json.loads(await request.body() or b"null"))
    except ValueError as exc:
        raise BadRequest(f"invalid notification settings: {exc}") from exc
    await run_in_threadpool(store_control.set_notification_settings, collector.store, key.project,
                            json.dumps(settings), key.key_id)
    return respond(settings)


@router.get("/admin/notifications", summary="The project's notification settings",
            response_model=models.NotificationSettings, responses=errors(401, 403, 503))
async def get_notifications(key: AdminKey, collector: CollectorDep) -> Response:
    return respond(await run_in_threadpool(collector.control.notifier.settings, key.project))


@router.get("/admin/notifications/deliveries", summary="Events sent to webhooks, with their outcome",
            response_model=models.DeliveryList, responses=errors(400, 401, 403, 503))
async def deliveries(key: AdminKey, collector: CollectorDep, event_id: str = "",
                     limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> Response:
    rows = await run_in_threadpool(lambda: store_control.notifications(collector.store, key.project,
                                                                       event_id=event_id, limit=limit))
    return respond({"deliveries": [_delivery(r) for r in rows]})


def _delivery(row: dict[str, Any]) -> dict[str, Any]:
    return {"event_id": row["EventId"], "event": row["Event"], "target_id": row["TargetId"], "url": row["Url"],
            "status": row["Status"], "attempts": int(row["Attempts"]), "last_status": int(row["LastStatus"]),
            "last_error": row["LastError"], "created_at": row["CreatedAt"].isoformat(),
            "delivered_at": row["DeliveredAt"].isoformat() if row["DeliveredAt"] else None}
