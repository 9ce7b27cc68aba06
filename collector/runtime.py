"""Process-wide settings of a collector process and its ingest workers.

The Python garbage collector's thresholds: a collector holds many young, short-lived
containers (the rows of each request, the spool's pending rows), none of them in reference
cycles, and with the interpreter's defaults (700, 10, 10) it ran a collection every 700 new
containers. Measured on the shared OTLP load (20,000 spans, 2-core machine, 2026-12-02; GC
callbacks timing every collection): 1.45–1.5 s of the collector's time went to the garbage
collector, whole-interpreter pauses of up to 224 ms, against 0.24–0.44 s with
:data:`GC_THRESHOLDS` (docs/decisions/0045-garbage-collector-thresholds.md). Cycles are still
collected; they only wait for more allocations first.

And no pandas import for the store's row inserts (:mod:`flightlog.storage.lazy_pandas`): ~0.6 s
of every collector start (docs/decisions/0046-no-pandas-import-for-row-inserts.md).
"""
from __future__ import annotations

import gc

#: Collect the youngest generation every 50,000 new containers, the middle one every 20 of
#: those, the oldest every 100 of those (and, as always, only when it has grown by a quarter).
GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    """Apply :data:`GC_THRESHOLDS` to this process."""
    gc.set_threshold(*GC_THRESHOLDS)


def tune_process() -> None:
    """Everything a collector process sets for itself: the garbage collector's thresholds and
    row inserts that do not import pandas."""
    from flightlog.storage import lazy_pandas

    tune_gc()
    lazy_pandas.install()
