"""CPU time spent per ingest stage, process-wide (``flightlog_ingest_cpu_seconds_total{stage}``).

Each stage is timed with the calling thread's CPU clock (``time.thread_time_ns``), once per
request or per stored batch, never per span, so the clock costs nothing measurable. The
figures say where a collector's CPU goes (docs/performance.md): ``bench/ingest.py`` reads them
from ``/metrics`` before and after a load and prints µs per span for every stage.

Stages, in the order a span meets them: ``decode`` (protobuf or JSON → decoded spans),
``limits`` (ids, sizes, duplicates), ``normalise`` (conventions → columns), ``redact``,
``price``, ``spool`` (row values, framing, write and fsync), ``dedupe`` (already stored?),
``chain`` (span hashes and the batch link), ``insert`` (the store's insert, engine included
when the engine runs in this thread).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

STAGES = ("decode", "limits", "normalise", "redact", "price", "spool", "dedupe", "chain", "insert")

_lock = threading.Lock()
_cpu_ns: dict[str, int] = dict.fromkeys(STAGES, 0)
_spans: dict[str, int] = dict.fromkeys(STAGES, 0)


@contextmanager
def timed(stage: str, spans: int = 0) -> Iterator[None]:
    """Add the CPU time of the block (this thread's) to ``stage``; ``spans`` it handled."""
    start = time.thread_time_ns()
    try:
        yield
    finally:
        add(stage, time.thread_time_ns() - start, spans)


def add(stage: str, cpu_ns: int, spans: int = 0) -> None:
    with _lock:
        _cpu_ns[stage] += cpu_ns
        _spans[stage] += spans


def snapshot() -> dict[str, tuple[float, int]]:
    """stage → (CPU seconds, spans) since the process started."""
    with _lock:
        return {stage: (_cpu_ns[stage] / 1e9, _spans[stage]) for stage in STAGES}


def take() -> dict[str, tuple[int, int]]:
    """stage → (CPU ns, spans) counted since the last ``take``, and start again from zero (an
    ingest worker process reports its share of each request this way)."""
    with _lock:
        taken = {stage: (_cpu_ns[stage], _spans[stage]) for stage in STAGES if _cpu_ns[stage] or _spans[stage]}
        for stage in STAGES:
            _cpu_ns[stage] = _spans[stage] = 0
    return taken
