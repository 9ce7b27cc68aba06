"""The Search page's filters as one value: parsed from and written to the URL, turned into
``GET /api/spans`` parameters. Pure functions and a frozen dataclass; no Streamlit here.

URL parameters (docs/ui.md): ``q``, ``range`` (a preset or ``custom`` with ``from`` / ``to``
dates), ``agent``, ``agent_version``, ``model``, ``prompt_id``, ``prompt_version``, ``tool``,
``span_type``, ``status``, ``user``, ``session``, ``sort``, ``order``, ``size``, ``page``.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from flightlog.search import TEXT_FILTERS

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_RANGE",
    "MAX_OFFSET",
    "MAX_QUERY_CHARS",
    "ORDERS",
    "PAGE_SIZES",
    "SEARCH_RANGES",
    "SORTS",
    "STATUSES",
    "TIME_RANGES",
    "SearchFilters",
    "has_search_params",
    "page_count",
    "parse_date",
    "parse_trace_id",
    "shared_range",
    "time_window",
]

TIME_RANGES: dict[str, tuple[str, dt.timedelta | None]] = {
    "15m": ("Last 15 minutes", dt.timedelta(minutes=15)),
    "1h": ("Last hour", dt.timedelta(hours=1)),
    "24h": ("Last 24 hours", dt.timedelta(hours=24)),
    "7d": ("Last 7 days", dt.timedelta(days=7)),
    "30d": ("Last 30 days", dt.timedelta(days=30)),
    "all": ("All time", None),
}
"""Time range presets: URL value → (label, how far back from now; ``None`` = no bound)."""

DEFAULT_RANGE = "all"
CUSTOM_RANGE = "custom"
SEARCH_RANGES = {**TIME_RANGES, CUSTOM_RANGE: ("Custom dates", None)}
"""The Search page's ranges: the presets plus ``custom`` (``from`` / ``to`` dates, UTC days)."""
SORTS = ("time", "cost", "tokens", "duration")
ORDERS = ("desc", "asc")
STATUSES = ("ok", "error", "unset")
PAGE_SIZES = (25, 50, 100, 200)
MAX_QUERY_CHARS = 1000
"""The longest search text the API takes."""
MAX_OFFSET = 100_000
"""The furthest result a page may start at (the API's ``offset`` limit)."""
DEFAULT_PAGE_SIZE = 50

# Free-text filters: any value is accepted as is (the API matches it exactly).
_TEXT_FIELDS = TEXT_FILTERS  # flightlog.search: one definition for storage, API and UI
# URL names that differ from the field names.
_URL_NAMES = {"page_size": "size", "start_date": "from", "end_date": "to"}
_DATE = re.compile(r"\d{4}-\d\d-\d\d")
_TRACE_ID = re.compile(r"[0-9a-f]{32}")


def time_window(range_key: str, now: dt.datetime) -> tuple[dt.datetime | None, dt.datetime | None]:
    """``(start, end)`` for a preset; ``(None, None)`` for "all" or an unknown key."""
    back = TIME_RANGES.get(range_key, (None, None))[1]
    if back is None:
        return None, None
    return now - back, None


