"""Budget reads outside the admin API: the SDK's "how much is left today" lookup
(``/api/budget/remaining``, ingest or read keys) and the read-only list of budgets for
dashboards (``/api/budgets``, read keys; webhook URLs are not shown). Budgets are set by
admins (``PUT /api/admin/budgets``, :mod:`.admin`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from flightlog.storage import budgets as budget_store

from flightlog.collector.api.deps import CollectorDep, IngestOrReadKey, ReadKey
from flightlog.collector.audit import budgets

router = APIRouter(prefix="/api", tags=["budgets"])


@router.get("/budget/remaining", summary="Today's remaining budget for an agent and user (for the SDK)")
async def budget_remaining(key: IngestOrReadKey, collector: CollectorDep, agent: str = "",
                           user: str = "") -> dict[str, Any]:
    return await run_in_threadpool(lambda: budgets.remaining(collector.store, key.project, agent=agent, user=user))


@router.get("/budgets", summary="The project's daily budgets (read-only view for dashboards)")
async def list_budgets(key: ReadKey, collector: CollectorDep) -> dict[str, Any]:
    rows = await run_in_threadpool(budget_store.budgets, collector.store, key.project)
    return {"budgets": [{k: v for k, v in b.items() if k != "webhook_url"} for b in rows]}
