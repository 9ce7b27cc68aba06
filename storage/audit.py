"""Audit queries: the hash-chain ledger, deletion records, the access log, exports and the
checkpoint audit (retention, legal holds and the governance log: :mod:`.governance`).

Every value is a bound parameter; column lists come from the tuples below (docs/decisions/0004-bound-parameters-only.md). The
collector's :mod:`flightlog.collector.audit.chain` computes hashes; this module only moves rows.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from flightlog.semconv import APPROVAL_ID, CHECKPOINT_TOOL, CHECKPOINT_WAIT_MS

from .errors import InvalidQuery
from .schema import SPAN_COLUMNS
from .store import Store
from .timewindow import NS, Window

# Columns left out of a span's canonical form: set by the store (IngestTime), the chain
# itself (ChainHash), or derived from tokens and the price table and re-computable by
# `flightlog prices recompute` (cost columns).
UNHASHED_COLUMNS = frozenset({"IngestTime", "ChainHash", "CostUsd", "CostSource", "PriceVersion"})
HASHED_COLUMNS: tuple[str, ...] = tuple(c for c in SPAN_COLUMNS if c not in UNHASHED_COLUMNS)

CHAIN_BATCH_COLUMNS = ("Project", "Seq", "BatchId", "PrevHash", "Hash", "Spans", "FirstTime", "LastTime", "Version",
                       "Stream")
CHAIN_SPAN_COLUMNS = ("Project", "Seq", "Timestamp", "TraceId", "SpanId", "SpanHash", "CostHash", "Stream")
COST_COLUMNS = ("CostSource", "PriceVersion", "CostUsd")
COST_REVISION_COLUMNS = ("Project", "Timestamp", "TraceId", "SpanId", "CostHash", "EventId")
ACCESS_COLUMNS = ("At", "Project", "KeyId", "Role", "Method", "Endpoint", "Path", "Params", "Status", "Rows",
                  "DurationMs", "Client")
MAX_PAGE = 1000
MAX_EXPORT_PAGE = 5000


def _q(column: str) -> str:
    if column not in SPAN_COLUMNS:
        raise InvalidQuery(f"unknown span column {column!r}")
    return f"`{column}`"


_NS_EXPRS = {
    "Timestamp": "toUnixTimestamp64Nano(Timestamp)",
    "Events.Timestamp": "arrayMap(x -> toUnixTimestamp64Nano(x), `Events.Timestamp`)",
}
"""Timestamp columns read as exact unix nanoseconds."""


def _select_list(columns: Iterable[str], special: Mapping[str, str] = _NS_EXPRS) -> str:
    """SELECT list of ``columns`` as c0…cN: the ``special`` expression of a column, else the column."""
    return ", ".join(f"{special[col] if col in special else _q(col)} AS c{i}" for i, col in enumerate(columns))


def _hash_select() -> str:
    """SELECT list of the hashed columns as c0…cN, timestamps as exact unix nanoseconds."""
    return _select_list(HASHED_COLUMNS)


def cost_hash(cost_source: Any, price_version: Any, cost_usd: Any) -> str:
    """What the chain records of a span's cost (the columns a span's own hash leaves out, because
    ``prices recompute`` changes them): sha256 of source, price version and cost."""
    text = f"{cost_source or ''}|{price_version or ''}|{float(cost_usd or 0.0)!r}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- the chain ledger -------------------------------------------------------------------
# A project's chain is one stream per collector instance (``Stream`` = its instance id; '' for
# the links written before streams, migration 0034): each stream is a linear chain of its own.
def chain_head(store: Store, project: str, stream: str) -> tuple[int, str] | None:
    """(Seq, Hash) of the last batch of one stream of the project's chain, or None when empty."""
    rows = store.query_rows(
        "SELECT Seq, Hash FROM chain_batches WHERE Project = {p:String} AND Stream = {s:String}"
        " ORDER BY Seq DESC LIMIT 1", {"p": project, "s": stream})
    return (int(rows[0][0]), rows[0][1]) if rows else None


def chain_heads(store: Store, project: str) -> list[tuple[str, int, str]]:
    """(Stream, Seq, Hash) of every stream's last batch, the most recently extended stream first."""
    rows = store.query_rows(
        "SELECT Stream, max(Seq) AS Head, argMax(Hash, Seq), max(CreatedAt) AS Latest FROM chain_batches"
        " WHERE Project = {p:String} GROUP BY Stream ORDER BY Latest DESC, Stream", {"p": project})
    return [(str(r[0]), int(r[1]), str(r[2])) for r in rows]