@dataclasses.dataclass(frozen=True)
class SearchFilters:
    """Everything that decides which spans the Search page lists. Empty text = no filter."""

    q: str = ""
    range: str = DEFAULT_RANGE
    agent: str = ""
    agent_version: str = ""
    model: str = ""
    prompt_id: str = ""
    prompt_version: str = ""
    tool: str = ""
    span_type: str = ""
    status: str = ""
    user: str = ""
    session: str = ""
    sort: str = "time"
    order: str = "desc"
    page_size: int = DEFAULT_PAGE_SIZE
    page: int = 1
    start_date: str = ""  # YYYY-MM-DD, first day of a custom range (UTC)
    end_date: str = ""  # YYYY-MM-DD, last day of a custom range (inclusive)

    @classmethod
    def from_query_params(cls, params: Mapping[str, Any]) -> SearchFilters:
        """Read filters from URL parameters; a bad value falls back to the default."""

        def get(name: str) -> str:
            value = params.get(_URL_NAMES.get(name, name), "")
            if isinstance(value, (list, tuple)):
                value = value[-1] if value else ""
            return str(value).strip()

        default = cls()
        return cls(
            **{name: get(name) for name in _TEXT_FIELDS},
            range=_choice(get("range"), SEARCH_RANGES, default.range),
            start_date=parse_date(get("start_date")),
            end_date=parse_date(get("end_date")),
            status=_choice(get("status"), STATUSES, ""),
            sort=_choice(get("sort"), SORTS, default.sort),
            order=_choice(get("order"), ORDERS, default.order),
            page_size=_choice(_int(get("page_size")), PAGE_SIZES, default.page_size),
            page=max(1, _int(get("page")) or 1),
        )

    def to_query_params(self) -> dict[str, str]:
        """The URL parameters for these filters; defaults are left out to keep links short."""
        default = SearchFilters()
        return {
            _URL_NAMES.get(f.name, f.name): str(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != getattr(default, f.name)
        }

    def api_params(self, now: dt.datetime) -> dict[str, Any]:
        """Keyword arguments for :meth:`ApiClient.search_spans` (one page of results)."""
        start, end = self.window(now)
        params: dict[str, Any] = {name: getattr(self, name) for name in _TEXT_FIELDS}
        params.update(
            status=self.status,
            start=start,
            end=end,
            sort=self.sort,
            order=self.order,
            limit=self.page_size,
            offset=(self.page - 1) * self.page_size,
        )
        return {k: v for k, v in params.items() if v not in (None, "")}

    def window(self, now: dt.datetime) -> tuple[dt.datetime | None, dt.datetime | None]:
        """``(start, end)`` of the time range: a preset back from ``now``, or the custom days."""
        if self.range != CUSTOM_RANGE:
            return time_window(self.range, now)
        start = _day(self.start_date)
        end = _day(self.end_date)
        return start, (end + dt.timedelta(days=1) if end else None)

    def is_filtered(self) -> bool:
        """True when anything narrows the list (text, time range or a filter)."""
        narrowing = (*_TEXT_FIELDS, "status")
        return any(getattr(self, name) for name in narrowing) or self.range != DEFAULT_RANGE

    def same_query(self, other: SearchFilters) -> bool:
        """True when the two differ at most in the page number."""
        return dataclasses.replace(self, page=1) == dataclasses.replace(other, page=1)

    def with_changes(self, **changes: Any) -> SearchFilters:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


def parse_trace_id(text: str) -> str:
    """A trace id as the API spells it (32 lowercase hex), or "" if ``text`` is not one."""
    candidate = str(text or "").strip().lower()
    return candidate if _TRACE_ID.fullmatch(candidate) else ""


def parse_date(text: str) -> str:
    """A ``YYYY-MM-DD`` date that exists, or "" for anything else."""
    text = str(text or "").strip()
    return text if _DATE.fullmatch(text) and _day(text) else ""


def _day(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return None


def shared_range(range_key: str) -> str:
    """The range other pages (Cost, Monitoring) take from Search: presets only."""
    return range_key if range_key in TIME_RANGES else DEFAULT_RANGE


def has_search_params(params: Mapping[str, Any]) -> bool:
    """True when a URL carries any Search filter (so it wins over remembered filters)."""
    names = {_URL_NAMES.get(f.name, f.name) for f in dataclasses.fields(SearchFilters)}
    return any(name in params for name in names)


def page_count(total: int, page_size: int) -> int:
    """Number of pages needed for ``total`` results (at least 1)."""
    return max(1, -(-max(total, 0) // max(page_size, 1)))


def _choice(value: Any, allowed: Any, default: Any) -> Any:
    return value if value in allowed else default


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0
