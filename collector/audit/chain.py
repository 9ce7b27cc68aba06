"""The tamper-evident record: per project, one hash chain stream per collector instance, over
ingest batches (docs/audit.md, docs/decisions/0040-one-chain-stream-per-collector.md).

* A span's **canonical form** is the JSON of its hashed columns (every ``spans`` column
  except IngestTime, ChainHash and the re-priceable cost columns), with empty values left
  out (so a column added later does not change old hashes), maps as sorted pairs and times
  as unix nanoseconds. ``span_hash`` = sha256 of it. The same function runs on rows as the
  collector writes them and as :mod:`flightlog.storage.audit` reads them back.
* A **batch** is one project's spans in one spool segment. Its id is the sha256 of its
  sorted, distinct ``TraceId:SpanId:SpanHash`` entries, so a replayed segment (crash after
  the insert, before the spool delete) has the same id and is found, not chained twice.
* A **link**: ``Hash = sha256(PrevHash + BatchId)``; Seq counts up from 1 in each **stream**.
* A **stream** is named by the collector instance id that extends it (only that collector
  appends to it, so links of several collectors never collide); the links written before
  streams existed are the stream ``''``. A span row's ChainHash names its stream and Seq.

:class:`ChainWriter.prepare` is the BatchWriter ``prepare`` hook; :func:`verify` recomputes
everything and names altered, deleted and out-of-band spans.
"""

from __future__ import annotations

import hashlib
import json
import logging
import operator
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import orjson

from flightlog.storage import Store
from flightlog.storage import audit as db
from flightlog.storage import governance as gov
from flightlog import semconv as sc
from flightlog.storage.schema import SPAN_COLUMNS, pad_span_values
from flightlog.storage.timewindow import to_ns

from flightlog.collector.pricing import PriceTable, client_cost, parse_prices

log = logging.getLogger(__name__)

CHAIN_VERSION = 1
GENESIS = "0" * 64
HOUR_NS = 3600 * db.NS
VERIFY_WINDOW_ROWS = 200_000  # span rows compared per window (bounded memory)
MAX_LISTED = 1000  # ids listed per finding; counts are always complete
_I_PROJECT = SPAN_COLUMNS.index("Project")
_I_TS = SPAN_COLUMNS.index("Timestamp")
_I_TRACE = SPAN_COLUMNS.index("TraceId")
_I_SPAN = SPAN_COLUMNS.index("SpanId")
_I_CHAIN = SPAN_COLUMNS.index("ChainHash")
_I_COST = tuple(SPAN_COLUMNS.index(c) for c in db.COST_COLUMNS)
_COST_OF = operator.itemgetter(*_I_COST)  # a row's cost columns, at C speed
COST_TOLERANCE = 1e-9  # USD: a recomputed cost equal to the stored one within float noise


def _norm(value: Any) -> Any:
    if isinstance(value, dict):
        if all(type(k) is str for k in value):  # maps of the schema: sorting the items sorts by key
            return [[k, v if type(v) is str else _norm(v)] for k, v in sorted(value.items())]
        return [[str(k), _norm(v)] for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))]
    if isinstance(value, (list, tuple)):
        return [_norm(v) for v in value]
    if isinstance(value, datetime):
        return to_ns(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bool):
        return int(value)
    return value


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == 0 or value == [] or value == {} or value == ()


def _kept(value: Any) -> bool:
    """``not _empty(value)``, by type first (this runs for every hashed column of every span)."""
    kind = type(value)
    if kind is str:
        return value != ""
    if kind is int or kind is float or kind is bool:
        return value != 0
    if kind is list or kind is tuple or kind is dict:
        return len(value) > 0
    return not _empty(value)


def _plain(value: Any) -> Any:
    """``_norm(value)``, with the common types (text, integers) passed through at once."""
    kind = type(value)
    return value if kind is str or kind is int else _norm(value)


