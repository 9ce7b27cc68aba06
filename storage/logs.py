"""Log records attached to spans: write a batch, read those of one trace."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from .dedupe import Key, chunks, unseen
from .store import Store
from .timewindow import to_ns

LOG_COLUMNS = (
    "Project", "TraceId", "SpanId", "Timestamp", "EventName", "SeverityText", "Body", "Attributes", "ScopeName",
    # 0018: the record's content as searchable text (rendered at ingest like span text).
    "InputText", "OutputText",
)


def pad_log_values(values: list[Any]) -> list[Any]:
    """A row written by an older LOG_COLUMNS (shorter), completed with empty texts."""
    return list(values) + [""] * (len(LOG_COLUMNS) - len(values))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def log_rows(project: str, records: list[dict[str, Any]]) -> list[list[Any]]:
    """Rows of ``log_records`` (in :data:`LOG_COLUMNS` order) for the records that name a span."""
    return [
        [
            project, r["trace_id"], r["span_id"], r["time_ns"], r["event_name"], r["severity_text"],
            "" if r["body"] is None else _text(r["body"]),
            {k: _text(v) for k, v in r["attributes"].items()},
            r["scope_name"], r.get("input_text") or "", r.get("output_text") or "",
        ]
        for r in records
        if r["trace_id"] and r["span_id"]
    ]


def insert_log_records(store: Store, project: str, records: list[dict[str, Any]]) -> int:
    """Store the records that name a span; returns how many were stored."""
    rows = log_rows(project, records)
    store.insert("log_records", rows, LOG_COLUMNS)
    return len(rows)


def _log_key(row: Sequence[Any]) -> Key:
    """What names one record (the table's sorting key): span, time, event name and body."""
    body = row[6] if isinstance(row[6], str) else str(row[6])
    return (row[1], row[2], int(to_ns(row[3]) or 0), row[4], hashlib.sha256(body.encode("utf-8")).hexdigest())


def unseen_logs(store: Store, rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """The rows (in LOG_COLUMNS order) whose record is neither stored nor earlier in the batch, so
    a record re-sent to another collector is stored and counted once (docs/decisions/0041)."""

    def stored(project: str, keys: list[Key]) -> set[Key]:
        times = [int(k[2]) for k in keys]
        found: set[Key] = set()
        for traces in chunks([k[0] for k in keys]):
            found.update(tuple(r) for r in store.query_rows(
                "SELECT TraceId, SpanId, toUnixTimestamp64Nano(Timestamp), EventName, lower(hex(SHA256(Body)))"
                " FROM log_records WHERE Project = {p:String} AND TraceId IN {t:Array(String)}"
                " AND Timestamp >= fromUnixTimestamp64Nano({lo:Int64}) AND Timestamp <= fromUnixTimestamp64Nano({hi:Int64})",
                {"p": project, "t": traces, "lo": min(times), "hi": max(times)}))
        return found

    return unseen([pad_log_values(list(r)) for r in rows], _log_key, stored)


def logs_for_trace(store: Store, project: str, trace_id: str, *, limit: int = 10_000) -> list[dict[str, Any]]:
    """Every stored record of one trace, oldest first, de-duplicated."""
    return store.query(
        "SELECT SpanId AS span_id, toUnixTimestamp64Nano(Timestamp) AS time_ns, EventName AS event_name,"
        " Body AS body, Attributes AS attributes FROM log_records"
        " WHERE Project = {project:String} AND TraceId = {trace_id:String}"
        " ORDER BY Timestamp LIMIT 1 BY SpanId, Timestamp, EventName, Body LIMIT {limit:UInt32}",
        {"project": project, "trace_id": trace_id, "limit": limit},
    )