def chained_projects(store: Store) -> list[str]:
    """Projects that have a chain."""
    return [r[0] for r in store.query_rows("SELECT DISTINCT Project FROM chain_batches ORDER BY Project")]


def find_batch(store: Store, project: str, batch_id: str, streams: Sequence[str]) -> tuple[str, int, str] | None:
    """(Stream, Seq, Hash) of a batch already chained with this id in one of ``streams`` (a
    replayed spool segment), the earliest stream of the list first."""
    rows = store.query_rows(
        "SELECT Stream, Seq, Hash FROM chain_batches WHERE Project = {p:String} AND BatchId = {b:String}"
        " AND Stream IN {s:Array(String)} ORDER BY indexOf({s:Array(String)}, Stream), Seq LIMIT 1",
        {"p": project, "b": batch_id, "s": list(streams)})
    return (str(rows[0][0]), int(rows[0][1]), rows[0][2]) if rows else None


def record_batch(store: Store, batch: Sequence[Any], spans: Sequence[Sequence[Any]]) -> None:
    """Insert a batch's span entries, then the batch link (so a link never lacks its spans)."""
    store.insert("chain_spans", spans, CHAIN_SPAN_COLUMNS)
    store.insert("chain_batches", [batch], CHAIN_BATCH_COLUMNS)


def chain_batches(store: Store, project: str) -> list[dict[str, Any]]:
    """Every link of the project's chain, stream by stream in order (one row per Stream and Seq)."""
    return store.query(
        "SELECT Stream, Seq, any(BatchId) AS Bid, any(PrevHash) AS Prev, any(Hash) AS LinkHash, any(Spans) AS N,"
        " toUnixTimestamp64Nano(any(FirstTime)) AS FirstNs, toUnixTimestamp64Nano(any(LastTime)) AS LastNs,"
        " count() AS Copies, uniqExact(Hash) AS Variants"
        " FROM chain_batches WHERE Project = {p:String} GROUP BY Stream, Seq ORDER BY Stream, Seq",
        {"p": project}, settings={"max_result_rows": 0})


def batch_ids_from_spans(store: Store, project: str, lo: int, hi: int) -> dict[tuple[str, int], tuple[str, int]]:
    """(Stream, Seq) → (BatchId recomputed from chain_spans, entries) for batches with spans in [lo, hi]."""
    rows = store.query_rows(
        "SELECT Stream, Seq, lower(hex(SHA256(arrayStringConcat(arraySort(groupUniqArray("
        "concat(TraceId, ':', SpanId, ':', SpanHash))), '\\n')))) AS Id, uniqExact(TraceId, SpanId, SpanHash)"
        " FROM chain_spans WHERE Project = {p:String}"
        " AND Timestamp >= fromUnixTimestamp64Nano({lo:Int64}) AND Timestamp <= fromUnixTimestamp64Nano({hi:Int64})"
        " GROUP BY Stream, Seq", {"p": project, "lo": lo, "hi": hi})
    return {(str(stream), int(seq)): (bid, int(n)) for stream, seq, bid, n in rows}


def chain_entries(store: Store, project: str, lo: int, hi: int) -> list[tuple[str, str, str, int, int, str, str]]:
    """(TraceId, SpanId, SpanHash, Seq, Timestamp ns, CostHash, Stream) of chained spans with Timestamp in [lo, hi)."""
    return [tuple(r) for r in store.query_rows(
        "SELECT DISTINCT TraceId, SpanId, SpanHash, Seq, toUnixTimestamp64Nano(Timestamp), CostHash, Stream"
        " FROM chain_spans"
        " WHERE Project = {p:String}"
        " AND Timestamp >= fromUnixTimestamp64Nano({lo:Int64}) AND Timestamp < fromUnixTimestamp64Nano({hi:Int64})",
        {"p": project, "lo": lo, "hi": hi})]


def stored_span_rows(store: Store, project: str, lo: int, hi: int) -> list[tuple[dict[str, Any], str, dict[str, Any]]]:
    """Every physical span row (no FINAL: a forged copy must not hide) with Timestamp in [lo, hi).

    Returns (hashed columns as a dict, ChainHash, cost columns as a dict) triples.
    """
    n = len(HASHED_COLUMNS)
    sql = (f"SELECT {_hash_select()}, ChainHash, {', '.join(COST_COLUMNS)} FROM spans WHERE Project = {{p:String}}"
           " AND Timestamp >= fromUnixTimestamp64Nano({lo:Int64}) AND Timestamp < fromUnixTimestamp64Nano({hi:Int64})")
    out = []
    for row in store.query_rows(sql, {"p": project, "lo": lo, "hi": hi}):
        out.append((dict(zip(HASHED_COLUMNS, row[:n], strict=True)), row[n],
                    dict(zip(COST_COLUMNS, row[n + 1:], strict=True))))
    return out