# The hashed columns in key order, with "v" among them: dumping a dict built in this order without
# sort_keys gives the same bytes as sort_keys=True (nested dicts are lists by then), at less cost.
_SORTED = tuple(sorted((*db.HASHED_COLUMNS, "v")))
_SORTED_INDEX = tuple((c, SPAN_COLUMNS.index(c) if c != "v" else -1) for c in _SORTED)
_DUMP = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def canonical(row: dict[str, Any]) -> bytes:
    """The canonical bytes of a span given as {column: value} (extra columns are ignored): the
    JSON, keys sorted, of its non-empty hashed columns and ``"v"`` (the chain version)."""
    body: dict[str, Any] = {}
    for col in _SORTED:
        if col == "v":
            body["v"] = CHAIN_VERSION
        elif col in row and _kept(value := row[col]):
            body[col] = _plain(value)
    return _DUMP(body).encode("utf-8")


def _canonical_values_plain(values: list[Any]) -> bytes:
    """:func:`canonical_values` through the standard JSON encoder: for the values the fast path
    cannot serialise (integers beyond 64 bits, text that is not valid Unicode), so that such a
    row hashes, or fails, exactly as it always did."""
    body: dict[str, Any] = {}
    for col, index in _SORTED_INDEX:
        if index < 0:
            body["v"] = CHAIN_VERSION
            continue
        value = values[index]
        kind = type(value)
        if kind is str or kind is int:  # most columns: no call at all
            if value:
                body[col] = value
        elif _kept(value):
            body[col] = _norm(value)
    return _DUMP(body).encode("utf-8")


# The fast form of the same bytes: the hashed columns picked in key order at C speed, empties
# dropped by truth value (exactly the empties of _kept for the types a row holds; any other
# type is asked _empty), maps as sorted (key, value) tuples (JSON arrays, as the lists of _norm),
# then orjson with sorted keys, whose output equals the standard encoder's compact,
# non-ASCII-preserving JSON (tests/test_chain.py compares both on every character class).
_HASHED_SORTED = tuple(sorted(db.HASHED_COLUMNS))
_PICK = operator.itemgetter(*(SPAN_COLUMNS.index(c) for c in _HASHED_SORTED))
_PASS = frozenset({str, int})
_TRUTH_IS_EMPTY = frozenset({str, int, float, bool, list, tuple, dict})
_TEXT = frozenset({str})


def _fast_map(value: dict[Any, Any]) -> Any:
    if set(map(type, value)) <= _TEXT:  # the schema's maps: text keys, sorted as _norm sorts them
        items = sorted(value.items())
        if set(map(type, value.values())) <= _TEXT:
            return items
        return [(k, v if type(v) is str else _norm(v)) for k, v in items]
    return _norm(value)


