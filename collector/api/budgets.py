"""Budget reads outside the admin API: the SDK's "how much is left today" lookup
(``/api/budget/remaining``, ingest or read keys) and the read-only list of budgets for
dashboards (``/api/budgets``, read keys; webhook URLs are not shown). Budgets are set by
admins (``PUT /api/admin/budgets``, :mod:`.admin`).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from flightlog.storage import budgets as budget_store

from flightlog.collector.api import models
from flightlog.collector.contract import ContractRoute, errors, respond
from flightlog.collector.api.deps import CollectorDep, IngestOrReadKey, ReadKey
from flightlog.collector.audit import budgets

router = APIRouter(prefix="/api", tags=["budgets"], route_class=ContractRoute)


@router.get("/budget/remaining", summary="Today's remaining budget for an agent and user (for the SDK)",
            response_model=models.BudgetRemaining, responses=errors(401, 503))
async def budget_remaining(key: IngestOrReadKey, collector: CollectorDep, agent: str = "",
                           user: str = "") -> Response:
    return respond(await run_in_threadpool(lambda: budgets.remaining(collector.store, key.project, agent=agent,
                                                                     user=user)))


@router.get("/budgets", summary="The project's daily budgets (read-only view for dashboards)",
            response_model=models.Budgets, responses=errors(401, 403, 503))
async def list_budgets(key: ReadKey, collector: CollectorDep) -> Response:
    rows = await run_in_threadpool(budget_store.budgets, collector.store, key.project)
    return respond({"budgets": [{k: v for k, v in b.items() if k != "webhook_url"} for b in rows]})
