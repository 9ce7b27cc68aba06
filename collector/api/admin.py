"""Admin routes: API keys. Needs an ``admin`` key.

An admin key manages its own project's keys. Admin keys of the collector's default project
(``--project``, created on first start) are *instance* admins: they may create keys in any
project, which is how new projects come to exist while the embedded store is held by the
collector.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from flightlog.storage.keys import ROLES, KeyRecord, create_key, list_keys, revoke_key

from flightlog.collector.auth import ADMIN_ROLES
from flightlog.collector.errors import Forbidden, NotFound

router = APIRouter(prefix="/api/admin", tags=["admin"])


class NewKey(BaseModel):
    project: str | None = Field(default=None, description="Defaults to the admin key's project.")
    role: str = Field(description=f"One of {', '.join(ROLES)}.")
    name: str = Field(default="", max_length=200)


def _admin(request: Request) -> tuple[Any, KeyRecord]:
    collector = request.app.state.collector
    return collector, collector.auth.require(request.headers, ADMIN_ROLES)


def _may_manage(collector: Any, admin: KeyRecord, project: str) -> None:
    if project != admin.project and admin.project != collector.settings.project:
        raise Forbidden(f"an admin key of project {admin.project!r} may not manage project {project!r}")


def _public(record: KeyRecord) -> dict[str, Any]:
    return {"key_id": record.key_id, "project": record.project, "role": record.role, "name": record.name,
            "revoked": record.revoked, "created_at": record.created_at.isoformat()}


@router.post("/keys", summary="Create a key; the secret is in the answer and never again")
async def create(request: Request, body: NewKey) -> dict[str, Any]:
    collector, admin = _admin(request)
    project = body.project or admin.project
    _may_manage(collector, admin, project)
    record, secret = await run_in_threadpool(create_key, collector.store, project, body.role, body.name)
    return {**_public(record), "key": secret}


@router.get("/keys", summary="List keys (never their secrets)")
async def list_(request: Request, project: str | None = None) -> dict[str, Any]:
    collector, admin = _admin(request)
    records = await run_in_threadpool(list_keys, collector.store, project)
    visible = [r for r in records if admin.project == collector.settings.project or r.project == admin.project]
    return {"keys": [_public(r) for r in visible]}


@router.delete("/keys/{key_id}", summary="Revoke a key")
async def revoke(request: Request, key_id: str) -> dict[str, Any]:
    collector, admin = _admin(request)
    records = {r.key_id: r for r in await run_in_threadpool(list_keys, collector.store, None)}
    target = records.get(key_id)
    if target is None:
        raise NotFound(f"no key {key_id!r}")
    _may_manage(collector, admin, target.project)
    record = await run_in_threadpool(revoke_key, collector.store, key_id)
    collector.auth.forget()
    return _public(record)
