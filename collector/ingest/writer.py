"""The spool-backed batch writer (docs/decisions/0002-acknowledge-after-the-spool.md).

:meth:`BatchWriter.submit` (spans) and :meth:`BatchWriter.submit_logs` (log records) put a
request's rows in the on-disk :class:`~.spool.Spool` and return once they are durable; that is
when the request is acknowledged. One writer thread stores sealed spool segments (one insert
per table per segment, so many requests make one part, docs/decisions/0003-batch-every-insert.md)
and deletes a segment only after its inserts succeeded:

1. the segment's spans that are not stored yet (:meth:`Store.unseen_spans`, whatever their
   timestamp), so a re-send is neither stored nor chained twice;
2. chained by the ``prepare`` hook (the audit chain records exactly what is inserted);
3. recorded beside the segment (:meth:`Spool.record_attempt`: each span's key and chain hash)
   and inserted with a deduplication token named after the segment and the block. An insert
   is not atomic across ``spans`` and its rollup views: one that failed half way (a full
   disk, a crash) may have stored the spans but not their rollups, so a retry does not look
   the spans up anew: when the earlier block landed it is sent again unchanged, and each view
   stores only what it missed (:meth:`_fresh_spans`).

Log records, metric points and trace facts go the same way (steps 1 and 3, with
:func:`~flightlog.storage.logs.unseen_logs` and its kin: docs/decisions/0041). Every step runs
under the store's ``spans`` lease when collectors share a server (``lease``): one collector at a
time, so a row sent to two of them is stored by one
(docs/decisions/0030-one-writer-at-a-time-through-a-store-lease.md).

Store errors are retried with capped exponential backoff and jitter while the spool keeps
accepting; when the spool reaches its byte limit, submits fail with :class:`TooManyRequests`
(429 + Retry-After), and when its disk cannot take writes with :class:`Unavailable` (503).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from flightlog.storage import StorageError, Store
from flightlog.storage.facts import FACT_COLUMNS, unseen_facts
from flightlog.storage.leases import Lease
from flightlog.storage.logs import LOG_COLUMNS, unseen_logs
from flightlog.storage.metrics import METRIC_COLUMNS, unseen_points
from flightlog.storage.schema import SPAN_COLUMNS, SpanRow, pad_span_values, span_row_values

from flightlog.collector.errors import TooManyRequests, Unavailable
from flightlog.collector.ingest import stages
from flightlog.collector.ingest.spool import Segment, Spool, SpoolFull, SpoolUnavailable

log = logging.getLogger(__name__)

Rows = list[list[Any]]
_I_PROJECT, _I_TRACE, _I_SPAN, _I_CHAIN = (SPAN_COLUMNS.index(c) for c in ("Project", "TraceId", "SpanId",
                                                                                "ChainHash"))
INITIAL_BACKOFF_S = 0.25
MAX_BACKOFF_S = 15.0


class BatchWriter:
    """Owns the writer thread. ``close()`` drains what it can, the rest stays spooled."""

    def __init__(self, store: Store, spool: Spool, *,
                 on_stored: Callable[[int], None] | None = None,
                 on_retry: Callable[[], None] | None = None,
                 prepare: Callable[[Rows], Rows] | None = None, lease: Lease | None = None) -> None:
        self.store = store
        # Collectors sharing a server take turns for dedupe + chain + insert (docs/decisions/0030).
        self._lease = lease
        # Called on each batch's new spans (rows in SPAN_COLUMNS order) right before their
        # insert, in the writer thread; a retried batch is prepared again, so it must be
        # deterministic.
        self._prepare = prepare or (lambda rows: rows)
        self.spool = spool
        self._on_stored = on_stored or (lambda n: None)
        self._on_retry = on_retry or (lambda: None)
        self._stop = threading.Event()
        self._draining = False
        self.healthy = True  # False while the store refuses writes
        self.last_error = ""
        self.stats = {"batches": 0, "rows_written": 0, "duplicates_skipped": 0, "write_errors": 0,
                      "other_duplicates_skipped": 0}
        self._thread = threading.Thread(target=self._run, name="flightlog-writer", daemon=True)

    def start(self) -> None:
        """Start the writer thread (the owner calls this once everything is wired)."""
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def submit(self, rows: list[SpanRow], facts: Rows | None = None) -> int:
        """Spool span rows (and the ``trace_facts`` rows their request taught, in FACT_COLUMNS
        order) durably (blocking; call from a worker thread). Returns the span row count."""
        with stages.timed("spool", len(rows)):
            if facts:
                self._spool(facts, "facts", sync=False)  # the spans' fsync below covers this frame
            return self._spool([span_row_values(r) for r in rows], "spans")

    def submit_metrics(self, rows: Rows) -> int:
        """Spool ``metrics`` rows (in METRIC_COLUMNS order) durably. Returns the row count."""
        return self._spool(rows, "metrics")

    def submit_logs(self, rows: Rows) -> int:
        """Spool ``log_records`` rows (in LOG_COLUMNS order) durably. Returns the row count."""
        return self._spool(rows, "logs")

    def _spool(self, values: Rows, kind: str, *, sync: bool = True) -> int:
        if not values:
            return 0
        if self._draining:
            raise Unavailable("collector is shutting down; retry against another instance")
        try:
            frame = self.spool.append(values, kind)
            if sync:
                self.spool.sync(frame)
        except SpoolFull as exc:
            raise TooManyRequests(f"collector is behind ({exc}); retry later") from exc
        except SpoolUnavailable as exc:
            raise Unavailable(f"collector cannot store data right now ({exc}); retry later") from exc
        return len(values)

    def store_segment(self, seg: Segment) -> int:
        """Store one sealed segment (every kind); returns the span rows inserted."""
        parts = seg.load_all()
        if not any(parts.get(kind) for kind in ("spans", "logs", "facts", "metrics")):
            return 0
        with self._lease.hold() if self._lease else contextlib.nullcontext():
            inserted = self._store_spans(seg, parts.get("spans") or [])
            # Each kind: what is not stored yet (whichever collector stored it), inserted at once.
            for kind, table, columns, fresh_of in (("logs", "log_records", LOG_COLUMNS, unseen_logs),
                                                   ("facts", "trace_facts", FACT_COLUMNS, unseen_facts),
                                                   ("metrics", "metrics", METRIC_COLUMNS, unseen_points)):
                rows = parts.get(kind) or []
                if not rows:
                    continue
                fresh = fresh_of(self.store, rows)
                self.stats["other_duplicates_skipped"] += len(rows) - len(fresh)
                if fresh:
                    self._check_lease()
                    self.store.insert(table, fresh, columns, dedup_token=f"{seg.path.stem}:{kind}")
        return inserted

    def _check_lease(self) -> None:
        if self._lease:
            self._lease.check()  # the lease must still be ours when the rows land

    def _store_spans(self, seg: Segment, spans: Rows) -> int:
        if not spans:
            return 0
        with stages.timed("dedupe", len(spans)):
            attempted = self.spool.attempted(seg)
            fresh = self._fresh_spans(spans, attempted)
        if fresh:
            with stages.timed("chain", len(fresh)):
                prepared = self._prepare(fresh)
            token = self._record_attempt(seg, prepared, attempted)
            self._check_lease()
            with stages.timed("insert", len(fresh)):
                self.store.insert("spans", prepared, SPAN_COLUMNS, dedup_token=token)
        self.stats["duplicates_skipped"] += len(spans) - len(fresh)
        return len(fresh)

    def _fresh_spans(self, spans: Rows, attempted: dict[tuple[str, str, str], str] | None) -> Rows:
        """The spans of a segment to insert.

        First attempt: those not stored yet. A retry (``attempted``: the segment's attempt
        record): if the earlier insert landed in ``spans`` (a row carries the chain hash it was
        sent with), the very same block again, so the views it missed are completed under the
        same token; otherwise the attempted spans that nobody (another collector) has stored since.
        """
        if attempted is None:
            return self.store.unseen_spans(spans)
        block, seen = [], set()
        for row in spans:
            key = (row[_I_PROJECT], row[_I_TRACE], row[_I_SPAN])
            if key in attempted and key not in seen:
                seen.add(key)
                block.append(pad_span_values(list(row)))
        stored = self.store.stored_chain_hashes(block)
        if not stored:
            return block
        if any(attempted.values()):  # the block landed: a row carries the hash it was sent with
            landed = any(h and stored.get(k) == h for k, h in attempted.items())
        else:  # sent without chain hashes: landed when all of it is stored
            landed = len(stored) == len(block)
        if landed:
            return block
        return [r for r in block if (r[_I_PROJECT], r[_I_TRACE], r[_I_SPAN]) not in stored]

    def _record_attempt(self, seg: Segment, prepared: Rows,
                        attempted: dict[tuple[str, str, str], str] | None) -> str:
        """Record what is about to be inserted from ``seg``; returns the insert's token, named
        after the segment and the block, so a retry of the same block shares it."""
        keys = [(r[_I_PROJECT], r[_I_TRACE], r[_I_SPAN]) for r in prepared]
        digest = hashlib.sha256("\n".join(f"{p}\t{t}\t{s}" for p, t, s in keys).encode()).hexdigest()[:16]
        attempt = {k: str(r[_I_CHAIN] or "") for k, r in zip(keys, prepared, strict=True)}
        if attempted != attempt:
            try:
                self.spool.record_attempt(seg, attempt)
            except OSError as exc:
                raise StorageError(f"cannot record the insert of {seg.path.name}: {exc}") from exc
        return f"{seg.path.stem}:spans:{digest}"

    def _run(self) -> None:
        backoff = INITIAL_BACKOFF_S
        while not self._stop.is_set():
            seg = self.spool.take(timeout=0.5)
            if seg is None:
                continue
            try:
                inserted = self.store_segment(seg)
            except StorageError as exc:
                self._failed(exc)
                self._stop.wait(backoff * random.uniform(0.8, 1.2))  # interruptible backoff
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            except Exception as exc:  # the writer thread must survive anything; the segment stays spooled
                log.exception("unexpected error storing spool segment %s", seg.path.name)
                self._failed(exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            backoff = INITIAL_BACKOFF_S
            if not self.healthy:
                log.warning("store accepts writes again")
            self.healthy, self.last_error = True, ""
            self.spool.done(seg)
            self.stats["batches"] += 1
            self.stats["rows_written"] += inserted
            self._on_stored(inserted)

    def _failed(self, exc: Exception) -> None:
        self.stats["write_errors"] += 1
        self._on_retry()
        if self.healthy:
            log.error("store write failed, will retry with backoff (data stays spooled): %s", exc)
        self.healthy, self.last_error = False, str(exc)

    def drain(self, timeout: float) -> bool:
        """Seal the open segment and wait until the spool is empty; True if it emptied."""
        self.spool.seal()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.spool.stats()["segments"] == 0:
                return True
            if not self._thread.is_alive():
                return False
            self._stop.wait(0.05)  # shutdown path: poll the spool with a deadline
        return False

    def close(self, timeout: float = 30.0) -> None:
        """Refuse new rows, drain for up to ``timeout`` seconds, then stop the thread."""
        self._draining = True
        if self._thread.ident is not None and not self.drain(timeout):
            log.warning("shutdown with %d spool segments left; they are replayed on next start",
                        self.spool.stats()["segments"])
        self._stop.set()
        self.spool.release_consumer()  # the thread may be waiting in take(): let it see the stop now
        if self._thread.ident is not None:
            self._thread.join(10)
        self.spool.close()
