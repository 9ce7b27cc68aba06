"""The batch writer: many requests' spans become one insert (DESIGN §7: every insert is a part).

Request handlers :meth:`submit` their rows and wait on the returned future; the single
writer thread flushes when ``batch_rows`` rows are waiting or ``flush_interval`` has passed,
then resolves every future of that batch. A request is therefore acknowledged only after its
rows are committed to the store. The queue is bounded: past ``max_pending_rows`` a submit
fails at once with :class:`Unavailable` (503 + Retry-After) instead of growing memory.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from flightlog.storage import Store, StorageError
from flightlog.storage.schema import SPAN_COLUMNS, span_row_values

from .errors import Unavailable

log = logging.getLogger(__name__)

InsertFn = Callable[[list[list[Any]]], None]


class BatchWriter:
    """Owns the writer thread. ``close()`` flushes what is waiting, then stops."""

    def __init__(
        self,
        store: Store,
        *,
        batch_rows: int = 5000,
        flush_interval: float = 0.2,
        max_pending_rows: int = 200_000,
        insert: InsertFn | None = None,
    ) -> None:
        self._insert = insert or (lambda rows: store.insert("spans", rows, SPAN_COLUMNS))
        self._batch_rows = batch_rows
        self._interval = flush_interval
        self._max_pending = max_pending_rows
        self._queue: deque[tuple[list[list[Any]], Future[int]]] = deque()
        self._pending = 0
        self._cond = threading.Condition()
        self._stopping = False
        self.stats = {"batches": 0, "rows_written": 0, "write_errors": 0}
        self._thread = threading.Thread(target=self._run, name="flightlog-writer", daemon=True)
        self._thread.start()

    @property
    def pending_rows(self) -> int:
        return self._pending

    def submit(self, rows: list[dict[str, Any]]) -> Future[int]:
        """Queue span rows; the future resolves to the row count once they are stored."""
        fut: Future[int] = Future()
        if not rows:
            fut.set_result(0)
            return fut
        values = [span_row_values(r) for r in rows]
        with self._cond:
            if self._stopping:
                raise Unavailable("collector is shutting down; retry against another instance")
            if self._pending + len(values) > self._max_pending:
                raise Unavailable(
                    f"writer is behind ({self._pending} rows waiting, limit {self._max_pending}); retry later"
                )
            self._queue.append((values, fut))
            self._pending += len(values)
            if self._pending >= self._batch_rows:
                self._cond.notify()
        return fut

    def _take_batch(self) -> list[tuple[list[list[Any]], Future[int]]]:
        with self._cond:
            deadline = time.monotonic() + self._interval
            while not self._stopping:
                if self._pending >= self._batch_rows:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    if self._queue:
                        break
                    deadline = time.monotonic() + self._interval
                    remaining = self._interval
                self._cond.wait(remaining)
            batch, count = [], 0
            while self._queue and (count < self._batch_rows or not batch):
                item = self._queue.popleft()
                batch.append(item)
                count += len(item[0])
            self._pending -= count
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            if batch:
                self._write(batch)
            with self._cond:
                if self._stopping and not self._queue:
                    return

    def _write(self, batch: list[tuple[list[list[Any]], Future[int]]]) -> None:
        rows = [row for values, _ in batch for row in values]
        try:
            self._insert(rows)
        except StorageError as exc:
            self.stats["write_errors"] += 1
            log.error("writing %d spans failed: %s", len(rows), exc)
            err = Unavailable(f"store write failed, retry later: {exc}")
            for _, fut in batch:
                fut.set_exception(err)
            return
        except Exception as exc:  # the writer thread must survive anything; each waiter hears of it
            self.stats["write_errors"] += 1
            log.exception("unexpected error writing %d spans", len(rows))
            for _, fut in batch:
                fut.set_exception(Unavailable(f"store write failed, retry later: {exc}"))
            return
        self.stats["batches"] += 1
        self.stats["rows_written"] += len(rows)
        for values, fut in batch:
            fut.set_result(len(values))

    def close(self, timeout: float = 30.0) -> None:
        """Flush everything queued, then stop the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout)