def _fast(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return _fast_map(value)
    if kind is list or kind is tuple:
        return [v if type(v) in _PASS else _fast(v) for v in value]
    return _norm(value)


def canonical_values(values: list[Any]) -> bytes:
    """:func:`canonical` of a row given as values in ``SPAN_COLUMNS`` order (the writer's form)."""
    body = {col: value if type(value) in _PASS else _fast(value)
            for col, value in zip(_HASHED_SORTED, _PICK(values), strict=True)
            if value or (type(value) not in _TRUTH_IS_EMPTY and not _empty(value))}
    body["v"] = CHAIN_VERSION
    try:
        return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # orjson.JSONEncodeError: an integer beyond 64 bits, a lone surrogate
        return _canonical_values_plain(values)


def span_hash(row: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(row)).hexdigest()


def batch_id(entries: set[str]) -> str:
    """Id of a batch from its ``TraceId:SpanId:SpanHash`` entries (order-free)."""
    return hashlib.sha256("\n".join(sorted(entries)).encode()).hexdigest()


def link_hash(prev_hash: str, bid: str) -> str:
    return hashlib.sha256((prev_hash + bid).encode()).hexdigest()


def chain_hash_value(seq: int, digest: str, stream: str = "") -> str:
    """What a span row carries in its ChainHash column: ``1:<stream>:<seq>:<span hash>``
    (``1:<seq>:<span hash>`` in the stream ``''`` of the links written before streams)."""
    return f"{CHAIN_VERSION}:{stream}:{seq}:{digest}" if stream else f"{CHAIN_VERSION}:{seq}:{digest}"


def parse_chain_hash(value: str) -> tuple[str, int, str] | None:
    """(stream, seq, span hash) of a ChainHash value, or None when it is not one."""
    parts = (value or "").split(":")
    if len(parts) == 3 and parts[1].isdigit():
        return "", int(parts[1]), parts[2]
    if len(parts) == 4 and parts[1] and parts[2].isdigit():
        return parts[1], int(parts[2]), parts[3]
    return None


def stream_name(instance_id: str) -> str:
    """The chain stream of a collector instance (its id; a ``:`` would not survive ChainHash)."""
    return instance_id.strip().replace(":", "_") or "collector"


class ChainWriter:
    """Chains each batch before it is inserted (the BatchWriter ``prepare`` hook).

    Runs in the writer thread only. Idempotent: a batch prepared again (retry, spool
    replay) is recognised by its content-derived id and keeps its stream and Seq. New batches go
    to ``stream`` only (this collector's instance id): no other collector appends to it.
    """

    def __init__(self, store: Store, stream: str) -> None:
        self._store = store
        self.stream = stream_name(stream)
        # A replayed segment chained before streams existed is found in the stream '' too.
        self._lookup = (self.stream, "")
        self._heads: dict[str, tuple[int, str]] = {}
        # On a server the head is read from the store every time (under the spans lease,
        # docs/decisions/0030): even two collectors wrongly sharing an instance id stay linear.
        self._shared = not store.settings.embedded
        self._lock = threading.Lock()

    def prepare(self, rows: list[list[Any]]) -> list[list[Any]]:
        rows = [pad_span_values(list(r)) for r in rows]
        groups: dict[str, list[tuple[list[Any], str]]] = defaultdict(list)
        for row in rows:
            digest = hashlib.sha256(canonical_values(row)).hexdigest()
            groups[row[_I_PROJECT]].append((row, digest))
        with self._lock:
            for project, members in groups.items():
                stream, seq = self._chain(project, members)
                for row, digest in members:
                    row[_I_CHAIN] = chain_hash_value(seq, digest, stream)
        return rows

    def _chain(self, project: str, members: list[tuple[list[Any], str]]) -> tuple[str, int]:
        entries = {f"{r[_I_TRACE]}:{r[_I_SPAN]}:{d}" for r, d in members}
        bid = batch_id(entries)
        found = db.find_batch(self._store, project, bid, self._lookup)
        if found is not None:
            return found[0], found[1]
        cached = None if self._shared else self._heads.get(project)
        head = cached or db.chain_head(self._store, project, self.stream) or (0, GENESIS)
        seq, new_hash = head[0] + 1, link_hash(head[1], bid)
        times = [int(to_ns(r[_I_TS]) or 0) for r, _ in members]
        span_rows, seen = [], set()
        for (row, digest), ts in zip(members, times, strict=True):
            key = (row[_I_TRACE], row[_I_SPAN], digest)
            if key not in seen:
                seen.add(key)
                span_rows.append([project, seq, ts, row[_I_TRACE], row[_I_SPAN], digest,
                                  db.cost_hash(*_COST_OF(row)), self.stream])
        db.record_batch(self._store, [project, seq, bid, head[1], new_hash, len(entries), min(times), max(times),
                                      CHAIN_VERSION, self.stream], span_rows)
        self._heads[project] = (seq, new_hash)
        return self.stream, seq


# -- verification ------------------------------------------------------------------------
@dataclass
class Finding:
    """Spans of one kind of problem: ids listed up to MAX_LISTED, the count complete."""

    count: int = 0
    spans: list[dict[str, Any]] = field(default_factory=list)

    def add(self, item: dict[str, Any]) -> None:
        self.count += 1
        if len(self.spans) < MAX_LISTED:
            self.spans.append(item)


@dataclass
class VerifyReport:
    """The answer of :func:`verify`; ``ok`` only when every check passed."""

    project: str
    start_ns: int | None = None
    end_ns: int | None = None
    batches: int = 0
    spans_checked: int = 0
    spans_ok: int = 0
    deleted_by_retention: int = 0
    altered: Finding = field(default_factory=Finding)
    deleted: Finding = field(default_factory=Finding)
    inserted: Finding = field(default_factory=Finding)
    cost_altered: Finding = field(default_factory=Finding)
    rollups_altered: Finding = field(default_factory=Finding)
    chained_twice: Finding = field(default_factory=Finding)
    costs_checked: int = 0
    chain_errors: list[str] = field(default_factory=list)
    # hour (unix s) → [cost, input tokens, output tokens, spans] of the chained spans, with each
    # cost as re-derived: what the hourly rollup must hold
    hours: dict[int, list[Any]] = field(default_factory=dict, repr=False)
    head_seq: int = 0
    head_hash: str = GENESIS
    head_stream: str = ""
    # one entry per stream: {"stream", "batches", "head": {"seq", "hash"}}
    streams: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.altered.count or self.deleted.count or self.inserted.count or self.cost_altered.count
                    or self.rollups_altered.count or self.chain_errors)

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project, "ok": self.ok, "start_ns": self.start_ns, "end_ns": self.end_ns,
            "batches": self.batches, "spans_checked": self.spans_checked, "spans_ok": self.spans_ok,
            "deleted_by_retention": self.deleted_by_retention,
            "altered": {"count": self.altered.count, "spans": self.altered.spans},
            "deleted": {"count": self.deleted.count, "spans": self.deleted.spans},
            "inserted_out_of_band": {"count": self.inserted.count, "spans": self.inserted.spans},
            "costs_checked": self.costs_checked,
            "cost_altered": {"count": self.cost_altered.count, "spans": self.cost_altered.spans},
            "rollups_altered": {"count": self.rollups_altered.count, "hours": self.rollups_altered.spans},
            "chained_twice": {"count": self.chained_twice.count, "spans": self.chained_twice.spans},
            "chain_errors": self.chain_errors,
            "head": {"seq": self.head_seq, "hash": self.head_hash, "stream": self.head_stream},
            "streams": self.streams,
        }

    def summary(self) -> str:
        if self.ok:
            streams = f" in {len(self.streams)} streams" if len(self.streams) > 1 else ""
            twice = (f", {self.chained_twice.count} also chained by another collector that did not store them"
                     if self.chained_twice.count else "")
            return (f"OK: project {self.project!r}: {self.batches} batches{streams}, {self.spans_ok} spans verified"
                    f" ({self.deleted_by_retention} removed by retention{twice}); head #{self.head_seq} {self.head_hash}")
        parts = [f"{self.altered.count} altered", f"{self.deleted.count} deleted",
                 f"{self.inserted.count} inserted out of band", f"{self.cost_altered.count} costs altered",
                 f"{self.rollups_altered.count} rollup hours altered",
                 f"{len(self.chain_errors)} chain errors"]
        return f"FAILED: project {self.project!r}: " + ", ".join(parts)


