"""Prometheus metrics of one collector process (``GET /metrics``).

A registry per app (not the global one), so several collectors in one test process do not
share counters. Spool gauges are read when scraped.
"""

from __future__ import annotations

import functools

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, GCCollector, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from flightlog.collector.ingest import stages
from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE  # noqa: N811

__all__ = ["CONTENT_TYPE", "Metrics"]


class Metrics:
    """Counters and gauges named ``flightlog_*``."""

    def __init__(self, spool_stats: Callable[[], dict[str, float]]) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.spans_received = Counter("flightlog_spans_received", "Spans acknowledged (spooled durably).", registry=r)
        self.spans_stored = Counter("flightlog_spans_stored", "Spans inserted into the store.", registry=r)
        self.requests_rejected = Counter(
            "flightlog_ingest_rejected_requests", "Ingest requests refused, by HTTP status.", ["status"], registry=r)
        self.write_retries = Counter("flightlog_write_retries", "Store writes that failed and will be retried.",
                                     registry=r)
        self.requests = Counter("flightlog_http_requests", "HTTP requests by route and status.",
                                ["route", "status"], registry=r)
        self.online_eval_passes = Counter(
            "flightlog_online_eval_passes", "Online evaluation passes, by whether this collector ran it (ran) or "
            "another collector held the online-eval lease (skipped).", ["outcome"], registry=r)
        for name, key, doc in (
            ("flightlog_spool_bytes", "bytes", "Bytes waiting in the spool."),
            ("flightlog_spool_rows", "rows", "Span rows waiting in the spool."),
            ("flightlog_spool_segments", "segments", "Spool segment files waiting."),
            ("flightlog_writer_lag_seconds", "lag_seconds", "Age of the oldest spooled segment."),
        ):
            Gauge(name, doc, registry=r).set_function(functools.partial(_stat, spool_stats, key))
        # Ingest workers started and answering (0 without workers; they start in the background).
        self.ingest_workers_ready = Gauge("flightlog_ingest_workers_ready",
                                          "Ingest worker processes started and ready.", registry=r)
        r.register(_StageClocks())
        # python_gc_collections_total{generation} and kin: how often this process's garbage
        # collector ran (its thresholds: collector/runtime.py).
        GCCollector(registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _stat(stats: Callable[[], dict[str, float]], key: str) -> float:
    return stats()[key]


class _StageClocks(Collector):
    """``flightlog_ingest_cpu_seconds_total`` and ``flightlog_ingest_stage_spans_total`` by stage."""

    def collect(self):  # type: ignore[no-untyped-def]
        cpu = CounterMetricFamily("flightlog_ingest_cpu_seconds", "CPU time spent per ingest stage.",
                                  labels=["stage"])
        spans = CounterMetricFamily("flightlog_ingest_stage_spans", "Spans that went through each ingest stage.",
                                    labels=["stage"])
        for stage, (seconds, count) in stages.snapshot().items():
            cpu.add_metric([stage], seconds)
            spans.add_metric([stage], count)
        yield cpu
        yield spans
