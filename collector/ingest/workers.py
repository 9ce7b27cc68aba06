"""Ingest workers: decode and per-span work of OTLP/HTTP trace requests in other processes.

One collector process owns the store (the embedded engine allows one process per data
directory) and everything that is shared state: keys, trace facts, prices, the spool, the
chain. The per-span work before that — decode, ids and limits, normalise, redact
(:func:`.pipeline.prepare_rows`) — needs only the request and the settings, and it is most of a
span's Python CPU. With ``--ingest-workers N`` (N > 0) it runs in N worker processes, so a
collector uses more than one core for Python; the answer still waits until the rows are in the
spool, so nothing changes for durability (docs/performance.md).

Workers are started with ``spawn`` (never ``fork``: the parent runs engine threads), each
imports only the ingest modules, and a worker that dies is replaced by the pool; its request
fails with a 503 that the exporter retries. A worker ends by itself when its collector is gone,
however the collector ended.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import threading
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, ProcessPoolExecutor
from typing import Any

import logging

from flightlog.collector import runtime
from flightlog.collector.errors import BadRequest, Unavailable
from flightlog.collector.ingest import stages
from flightlog.collector.ingest.decode import decode_traces
from flightlog.collector.ingest.pipeline import prepare_rows

log = logging.getLogger(__name__)
_settings: Any = None


def _init(settings: Any) -> None:
    global _settings
    _settings = settings
    runtime.tune_gc()  # the collector's own thresholds (docs/decisions/0045)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_end_with, args=(parent.sentinel,), name="flightlog-collector-watch",
                         daemon=True).start()


def _end_with(collector_sentinel: int) -> None:
    """In a worker: end when the collector that started it is gone (killed, crashed, out of
    memory), so a worker never outlives its collector and holds no memory after it."""
    multiprocessing.connection.wait([collector_sentinel])
    os._exit(0)


def _prepare(body: bytes, kind: str, encoding: str | None, project: str) -> tuple[list[dict[str, Any]],
                                                                                dict[str, tuple[int, int]]]:
    """In a worker: the request's rows after limits, normalise and redact, and the stage clocks
    this request used there (added to the collector's own, so /metrics stays whole)."""
    stages.take()
    settings = _settings
    raw = decode_traces(body, kind, encoding, max_bytes=settings.max_body_bytes)
    if len(raw) > settings.max_spans_per_request:
        raise BadRequest(f"request has {len(raw)} spans; the limit is {settings.max_spans_per_request} per request")
    rows = prepare_rows(raw, project=project, settings=settings)
    return rows, stages.take()


class IngestWorkers:
    """A pool of ``count`` worker processes running :func:`_prepare`."""

    def __init__(self, settings: Any, count: int) -> None:
        self.count = count
        self._pool = ProcessPoolExecutor(max_workers=count, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_init, initargs=(settings,))
        self._settings = settings
        self._lock = threading.Lock()
        self.on_ready: Callable[[int], None] = lambda count: None  # with the workers ready (all, or 0)

    def warm_up(self) -> None:
        """Start every worker now (spawning imports the ingest modules), not on the first request:
        tasks submitted together find no idle worker, so the pool starts one for each."""
        pool = self._pool
        for future in [pool.submit(os.getpid) for _ in range(self.count)]:
            future.result(timeout=120)
        if pool is self._pool:
            self.on_ready(self.count)

    def prepare(self, body: bytes, kind: str, encoding: str | None, project: str) -> list[dict[str, Any]]:
        """Blocking (call from a thread): the prepared rows of one request; collector errors
        raised in the worker (400, 413, …) are raised here as they were."""
        broken = self._pool
        try:
            rows, clocks = broken.submit(_prepare, body, kind, encoding, project).result()
        except BrokenExecutor as exc:
            self._replace(broken)
            raise Unavailable("an ingest worker stopped; retry the request") from exc
        for stage, (cpu_ns, spans) in clocks.items():
            stages.add(stage, cpu_ns, spans)
        return rows

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        """A fresh pool for a broken one (once, however many requests saw it break)."""
        with self._lock:
            if self._pool is not broken:
                return
            self._pool = ProcessPoolExecutor(max_workers=self.count, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_init, initargs=(self._settings,))
        self.on_ready(0)
        broken.shutdown(wait=False, cancel_futures=True)
        self.warm_up_in_background()

    def warm_up_in_background(self) -> None:
        """:meth:`warm_up` in a thread: the collector goes on starting (store, keys) while the
        workers spawn; a request that comes first waits in the pool's queue for them."""
        threading.Thread(target=self._warm_quietly, name="flightlog-ingest-workers", daemon=True).start()

    def _warm_quietly(self) -> None:
        try:
            self.warm_up()
        except Exception:  # a pool that cannot start again answers 503 per request instead
            log.exception("ingest workers could not be restarted")

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
