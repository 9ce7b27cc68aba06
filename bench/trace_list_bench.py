"""Trace list and sessions benchmark: GET /api/traces' and /api/sessions' storage reads on a
large embedded store (docs/decisions/0035-trace-list.md).

    python bench/trace_list_bench.py --spans 200000 --factor 5 --repeat 5

The workload (bench/generator.py, fixed seed) is normalised by the collector's own pipeline
and inserted straight into a fresh store; ``--factor`` copies it with new ids
(storage_bench.replicate), then each read runs ``--repeat`` times with the query condition
cache off: median and worst ms.
"""
from __future__ import annotations

import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generator import INCIDENT_WORD, Generator, Workload  # noqa: E402
from storage_bench import replicate  # noqa: E402


def _load(store, spans: int, seed: int) -> Generator:
    from flightlog.collector.ingest.pipeline import rows_from_spans
    from flightlog.collector.pricing import load_prices
    from flightlog.storage.schema import SPAN_COLUMNS, span_row_values

    gen = Generator(Workload(spans=spans, seed=seed))
    prices, batch = load_prices(), []
    for trace in gen.traces():
        batch.extend(trace)
        if len(batch) >= 20_000:
            store.insert("spans", [span_row_values(r) for r in rows_from_spans(batch, project="default", prices=prices)],
                         SPAN_COLUMNS)
            batch = []
    if batch:
        store.insert("spans", [span_row_values(r) for r in rows_from_spans(batch, project="default", prices=prices)],
                     SPAN_COLUMNS)
    return gen


@click.command()
@click.option("--spans", default=200_000, show_default=True)
@click.option("--factor", default=5, show_default=True, help="copies of the workload (spans × factor rows)")
@click.option("--repeat", default=5, show_default=True)
@click.option("--seed", default=7, show_default=True)
def main(spans: int, factor: int, repeat: int, seed: int) -> None:
    from flightlog.storage import open_store, tracelist
    from flightlog.storage.filters import SpanFilter

    with tempfile.TemporaryDirectory(prefix="flightlog-tracelist-") as tmp:
        store = open_store(f"chdb://{tmp}/store")
        t0 = time.perf_counter()
        gen = _load(store, spans, seed)
        if factor > 1:
            replicate(store, spans, factor)
        rows, traces = store.query_rows("SELECT count(), uniqExact(TraceId) FROM spans")[0]
        click.echo(f"loaded {rows:,} spans in {traces:,} traces in {time.perf_counter() - t0:.0f} s")
        store.read_settings["use_query_condition_cache"] = 0
        end = datetime.fromtimestamp(gen.w.end_ns / 1e9, tz=timezone.utc)
        day = SpanFilter(start=end - timedelta(days=1), end=end)
        cases = {
            "newest 50 traces (no filter)": lambda: tracelist.list_traces(store, "default", SpanFilter()),
            "newest 50, last day": lambda: tracelist.list_traces(store, "default", day),
            "page 100 (offset 4950)": lambda: tracelist.list_traces(store, "default", SpanFilter(), offset=4950),
            "slowest 50 (sort duration)": lambda: tracelist.list_traces(store, "default", SpanFilter(), sort="duration"),
            "costliest 50, last day": lambda: tracelist.list_traces(store, "default", day, sort="cost"),
            "errors only": lambda: tracelist.list_traces(store, "default", SpanFilter(status="error")),
            f"text '{INCIDENT_WORD}'": lambda: tracelist.list_traces(store, "default", SpanFilter(q=INCIDENT_WORD)),
            "sessions, newest 50": lambda: tracelist.list_sessions(store, "default"),
        }
        click.echo(f"{platform.processor() or platform.machine()}, {platform.python_version()}, "
                   f"{datetime.now(timezone.utc):%Y-%m-%d}")
        click.echo("| read | median ms | worst ms | total |\n|---|---:|---:|---:|")
        for name, run in cases.items():
            times, total = [], 0
            for _ in range(repeat):
                t = time.perf_counter()
                total = run()["total"]
                times.append((time.perf_counter() - t) * 1000)
            click.echo(f"| {name} | {statistics.median(times):.0f} | {max(times):.0f} | {total:,} |")
        store.close()


if __name__ == "__main__":
    main()
