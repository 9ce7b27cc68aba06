"""Reads behind the insight endpoints (collector/api/insights.py): incident trace-back,
"compare with healthy runs", monitoring figures, cost per run and the costliest traces.

Every read is bounded (STYLE D2), values are bound parameters and identifiers come from
the allow-lists in :mod:`.monitoring` (STYLE D3). Charts read the ``usage_hourly`` rollup (migration 0006)
where it has the figures; tool errors, checkpoints and per-trace cost have no rollup, so
they read ``spans`` deduplicated with ``LIMIT 1 BY TraceId, SpanId`` (DESIGN §7).

The trace-back itself is a pure function over the spans of one trace
(:func:`build_traceback`), so it can be table-tested without a store.

The reads live in :mod:`.traceback` (trace-back, compare runs) and :mod:`.monitoring`
(monitoring, tool errors, checkpoints, cost per run, top traces); this module re-exports
their public names so ``from flightlog.storage import insights; insights.X`` keeps working.
"""

from __future__ import annotations

from .monitoring import (
    BUCKETS,
    MONITOR_GROUPS,
    RUN_COST_GROUPS,
    checkpoint_escalations,
    cost_per_run,
    monitoring,
    tool_errors,
    top_traces,
)
from .traceback import (
    COMPARE_FIELDS,
    COMPARE_WINDOW_DAYS,
    MAX_COMPARE,
    build_traceback,
    compare_runs,
    diff_profiles,
    linked_spans,
    run_profile,
)

__all__ = [
    "BUCKETS",
    "COMPARE_FIELDS",
    "COMPARE_WINDOW_DAYS",
    "MAX_COMPARE",
    "MONITOR_GROUPS",
    "RUN_COST_GROUPS",
    "build_traceback",
    "checkpoint_escalations",
    "compare_runs",
    "cost_per_run",
    "diff_profiles",
    "linked_spans",
    "monitoring",
    "run_profile",
    "tool_errors",
    "top_traces",
]