def cost_revisions(store: Store, project: str, lo: int, hi: int) -> dict[tuple[str, str], str]:
    """(TraceId, SpanId) → the CostHash of the latest ``prices recompute`` that changed the span."""
    rows = store.query_rows(
        "SELECT TraceId, SpanId, argMax(CostHash, At) FROM chain_cost_revisions WHERE Project = {p:String}"
        " AND Timestamp >= fromUnixTimestamp64Nano({lo:Int64}) AND Timestamp < fromUnixTimestamp64Nano({hi:Int64})"
        " GROUP BY TraceId, SpanId", {"p": project, "lo": lo, "hi": hi})
    return {(t, s): h for t, s, h in rows}


def record_cost_revisions(store: Store, rows: Sequence[Sequence[Any]]) -> None:
    """Rows of COST_REVISION_COLUMNS: the new cost of each span a recompute changed."""
    store.insert("chain_cost_revisions", rows, COST_REVISION_COLUMNS)


def record_price_table(store: Store, version: str, sha256: str, body: str) -> None:
    """Keep a price table (idempotent per version and content)."""
    found = store.query_rows("SELECT 1 FROM price_tables WHERE Version = {v:String} AND Sha256 = {s:String} LIMIT 1",
                             {"v": version, "s": sha256})
    if not found:
        store.insert("price_tables", [[version, sha256, body]], ("Version", "Sha256", "Body"))


def price_tables(store: Store) -> list[tuple[str, str, str]]:
    """(Version, Sha256, Body) of every price table recorded."""
    return [tuple(r) for r in store.query_rows("SELECT Version, Sha256, any(Body) FROM price_tables"
                                               " GROUP BY Version, Sha256 ORDER BY Version")]


def rollup_hours(store: Store, project: str, lo: int, hi: int) -> dict[int, tuple[float, int, int, int]]:
    """Hour (unix s) → (cost, input tokens, output tokens, spans) as the hourly rollup holds them."""
    rows = store.query_rows(
        "SELECT toUnixTimestamp(Hour), sum(CostUsd), sum(InputTokens), sum(OutputTokens), sum(Spans)"
        " FROM usage_hourly WHERE Project = {p:String}"
        " AND Hour >= toDateTime(intDiv({lo:Int64}, 1000000000), 'UTC')"
        " AND Hour < toDateTime(intDiv({hi:Int64}, 1000000000), 'UTC')"
        " GROUP BY Hour", {"p": project, "lo": lo, "hi": hi})
    return {int(h): (float(c), int(i), int(o), int(n)) for h, c, i, o, n in rows}



def span_time_bounds(store: Store, project: str) -> tuple[int, int] | None:
    """(min, max) Timestamp in ns over the project's stored and chained spans."""
    rows = store.query_rows(
        "SELECT min(t), max(t), count() FROM ("
        " SELECT toUnixTimestamp64Nano(Timestamp) AS t FROM spans WHERE Project = {p:String}"
        " UNION ALL SELECT toUnixTimestamp64Nano(Timestamp) AS t FROM chain_spans WHERE Project = {p:String})",
        {"p": project})
    if not rows or not rows[0][2]:
        return None
    return int(rows[0][0]), int(rows[0][1])


# -- deletions on purpose -----------------------------------------------------------------
@dataclass(frozen=True)
class Deletion:
    """Spans removed on purpose: [from_ns, to_ns), all traces or ``trace_ids``, except held ones."""

    from_ns: int
    to_ns: int
    trace_ids: frozenset[str] = frozenset()
    except_trace_ids: frozenset[str] = frozenset()
    reason: str = ""

    def covers(self, trace_id: str, ts_ns: int) -> bool:
        if not (self.from_ns <= ts_ns < self.to_ns) or trace_id in self.except_trace_ids:
            return False
        return not self.trace_ids or trace_id in self.trace_ids


def record_deletion(store: Store, project: str, deletion: Deletion, actor: str) -> str:
    deletion_id = uuid.uuid4().hex
    store.insert("chain_deletions", [[
        project, deletion_id, deletion.from_ns, deletion.to_ns, sorted(deletion.trace_ids),
        sorted(deletion.except_trace_ids), deletion.reason, actor]],
        ("Project", "DeletionId", "FromTime", "ToTime", "TraceIds", "ExceptTraceIds", "Reason", "Actor"))
    return deletion_id


