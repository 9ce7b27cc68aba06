"""Request-parameter helpers shared by the query, insights and audit routes and the CLI."""

from __future__ import annotations

from datetime import datetime, timezone


def as_utc(value: datetime | None) -> datetime | None:
    """A parsed time parameter with a timezone: naive times are taken as UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
