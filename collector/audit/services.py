"""The audit background services: the chain writer (BatchWriter hook), the access-log buffer
and the periodic jobs (budget checks, retention, review sampling) on one daemon thread.

Built in ``Collector.__init__`` (:mod:`flightlog.collector.app`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from flightlog.storage import StorageError, Store
from flightlog.storage import audit as db
from flightlog.storage import governance as gov

from flightlog.collector.audit import budgets
from flightlog.collector.audit import reviews
from flightlog.collector.audit.anchors import Anchorer
from flightlog.collector.audit.chain import ChainWriter, apply_retention

log = logging.getLogger(__name__)

ACCESS_FLUSH_S = 1.0
BUDGET_CHECK_S = 5.0
RETENTION_EVERY_S = 3600.0
REVIEW_SAMPLE_EVERY_S = 600.0
MAX_ACCESS_BUFFER = 10_000


class AuditServices:
    """Chain writer, access-log buffer and the periodic jobs (retention, budgets, sampling).

    One daemon thread runs the jobs; ``close()`` stops it and flushes the access log.
    """

    def __init__(self, store: Store, settings: Any = None, *, anchorer: Anchorer | None = None,
                 stream: str = "collector") -> None:
        self.store = store
        self.settings = settings
        # this collector's own stream of each project's chain (its instance id, docs/decisions/0040)
        self.chain = ChainWriter(store, stream)
        self.budgets = budgets.BudgetMonitor(store)
        self.anchorer = anchorer
        self._access: deque[list[Any]] = deque()
        self._access_lock = threading.Lock()
        # held across take-and-insert, so a reader's flush waits for one in flight
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="flightlog-audit", daemon=True)

    def start(self) -> None:
        """Start the periodic jobs' thread."""
        self._thread.start()

    def prepare(self, rows: list[list[Any]]) -> list[list[Any]]:
        """The BatchWriter hook: chain the batch (deterministic, so retries are safe)."""
        return self.chain.prepare(rows)

    # access log
    def record_access(self, entry: list[Any]) -> None:
        with self._access_lock:
            self._access.append(entry)
            full = len(self._access) >= MAX_ACCESS_BUFFER
        if full:
            self.flush_access()

    def flush_access(self) -> None:
        """Write the buffered entries; returns once every entry recorded before the call is stored.

        A flush already in flight (the periodic job's) is waited for, so a read of the log right
        after its requests sees them all.
        """
        with self._flush_lock:
            with self._access_lock:
                rows = list(self._access)
                self._access.clear()
            if not rows:
                return
            try:
                db.insert_access(self.store, rows)
            except StorageError:
                log.exception("access log insert failed; %d entries kept for the next flush", len(rows))
                with self._access_lock:
                    self._access.extendleft(reversed(rows))

    # periodic jobs
    def run_retention(self, actor: str = "retention") -> list[dict[str, Any]]:
        now = time.time_ns()
        return [apply_retention(self.store, p, now_ns=now, actor=actor).to_dict()
                for p, days in gov.retention_policies(self.store).items() if days > 0]

    def _run(self) -> None:
        last = {"budget": 0.0, "retention": time.monotonic(), "reviews": 0.0}
        jobs: list[tuple[str, float, Callable[[], object]]] = [
                ("budget", BUDGET_CHECK_S, self.budgets.check),
                ("retention", RETENTION_EVERY_S, self.run_retention),
                ("reviews", REVIEW_SAMPLE_EVERY_S, lambda: reviews.sample_all(self.store))]
        if self.anchorer is not None and getattr(self.settings, "anchor_interval_s", 0) > 0:
            jobs.append(("anchors", float(self.settings.anchor_interval_s), self.anchorer.anchor))
        while not self._stop.wait(ACCESS_FLUSH_S):
            self.flush_access()
            for name, every, job in jobs:
                if time.monotonic() - last.setdefault(name, 0.0) < every:
                    continue
                last[name] = time.monotonic()
                try:
                    job()
                except Exception:  # a failing job must not stop the others; logged with its traceback
                    log.exception("audit job %s failed", name)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self.flush_access()
        if self.anchorer is not None:
            try:
                self.anchorer.anchor()  # the final head, so a clean shutdown leaves nothing unanchored
            except Exception:  # shutdown must finish; the next start anchors the head
                log.exception("could not anchor the chain heads at shutdown")
        self.budgets.close()