def deletions(store: Store, project: str) -> list[Deletion]:
    rows = store.query_rows(
        "SELECT toUnixTimestamp64Nano(FromTime), toUnixTimestamp64Nano(ToTime), TraceIds, ExceptTraceIds, Reason"
        " FROM chain_deletions FINAL WHERE Project = {p:String} ORDER BY At", {"p": project})
    return [Deletion(int(a), int(b), frozenset(t), frozenset(e), r) for a, b, t, e, r in rows]


def delete_spans(store: Store, project: str, deletion: Deletion) -> None:
    """ALTER … DELETE the spans a deletion covers (synchronous on chDB; a mutation on a server)."""
    cond = ["Project = {p:String}", "Timestamp >= fromUnixTimestamp64Nano({lo:Int64})",
            "Timestamp < fromUnixTimestamp64Nano({hi:Int64})"]
    params: dict[str, Any] = {"p": project, "lo": deletion.from_ns, "hi": deletion.to_ns}
    if deletion.trace_ids:
        cond.append("TraceId IN {only:Array(String)}")
        params["only"] = sorted(deletion.trace_ids)
    if deletion.except_trace_ids:
        cond.append("TraceId NOT IN {keep:Array(String)}")
        params["keep"] = sorted(deletion.except_trace_ids)
    where = " AND ".join(cond)
    for table in ("spans", "log_records"):
        store.command_rendered(f"ALTER TABLE {table} DELETE WHERE {where}", params,
                               settings={"mutations_sync": 2})


def count_spans(store: Store, project: str, lo: int | None = None, hi: int | None = None) -> int:
    params: dict[str, Any] = {"p": project}
    cond = ["Project = {p:String}", *Window.of_ns(lo, hi).conditions(params)]
    return int(store.query_rows(f"SELECT count() FROM spans WHERE {' AND '.join(cond)}", params)[0][0])


# -- access log -----------------------------------------------------------------------
def insert_access(store: Store, rows: Sequence[Sequence[Any]]) -> None:
    store.insert("access_log", rows, ACCESS_COLUMNS)


@dataclass
class AccessFilter:
    """What an access-log search asks for; every field optional."""

    key_id: str = ""
    role: str = ""
    endpoint: str = ""
    contains: str = ""
    start: datetime | None = None
    end: datetime | None = None


