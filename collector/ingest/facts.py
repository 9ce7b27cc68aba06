"""Trace facts across requests (docs/decisions/0013-trace-facts-across-requests.md).

A run is exported in several requests, and often to several collectors: the agent span that
names the run's agent may come before or after its children. :class:`TraceFacts` remembers,
per (project, trace id), the facts this collector has seen (a bounded cache) and, for a trace
it has not seen, asks the store's ``trace_facts`` table once per request (one query for all
such traces of the request, none when every span is resolved within the request). What a
request teaches is returned as ``trace_facts`` rows for the writer to store, so the other
collectors that share the store learn it too.

It also knows whether a trace already has counted LLM or embedding calls, which decides
whether an agent span's aggregate token counts are counted (they are not when its calls are).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from flightlog.storage import StorageError, Store
from flightlog.storage import facts as trace_facts

log = logging.getLogger(__name__)

DEFAULT_CAPACITY = 20_000
"""Traces remembered per collector (least recently used first out): ~0.9–1.2 KB each (ids,
values, ranks), so ~20 MB when full; 100,000 held ~90–120 MB (measured 2026-12-02). A trace
that fell out is asked of the store once, in the one lookup of its next request."""


class TraceFacts:
    """The resolver :func:`.pipeline.rows_from_spans` calls with each request's rows."""

    def __init__(self, store: Store | None = None, *, capacity: int = DEFAULT_CAPACITY) -> None:
        self.store = store
        self.capacity = capacity
        self._known: OrderedDict[tuple[str, str], tuple[trace_facts.Facts, bool]] = OrderedDict()
        self._lock = threading.Lock()
        self.lookups = 0  # store queries made (for tests and metrics)

    def _get(self, key: tuple[str, str]) -> tuple[trace_facts.Facts, bool] | None:
        with self._lock:
            found = self._known.get(key)
            if found is not None:
                self._known.move_to_end(key)
            return found

    def _put(self, key: tuple[str, str], value: tuple[trace_facts.Facts, bool]) -> None:
        with self._lock:
            self._known[key] = value
            self._known.move_to_end(key)
            while len(self._known) > self.capacity:
                self._known.popitem(last=False)

    def known(self, project: str, traces: Sequence[str], *, wanted: set[str]) -> dict[str, tuple[trace_facts.Facts, bool]]:
        """What is known of ``traces``: the cache, then one store query for those of ``wanted``
        (traces whose rows still miss something) that the cache does not hold."""
        out: dict[str, tuple[trace_facts.Facts, bool]] = {}
        ask = []
        for trace in traces:
            found = self._get((project, trace))
            if found is not None:
                out[trace] = found
            elif trace in wanted:
                ask.append(trace)
        if ask and self.store is not None and self.store.connected:
            try:
                self.lookups += 1
                out.update(trace_facts.lookup(self.store, project, ask))
            except StorageError as exc:  # the store is down: resolve within the request, read time fills the rest
                log.debug("trace facts lookup failed: %s", exc)
        return out

    def remember(self, project: str, trace: str, facts: trace_facts.Facts, leaf_usage: bool) -> None:
        self._put((project, trace), (dict(facts), leaf_usage))


def needs(rows: Sequence[dict[str, Any]], *, container_types: frozenset[str], call_types: frozenset[str]) -> set[str]:
    """Traces of a request that the store may know more about: a span still misses a fact and
    the trace's root is not in the request, or an agent span carries aggregate usage and no call
    of the trace in the request has usage."""
    roots: set[str] = set()
    missing: set[str] = set()
    aggregates: set[str] = set()
    leaves: set[str] = set()
    for row in rows:
        trace = row["TraceId"]
        if not row.get("ParentSpanId"):
            roots.add(trace)
        if any(not row.get(f) for f in trace_facts.FACTS if f != "TraceName"):
            missing.add(trace)
        if row.get("InputTokens") or row.get("OutputTokens"):
            if row.get("SpanType") in container_types:
                aggregates.add(trace)
            elif row.get("SpanType") in call_types:
                leaves.add(trace)
    return (missing - roots) | (aggregates - leaves)
