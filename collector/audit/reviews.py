"""Human review sampling: each day, a configured share of each agent's runs joins the queue.

Rates are set per agent by admins (``PUT /api/admin/reviews/settings``); the audit thread
samples today and yesterday every few minutes, and ``POST /api/admin/reviews/sample``
samples a given day at once. Sampling is a uniform, deterministic draw per trace
(:mod:`flightlog.storage.reviews`), so repeating it never grows the queue.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from flightlog.storage import Store
from flightlog.storage import reviews as db


def sample(store: Store, project: str, day: date) -> dict[str, int | str]:
    agent_rates = db.rates(store, project).get(project, {})
    queued = db.sample_day(store, project, day, agent_rates) if agent_rates else 0
    return {"project": project, "day": day.isoformat(), "runs": db.runs_on_day(store, project, day),
            "queued": queued}


def sample_all(store: Store) -> None:
    """Sample today and yesterday (UTC) for every project with a rate."""
    today = datetime.now(timezone.utc).date()
    for project in db.rates(store):
        for day in (today - timedelta(days=1), today):
            sample(store, project, day)
