"""Time windows: the one conversion between datetimes and the engine's time columns.

Every read with a time range goes through here. A :class:`Window` is ``[start, end)`` with
either end open; it renders as WHERE conditions with bound parameters, on a DateTime64(9)
column (unix nanoseconds) or on a rollup's DateTime column (whole seconds, optionally widened
to the rollup's grain). Naive datetimes are UTC. Bounds that DateTime64(9) cannot hold
(before 1900-01-01 or after 2262-04-11) are refused with :class:`InvalidQuery` rather than
overflowing into a window that silently matches everything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from .errors import InvalidQuery

NS = 1_000_000_000
#: The range of DateTime64(9): what a span timestamp can be.
MIN_TIME = datetime(1900, 1, 1, tzinfo=timezone.utc)
MAX_TIME = datetime(2262, 4, 11, tzinfo=timezone.utc)


def as_utc(value: datetime | None) -> datetime | None:
    """``value`` with a timezone: naive times are taken as UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def check_range(value: datetime, what: str = "time") -> datetime:
    """``value`` in UTC, or :class:`InvalidQuery` when DateTime64(9) cannot represent it."""
    utc = as_utc(value)
    assert utc is not None
    if not MIN_TIME <= utc <= MAX_TIME:
        raise InvalidQuery(f"{what} {utc.isoformat()} is outside the storable range "
                           f"{MIN_TIME.date().isoformat()} … {MAX_TIME.date().isoformat()}")
    return utc


def to_ns(value: datetime | int | None) -> int | None:
    """A datetime (naive = UTC) or unix nanoseconds as unix nanoseconds; None stays None."""
    if value is None or isinstance(value, int):
        return value
    utc = as_utc(value)
    assert utc is not None
    return int(utc.timestamp()) * NS + utc.microsecond * 1000


def from_ns(ns: int) -> datetime:
    """Unix nanoseconds as an aware UTC datetime (microsecond precision)."""
    return datetime.fromtimestamp(ns // 1000 / 1_000_000, tz=timezone.utc)


def iso(value: Any) -> Any:
    """Datetimes and dates as ISO 8601 text (datetimes in UTC); anything else unchanged."""
    if isinstance(value, datetime):
        return (as_utc(value) or value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _floor(value: datetime, grain_s: int) -> datetime:
    seconds = int(value.timestamp())
    return datetime.fromtimestamp(seconds - seconds % grain_s, tz=timezone.utc)


def _ceil(value: datetime, grain_s: int) -> datetime:
    floor = _floor(value, grain_s)
    return floor if floor == value else floor + timedelta(seconds=grain_s)


@dataclass(frozen=True)
class Window:
    """``[start, end)``; either end may be None (open). Both are UTC and in range after init."""

    start: datetime | None = None
    end: datetime | None = None
    #: Exact nanosecond bounds when the window was made from them (datetimes hold microseconds).
    exact_ns: tuple[int | None, int | None] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.start is not None:
            object.__setattr__(self, "start", check_range(self.start, "start"))
        if self.end is not None:
            object.__setattr__(self, "end", check_range(self.end, "end"))

    @classmethod
    def of_ns(cls, start_ns: int | None, end_ns: int | None) -> Window:
        """A window from unix-nanosecond bounds (``None`` = open)."""
        return cls(None if start_ns is None else from_ns(start_ns), None if end_ns is None else from_ns(end_ns),
                   exact_ns=(start_ns, end_ns))

    @property
    def start_ns(self) -> int | None:
        return self.exact_ns[0] if self.exact_ns else to_ns(self.start)

    @property
    def end_ns(self) -> int | None:
        return self.exact_ns[1] if self.exact_ns else to_ns(self.end)

    def conditions(self, params: dict[str, Any], column: str = "Timestamp", *, prefix: str = "t") -> list[str]:
        """Conditions on a DateTime64(9) column; adds ``{prefix}_lo`` / ``{prefix}_hi`` to ``params``."""
        cond = []
        if self.start is not None:
            cond.append(f"{column} >= fromUnixTimestamp64Nano({{{prefix}_lo:Int64}})")
            params[f"{prefix}_lo"] = self.start_ns
        if self.end is not None:
            cond.append(f"{column} < fromUnixTimestamp64Nano({{{prefix}_hi:Int64}})")
            params[f"{prefix}_hi"] = self.end_ns
        return cond

    def second_conditions(self, params: dict[str, Any], column: str, *, prefix: str = "r",
                          grain_s: int | None = None) -> list[str]:
        """Conditions on a DateTime (seconds) column such as a rollup's hour or day.

        With ``grain_s`` the window is widened to whole grains (start down, end up), so a
        rollup row that overlaps the window is included.
        """
        cond = []
        for bound, op, widen in ((self.start, ">=", _floor), (self.end, "<", _ceil)):
            if bound is None:
                continue
            name = f"{prefix}_{'lo' if op == '>=' else 'hi'}"
            value = widen(bound, grain_s) if grain_s else bound
            cond.append(f"{column} {op} toDateTime({{{name}:Int64}}, 'UTC')")
            params[name] = int(value.timestamp())
        return cond

    def inner_grains(self, grain_s: int) -> Window | None:
        """The whole grains (e.g. hours of a rollup) inside the window, or None if there are none."""
        lo = _ceil(self.start, grain_s) if self.start is not None else None
        hi = _floor(self.end, grain_s) if self.end is not None else None
        if lo is None or hi is None or lo < hi:
            return Window(lo, hi)
        return None

    def edges(self, inner: Window) -> list[Window]:
        """The parts of this window outside ``inner`` (the partial grains at either end)."""
        parts = []
        if self.start is not None and inner.start is not None and inner.start > self.start:
            parts.append(Window(self.start, inner.start))
        if self.end is not None and inner.end is not None and self.end > inner.end:
            parts.append(Window(inner.end, self.end))
        return parts