def _where(stream: str) -> str:
    """How a chain error names its stream (nothing for the stream '' of one-stream stores)."""
    return f"stream {stream}: " if stream else ""


def _check_links(report: VerifyReport, stream: str, links: list[dict[str, Any]]) -> None:
    """One stream's links: each follows the one before, from the genesis hash."""
    prev_seq, prev_hash, at = 0, GENESIS, _where(stream)
    for link in links:
        seq = int(link["Seq"])
        if int(link["Variants"]) > 1:
            report.chain_errors.append(f"{at}batch #{seq}: several different links recorded")
        if seq != prev_seq + 1:
            report.chain_errors.append(f"{at}batches #{prev_seq + 1}…#{seq - 1} are missing from the chain")
        if link["Prev"] != prev_hash:
            report.chain_errors.append(f"{at}batch #{seq}: previous hash does not match batch #{prev_seq}")
        if link_hash(link["Prev"], link["Bid"]) != link["LinkHash"]:
            report.chain_errors.append(f"{at}batch #{seq}: link hash does not match its content")
        prev_seq, prev_hash = seq, link["LinkHash"]
    report.streams.append({"stream": stream, "batches": len(links),
                           "head": {"seq": prev_seq, "hash": prev_hash, "stream": stream}})


def verify(store: Store, project: str, *, start: datetime | int | None = None, end: datetime | int | None = None,
           progress: Callable[[int], None] | None = None) -> VerifyReport:
    """Recompute every stream of the project's chain and compare every span in [start, end) with
    them: each stored span must be in exactly one stream."""
    lo, hi = to_ns(start), to_ns(end)
    report = VerifyReport(project=project, start_ns=lo, end_ns=hi)
    links = db.chain_batches(store, project)
    by_stream: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for link in links:
        by_stream[str(link["Stream"])].append(link)
    for stream in sorted(by_stream):
        _check_links(report, stream, by_stream[stream])
    heads = db.chain_heads(store, project)
    if heads:  # the most recently extended stream's head (the one a single-stream client knows)
        report.head_stream, report.head_seq, report.head_hash = heads[0]
    bounds = db.span_time_bounds(store, project)
    if bounds is None:
        report.batches = len(links)
        return report
    lo = bounds[0] if lo is None else max(lo, bounds[0])
    hi = bounds[1] + 1 if hi is None else min(hi, bounds[1] + 1)
    # Batch ids are recomputed from chain_spans for every batch whose spans touch the range.
    by_seq = {(str(link["Stream"]), int(link["Seq"])): link for link in links}
    touched = [link for link in links if link["LastNs"] >= lo and link["FirstNs"] < hi]
    report.batches = len(touched) if (start is not None or end is not None) else len(links)
    if touched:
        recomputed = db.batch_ids_from_spans(store, project, min(int(t["FirstNs"]) for t in touched),
                                             max(int(t["LastNs"]) for t in touched))
        for link in touched:
            stream, seq = str(link["Stream"]), int(link["Seq"])
            got = recomputed.get((stream, seq))
            if got is None:
                report.chain_errors.append(f"{_where(stream)}batch #{seq}: its span list is missing")
            elif got[0] != link["Bid"]:
                report.chain_errors.append(f"{_where(stream)}batch #{seq}: span list does not match the batch id")
    deletions = db.deletions(store, project)
    tables = _price_tables(store)
    for window_lo, window_hi in windows(db.hourly_counts(store, project, lo, hi), lo, hi):
        _compare_window(store, project, window_lo, window_hi, deletions, by_seq, report, tables)
        if progress:
            progress(window_hi - window_lo)
    # Without a bound the range covers every span: its edge hours are whole too.
    _compare_rollups(store, project, lo if start is not None else lo // HOUR_NS * HOUR_NS,
                     hi if end is not None else -(-hi // HOUR_NS) * HOUR_NS, deletions, report)
    return report


def _price_tables(store: Store) -> dict[str, list[PriceTable]]:
    """Every recorded price table by version (a version may have been recorded with other content)."""
    out: dict[str, list[PriceTable]] = defaultdict(list)
    for version, _, body in db.price_tables(store):
        try:
            out[version].append(parse_prices(json.loads(body)))
        except ValueError:
            log.error("recorded price table %s cannot be read; its spans' costs are checked by hash only", version)
    return out


def expected_cost(row: dict[str, Any], cost: dict[str, Any], tables: dict[str, list[PriceTable]]) -> float | None:
    """The cost a span must carry, re-derived from what its hash covers (tokens, model, day, the
    client's own cost attribute) and the recorded price table of its PriceVersion; None when no
    recorded table can say (the cost hash still covers it)."""
    attrs = row.get("SpanAttributes") or {}
    if sc.USAGE_AGGREGATE in attrs:
        return 0.0  # an aggregate set aside at ingest (usage counted once, on the calls)
    client = client_cost(attrs)
    if client is not None:
        return client
    if cost["CostSource"] == "none":
        return 0.0
    candidates = tables.get(cost["PriceVersion"] or "", [])
    if not candidates:
        return None
    costs = []
    for table in candidates:
        priced = {**row, "CostSource": "", "CostUsd": 0.0}
        table.price(priced)
        costs.append(float(priced["CostUsd"]))
    stored = float(cost["CostUsd"] or 0.0)
    return min(costs, key=lambda c: abs(c - stored))


def _compare_rollups(store: Store, project: str, lo: int, hi: int, deletions: list[db.Deletion],
                     report: VerifyReport) -> None:
    """Each whole hour of the range: the hourly rollup against what its chained spans give, each
    cost as re-derived (so a cost edited in both the span and the rollup is still caught)."""
    first, last = -(-lo // HOUR_NS) * HOUR_NS, hi // HOUR_NS * HOUR_NS
    if first >= last:
        return
    rollup = db.rollup_hours(store, project, first, last)
    spans = {h: tuple(v) for h, v in report.hours.items() if first // db.NS <= h < last // db.NS}
    for hour in sorted(rollup.keys() | spans.keys()):
        if any(d.from_ns < (hour + 3600) * db.NS and d.to_ns > hour * db.NS for d in deletions):
            continue  # spans removed on purpose (retention) leave their usage in the rollups
        got, want = rollup.get(hour, (0.0, 0, 0, 0)), spans.get(hour, (0.0, 0, 0, 0))
        if abs(got[0] - want[0]) > COST_TOLERANCE * max(1.0, abs(want[0])) or got[1:] != want[1:]:
            report.rollups_altered.add({"hour": datetime.fromtimestamp(hour, tz=timezone.utc).isoformat(),
                                        "rollup": {"cost_usd": got[0], "input_tokens": got[1],
                                                   "output_tokens": got[2], "spans": got[3]},
                                        "spans": {"cost_usd": want[0], "input_tokens": want[1],
                                                  "output_tokens": want[2], "spans": want[3]}})


def windows(hours: list[tuple[int, int]], lo: int, hi: int, *,
            max_rows: int = VERIFY_WINDOW_ROWS) -> list[tuple[int, int]]:
    """Time windows covering [lo, hi) that each hold about ``max_rows`` rows at most (one hour
    at least), skipping empty hours: verification memory stays bounded."""
    out: list[tuple[int, int]] = []
    start, rows, out_end = None, 0, lo
    for hour, n in hours:
        begin, end = max(lo, hour), min(hi, hour + HOUR_NS)
        if start is not None and (rows + n > max_rows or begin != out_end):
            out.append((start, out_end))
            start = None
        if start is None:
            start, rows = begin, 0
        rows += n
        out_end = end
    if start is not None:
        out.append((start, out_end))
    return out


def _compare_window(store: Store, project: str, lo: int, hi: int, deletions: list[db.Deletion],
                    by_seq: dict[tuple[str, int], Any], report: VerifyReport,
                    tables: dict[str, list[PriceTable]]) -> None:
    expected: dict[tuple[str, str], set[str]] = defaultdict(set)
    costs: dict[tuple[str, str], set[str]] = defaultdict(set)
    times: dict[tuple[str, str], tuple[int, int, str]] = {}
    streams: dict[tuple[str, str], set[str]] = defaultdict(set)
    for trace_id, span_id, digest, seq, ts, chained_cost, stream in db.chain_entries(store, project, lo, hi):
        key = (trace_id, span_id)
        if (stream, int(seq)) in by_seq:  # entries of a batch that was never linked do not count as chained
            expected[key].add(digest)
            streams[key].add(stream)
            if chained_cost:
                costs[key].add(chained_cost)
            times[key] = (int(ts), int(seq), stream)
    revised = db.cost_revisions(store, project, lo, hi)
    present: set[tuple[str, str]] = set()
    for row, stored_chain, cost in db.stored_span_rows(store, project, lo, hi):
        key = (row["TraceId"], row["SpanId"])
        cost_usd = _check_cost(row, cost, revised.get(key), costs.get(key, set()), tables, report)
        if key in expected and key not in present:
            tally = report.hours.setdefault(int(row["Timestamp"]) // HOUR_NS * 3600, [0.0, 0, 0, 0])
            tally[0] += cost_usd
            tally[1] += int(row.get("InputTokens") or 0)
            tally[2] += int(row.get("OutputTokens") or 0)
            tally[3] += 1
        report.spans_checked += 1
        digest = span_hash(row)
        item = {"trace_id": key[0], "span_id": key[1], "timestamp_ns": int(row["Timestamp"]),
                "span_name": row.get("SpanName", "")}
        if key not in expected:
            report.inserted.add(item)
        elif digest not in expected[key]:
            report.altered.add({**item, "expected": sorted(expected[key]), "found": digest,
                                "chain_hash": stored_chain})
        elif stored_chain and stored_chain.rsplit(":", 1)[-1] != digest:
            # The chain's entry matches the row, but the hash the row was stored with does not:
            # the row and its chain entry were both rewritten.
            report.altered.add({**item, "expected": [stored_chain.rsplit(":", 1)[-1]], "found": digest,
                                "chain_hash": stored_chain, "reason": "its chain entry was rewritten to match"})
        else:
            report.spans_ok += 1
        if key not in present and len(streams.get(key, ())) > 1:
            # Two collectors chained it: one stored it, the other's insert did not complete (a
            # crash or refused insert, then the span reached the other one). Reported, not a
            # failure: the row matches a chained entry, and a chain rewrite is the anchors' to find.
            report.chained_twice.add({**item, "streams": sorted(streams[key])})
        present.add(key)
    for key in expected.keys() - present:
        ts, seq, stream = times[key]
        if any(d.covers(key[0], ts) for d in deletions):
            report.deleted_by_retention += 1
        else:
            report.deleted.add({"trace_id": key[0], "span_id": key[1], "timestamp_ns": ts, "batch": seq,
                                "stream": stream})


def _check_cost(row: dict[str, Any], cost: dict[str, Any], revision: str | None, chained: set[str],
                tables: dict[str, list[PriceTable]], report: VerifyReport) -> float:
    """A span's cost columns against the chain (its ingest-time cost hash, or the latest
    recompute's) and against the cost re-derived from its recorded price table. Returns the cost
    the span should carry (re-derived where a table can say, else the stored one)."""
    stored = float(cost["CostUsd"] or 0.0)
    if not chained and revision is None:
        return stored  # chained before cost was (spans of older versions): the span hash still holds
    report.costs_checked += 1
    found = db.cost_hash(cost["CostSource"], cost["PriceVersion"], cost["CostUsd"])
    allowed = {revision} if revision is not None else chained
    item = {"trace_id": row["TraceId"], "span_id": row["SpanId"], "timestamp_ns": int(row["Timestamp"]),
            "span_name": row.get("SpanName", ""), "cost_usd": float(cost["CostUsd"] or 0.0),
            "cost_source": cost["CostSource"], "price_version": cost["PriceVersion"]}
    want = expected_cost(row, cost, tables)
    if found not in allowed:
        report.cost_altered.add({**item, "expected_cost_usd": want,
                                 "reason": "cost columns differ from what the chain recorded"})
    elif want is not None and abs(want - stored) > COST_TOLERANCE * max(1.0, abs(want)):
        report.cost_altered.add({**item, "expected_cost_usd": want,
                                 "reason": f"not the cost its tokens give at price table {cost['PriceVersion']!r}"})
    return stored if want is None else want


# -- retention ---------------------------------------------------------------------------------
DAY_NS = 86_400 * db.NS


@dataclass
class RetentionRun:
    """What one retention pass did for a project."""

    project: str
    days: int
    cutoff_ns: int | None = None
    deleted_spans: int = 0
    kept_on_hold: list[str] = field(default_factory=list)
    suspended: bool = False
    deletion_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"project": self.project, "days": self.days, "cutoff_ns": self.cutoff_ns,
                "deleted_spans": self.deleted_spans, "held_traces": self.kept_on_hold,
                "suspended_by_legal_hold": self.suspended, "deletion_id": self.deletion_id}


def apply_retention(store: Store, project: str, *, now_ns: int, actor: str = "retention") -> RetentionRun:
    """Delete the project's spans older than its retention, unless a legal hold covers them.

    A project-wide hold suspends the pass; trace holds keep those traces. The deletion is
    recorded in ``chain_deletions`` *before* the delete, so verification stays green even if
    the process dies half way, and the pass is written to the governance log.
    """
    days = gov.retention_policies(store, project).get(project, 0)
    run = RetentionRun(project=project, days=days)
    if days <= 0:
        return run
    run.cutoff_ns = now_ns - days * DAY_NS
    holds = gov.legal_holds(store, project)
    if any(not h["trace_ids"] for h in holds):
        run.suspended = True
        return run
    held = sorted({t for h in holds for t in h["trace_ids"]})
    deletion = db.Deletion(from_ns=0, to_ns=run.cutoff_ns, except_trace_ids=frozenset(held),
                           reason=f"retention {days} days")
    before = db.count_spans(store, project, None, run.cutoff_ns)
    if before == 0:
        return run
    run.deletion_id = db.record_deletion(store, project, deletion, actor)
    db.delete_spans(store, project, deletion)
    run.deleted_spans = before - db.count_spans(store, project, None, run.cutoff_ns)
    run.kept_on_hold = held
    gov.log_change(store, project, actor, "retention.delete", run.to_dict())
    return run