def search_access(store: Store, project: str, flt: AccessFilter, *, limit: int = 100,
                  offset: int = 0) -> dict[str, Any]:
    """Newest first; ``contains`` matches the path or the parameters."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidQuery(f"limit must be 1…{MAX_PAGE}")
    cond, params = ["Project = {p:String}"], {"p": project, "limit": limit + 1, "offset": offset}
    for name, column in (("key_id", "KeyId"), ("role", "Role"), ("endpoint", "Endpoint")):
        value = getattr(flt, name)
        if value:
            cond.append(f"{column} = {{{name}:String}}")
            params[name] = value
    if flt.contains:
        cond.append("(positionCaseInsensitive(Path, {contains:String}) > 0"
                    " OR positionCaseInsensitive(Params, {contains:String}) > 0)")
        params["contains"] = flt.contains
    cond += Window(flt.start, flt.end).conditions(params, "At")
    rows = store.query(
        "SELECT At, KeyId, Role, Method, Endpoint, Path, Params, Status, Rows, DurationMs, Client"
        f" FROM access_log WHERE {' AND '.join(cond)} ORDER BY At DESC"
        " LIMIT {limit:UInt32} OFFSET {offset:UInt32}", params)
    truncated = len(rows) > limit
    out = []
    for r in rows[:limit]:
        out.append({
            "at": r["At"].replace(tzinfo=timezone.utc).isoformat(), "key_id": r["KeyId"], "role": r["Role"],
            "method": r["Method"], "endpoint": r["Endpoint"], "path": r["Path"],
            "params": json.loads(r["Params"] or "{}"), "status": int(r["Status"]), "rows": int(r["Rows"]),
            "duration_ms": round(float(r["DurationMs"]), 2), "client": r["Client"],
        })
    return {"entries": out, "truncated": truncated, "limit": limit, "offset": offset}


# -- exports --------------------------------------------------------------------------
EXPORT_COLUMNS: tuple[str, ...] = tuple(c for c in SPAN_COLUMNS)


@dataclass
class ExportFilter:
    """Which spans an export covers; every field optional (time range is [start, end))."""

    start: datetime | None = None
    end: datetime | None = None
    agent: str = ""
    user: str = ""
    trace_ids: list[str] = field(default_factory=list)

    def where(self, project: str) -> tuple[list[str], dict[str, Any]]:
        params: dict[str, Any] = {"p": project}
        cond = ["Project = {p:String}", *Window(self.start, self.end).conditions(params)]
        if self.agent:
            cond.append("AgentName = {agent:String}")
            params["agent"] = self.agent
        if self.user:
            cond.append("UserId = {user:String}")
            params["user"] = self.user
        if self.trace_ids:
            cond.append("TraceId IN {traces:Array(String)}")
            params["traces"] = list(self.trace_ids)
        return cond, params


def export_page(store: Store, project: str, flt: ExportFilter, after: tuple[int, str, str] | None,
                limit: int = 1000) -> list[dict[str, Any]]:
    """One page of spans in (Timestamp, TraceId, SpanId) order after the key ``after``.

    Keyset paging keeps memory constant however large the export; each span once (latest
    copy). Timestamps come back as unix nanoseconds (``Timestamp``, ``Events.Timestamp``).
    """
    if not 1 <= limit <= MAX_EXPORT_PAGE:
        raise InvalidQuery(f"page size must be 1…{MAX_EXPORT_PAGE}")
    cond, params = flt.where(project)
    if after is not None:
        cond.append("(Timestamp, TraceId, SpanId) > (fromUnixTimestamp64Nano({at:Int64}), {at_t:String}, {at_s:String})")
        params.update({"at": after[0], "at_t": after[1], "at_s": after[2]})
    params["limit"] = limit
    select = _select_list(EXPORT_COLUMNS, {**_NS_EXPRS, "IngestTime": "toUnixTimestamp64Milli(IngestTime)"})
    sql = (f"SELECT {select} FROM spans WHERE {' AND '.join(cond)}"
           " ORDER BY Timestamp, TraceId, SpanId, IngestTime DESC LIMIT 1 BY Timestamp, TraceId, SpanId"
           " LIMIT {limit:UInt32}")
    return [dict(zip(EXPORT_COLUMNS, row, strict=True)) for row in store.query_rows(sql, params)]


def chain_links_for(store: Store, project: str, seqs: Iterable[int], stream: str | None = None) -> list[dict[str, Any]]:
    """The chain links (stream, seq, prev hash, hash, batch id) with these sequence numbers, in
    every stream or in ``stream`` only."""
    seqs = sorted(set(seqs))
    if not seqs:
        return []
    cond, params = ["Project = {p:String}", "Seq IN {s:Array(UInt64)}"], {"p": project, "s": seqs}
    if stream is not None:
        cond.append("Stream = {stream_id:String}")
        params["stream_id"] = stream
    return store.query(
        "SELECT Stream, Seq, any(BatchId) AS Bid, any(PrevHash) AS Prev, any(Hash) AS LinkHash, any(Spans) AS N"
        f" FROM chain_batches WHERE {' AND '.join(cond)} GROUP BY Stream, Seq ORDER BY Stream, Seq", params)


def oldest_span_ns(store: Store, project: str) -> int | None:
    rows = store.query_rows("SELECT min(Timestamp) != 0, toUnixTimestamp64Nano(min(Timestamp)), count()"
                            " FROM spans WHERE Project = {p:String}", {"p": project})
    return int(rows[0][1]) if rows and rows[0][2] else None


# -- checkpoint audit ------------------------------------------------------------------------
def checkpoints(store: Store, project: str, *, start: datetime | None = None, end: datetime | None = None,
                min_tier: int = 1, flagged_only: bool = False, limit: int = 200) -> dict[str, Any]:
    """Spans with a human checkpoint (CheckpointTier ≥ ``min_tier``), newest first.

    ``flagged`` marks tier-3 actions that ran without an approval: a tier-3 span whose
    decision is not ``approved`` by a named approver (``autonomous``, ``notified``, none),
    except checkpoints that were rejected or timed out (the action was stopped).
    """
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidQuery(f"limit must be 1…{MAX_PAGE}")
    cond = ["Project = {p:String}", "CheckpointTier >= {tier:UInt8}"]
    params: dict[str, Any] = {"p": project, "tier": max(1, min_tier), "limit": limit + 1,
                              "wait_key": CHECKPOINT_WAIT_MS, "approval_key": APPROVAL_ID, "tool_key": CHECKPOINT_TOOL}
    cond += Window(start, end).conditions(params)
    # A rejected or timed-out tier-3 checkpoint blocked its action: that is the system working.
    flag = ("(CheckpointTier >= 3 AND (Approver = '' OR CheckpointDecision != 'approved')"
            " AND NOT (SpanType = 'checkpoint' AND CheckpointDecision IN ('rejected', 'timed_out')))")
    if flagged_only:
        cond.append(flag)
    rows = store.query(
        "SELECT toUnixTimestamp64Nano(Timestamp) AS ns, TraceId, SpanId, SpanName, AgentName, ToolName, CheckpointTier,"
        " CheckpointDecision, Approver, SpanAttributes[{wait_key:String}] AS WaitMs, StatusCode,"
        " SpanAttributes[{approval_key:String}] AS ApprovalId, SpanAttributes[{tool_key:String}] AS CheckpointTool,"
        f" UserId, {flag} AS Flagged"
        f" FROM spans WHERE {' AND '.join(cond)}"
        " ORDER BY Timestamp DESC, IngestTime DESC LIMIT 1 BY TraceId, SpanId LIMIT {limit:UInt32}", params)
    summary = store.query(
        "SELECT CheckpointTier AS tier, count() AS actions,"
        " countIf(CheckpointDecision = 'approved') AS approved,"
        " countIf(CheckpointDecision = 'rejected') AS rejected,"
        " countIf(CheckpointDecision = 'timed_out') AS timed_out,"
        f" countIf({flag}) AS flagged,"
        " quantileIf(0.5)(toFloat64OrZero(SpanAttributes[{wait_key:String}]),"
        "   SpanAttributes[{wait_key:String}] != '') AS wait_ms_p50"
        " FROM (SELECT * FROM spans WHERE " + " AND ".join(cond) +
        " ORDER BY IngestTime DESC LIMIT 1 BY TraceId, SpanId) GROUP BY tier ORDER BY tier", params)
    out = []
    for r in rows[:limit]:
        wait = r["WaitMs"]
        out.append({
            "time": datetime.fromtimestamp(r["ns"] / NS, tz=timezone.utc).isoformat(), "trace_id": r["TraceId"],
            "span_id": r["SpanId"], "span_name": r["SpanName"], "agent": r["AgentName"],
            "tool": r["ToolName"] or r["CheckpointTool"], "approval_id": r["ApprovalId"] or None,
            "tier": int(r["CheckpointTier"]), "decision": r["CheckpointDecision"], "approver": r["Approver"],
            "wait_ms": float(wait) if wait not in ("", None) else None, "status": r["StatusCode"],
            "user": r["UserId"], "flagged": bool(r["Flagged"]),
        })
    tiers = [{k: (float(v) if k == "wait_ms_p50" else int(v)) for k, v in s.items()} for s in summary]
    return {"checkpoints": out, "truncated": len(rows) > limit, "by_tier": tiers}


def export_count(store: Store, project: str, flt: ExportFilter) -> int:
    """How many spans an export with this filter holds (for progress bars)."""
    cond, params = flt.where(project)
    return int(store.query_rows(f"SELECT uniqExact(Timestamp, TraceId, SpanId) FROM spans WHERE {' AND '.join(cond)}",
                                params)[0][0])


def hourly_counts(store: Store, project: str, lo: int, hi: int) -> list[tuple[int, int]]:
    """(hour start ns, rows) over spans and chain_spans in [lo, hi): sizes verification windows."""
    rows = store.query_rows(
        "SELECT h, sum(n) FROM ("
        " SELECT toUnixTimestamp(toStartOfHour(Timestamp)) AS h, count() AS n FROM spans WHERE Project = {p:String}"
        "  AND Timestamp >= fromUnixTimestamp64Nano({lo:Int64}) AND Timestamp < fromUnixTimestamp64Nano({hi:Int64})"
        "  GROUP BY h"
        " UNION ALL SELECT toUnixTimestamp(toStartOfHour(Timestamp)) AS h, count() AS n FROM chain_spans"
        "  WHERE Project = {p:String}"
        "  AND Timestamp >= fromUnixTimestamp64Nano({lo:Int64}) AND Timestamp < fromUnixTimestamp64Nano({hi:Int64})"
        "  GROUP BY h) GROUP BY h ORDER BY h LIMIT 1000000", {"p": project, "lo": lo, "hi": hi})
    return [(int(h) * NS, int(n)) for h, n in rows]
