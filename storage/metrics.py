"""OTLP metric data points (``metrics``, migration 0018): the catalogue and the series of one metric.

One row per data point, as sent (cumulative points are stored as they come; the reads below
say per series what the window adds up to). Every read is bounded
(docs/decisions/0007-bounded-reads.md) and grouping columns come from an allow-list
(docs/decisions/0004-bound-parameters-only.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .dedupe import Key, chunks, unseen
from .errors import InvalidQuery
from .store import Store
from .timewindow import Window, iso, to_ns

METRIC_COLUMNS = (
    "Project", "MetricName", "MetricDescription", "MetricUnit", "MetricType", "ServiceName",
    "ResourceAttributes", "ScopeName", "ScopeVersion", "Attributes", "SeriesId", "StartTimeUnix", "TimeUnix",
    "AggregationTemporality", "IsMonotonic", "Value", "Count", "Sum", "Min", "Max", "BucketCounts",
    "ExplicitBounds", "Operation", "Provider", "RequestModel", "ResponseModel", "TokenType", "AgentName",
)
#: OTLP AggregationTemporality: a cumulative point carries the total since StartTimeUnix.
CUMULATIVE = 2
MAX_SERIES = 1000
MAX_POINTS = 10_000
GROUPS = {
    "model": "if(ResponseModel != '', ResponseModel, RequestModel)",
    "provider": "Provider",
    "operation": "Operation",
    "token_type": "TokenType",
    "agent": "AgentName",
    "service": "ServiceName",
}


_I_NAME, _I_SERIES, _I_TIME = (METRIC_COLUMNS.index(c) for c in ("MetricName", "SeriesId", "TimeUnix"))


def _point_key(row: Sequence[Any]) -> Key:
    """What names one data point (the table's sorting key): metric, series and time."""
    return (row[_I_NAME], row[_I_SERIES], int(to_ns(row[_I_TIME]) or 0))


def unseen_points(store: Store, rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """The rows (in METRIC_COLUMNS order) whose point is neither stored nor earlier in the batch, so
    a point re-sent to another collector is stored and counted once (docs/decisions/0041)."""

    def stored(project: str, keys: list[Key]) -> set[Key]:
        times = [int(k[2]) for k in keys]
        found: set[Key] = set()
        for series_ids in chunks([k[1] for k in keys]):
            found.update(tuple(r) for r in store.query_rows(
                "SELECT MetricName, SeriesId, toUnixTimestamp64Nano(TimeUnix) FROM metrics"
                " WHERE Project = {p:String} AND SeriesId IN {s:Array(String)}"
                " AND TimeUnix >= fromUnixTimestamp64Nano({lo:Int64}) AND TimeUnix <= fromUnixTimestamp64Nano({hi:Int64})",
                {"p": project, "s": series_ids, "lo": min(times), "hi": max(times)}))
        return found

    return unseen(rows, _point_key, stored)


def names(store: Store, project: str, *, start: datetime | None = None, end: datetime | None = None) -> list[dict[str, Any]]:
    """Every metric of the project in the window: name, type, unit, description, points, series."""
    params: dict[str, Any] = {"project": project}
    cond = ["Project = {project:String}", *Window(start, end).conditions(params, "TimeUnix")]
    rows = store.query(
        "SELECT MetricName AS name, any(MetricType) AS type, any(MetricUnit) AS unit,"
        " any(MetricDescription) AS description, count() AS points, uniqExact(SeriesId) AS series,"
        " min(TimeUnix) AS first, max(TimeUnix) AS last"
        f" FROM metrics WHERE {' AND '.join(cond)} GROUP BY MetricName ORDER BY MetricName LIMIT 1000",
        params,
    )
    return [{"name": r["name"], "type": r["type"], "unit": r["unit"], "description": r["description"],
             "points": int(r["points"]), "series": int(r["series"]), "first": iso(r["first"]),
             "last": iso(r["last"])} for r in rows]


def series(store: Store, project: str, name: str, *, start: datetime | None = None,
           end: datetime | None = None, group_by: str = "model") -> dict[str, Any]:
    """One metric's totals per group in the window, and its points.

    A group adds up its series: for a delta series the points of the window, for a cumulative
    series its latest point in the window (the total since the series started). Histograms give
    count, sum, min and max (average = sum / count); sums and gauges their value (a gauge's
    latest).
    """
    if group_by not in GROUPS:
        raise InvalidQuery(f"group_by must be one of {sorted(GROUPS)}, got {group_by!r}")
    params: dict[str, Any] = {"project": project, "name": name}
    cond = ["Project = {project:String}", "MetricName = {name:String}",
            *Window(start, end).conditions(params, "TimeUnix")]
    where = " AND ".join(cond)
    per_series = (
        f"SELECT SeriesId, any({GROUPS[group_by]}) AS g, any(MetricType) AS type, any(MetricUnit) AS unit,"
        " any(AggregationTemporality) AS temporality, count() AS points,"
        f" if(temporality = {CUMULATIVE} OR type = 'Gauge', argMax(Value, TimeUnix), sum(Value)) AS value,"
        f" if(temporality = {CUMULATIVE}, argMax(Count, TimeUnix), sum(Count)) AS n,"
        f" if(temporality = {CUMULATIVE}, argMax(Sum, TimeUnix), sum(Sum)) AS total,"
        " min(Min) AS lo, max(Max) AS hi"
        f" FROM (SELECT * FROM metrics WHERE {where} ORDER BY IngestTime DESC LIMIT 1 BY SeriesId, TimeUnix)"
        " GROUP BY SeriesId LIMIT {max_series:UInt32}"
    )
    rows = store.query(
        "SELECT g, any(type) AS type, any(unit) AS unit, count() AS series, sum(points) AS points,"
        " sum(value) AS value, sum(n) AS count, sum(total) AS sum, min(lo) AS min, max(hi) AS max"
        f" FROM ({per_series}) GROUP BY g ORDER BY g",
        {**params, "max_series": MAX_SERIES},
    )
    points = store.query(
        "SELECT toUnixTimestamp64Nano(TimeUnix) AS time_ns, " + GROUPS[group_by] + " AS g, TokenType AS token_type,"
        " Value AS value, Count AS count, Sum AS sum, Attributes AS attributes"
        f" FROM (SELECT * FROM metrics WHERE {where} ORDER BY IngestTime DESC LIMIT 1 BY SeriesId, TimeUnix)"
        " ORDER BY time_ns LIMIT {max_points:UInt32}",
        {**params, "max_points": MAX_POINTS},
    )
    return {
        "name": name,
        "group_by": group_by,
        "groups": [{"group": r["g"], "type": r["type"], "unit": r["unit"], "series": int(r["series"]),
                    "points": int(r["points"]), "value": float(r["value"]), "count": int(r["count"]),
                    "sum": float(r["sum"]), "min": float(r["min"]) if int(r["count"]) else None,
                    "max": float(r["max"]) if int(r["count"]) else None,
                    "average": float(r["sum"]) / int(r["count"]) if int(r["count"]) else None}
                   for r in rows],
        "points": [{"time_ns": int(p["time_ns"]), "group": p["g"], "token_type": p["token_type"],
                    "value": float(p["value"]), "count": int(p["count"]), "sum": float(p["sum"]),
                    "attributes": dict(p["attributes"])} for p in points],
        "truncated": len(points) >= MAX_POINTS,
    }
