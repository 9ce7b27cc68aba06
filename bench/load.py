"""Sustained-load benchmark: a target span rate for a fixed time against one collector.

    python bench/load.py --rate 3000 --duration 60

Starts ``flightlog serve`` as a subprocess on a free loopback port with a fresh embedded
store, then paces OTLP/HTTP protobuf requests (realistic agent traces from
bench/generator.py, encoded before the clock starts) from ``--senders`` threads so the
offered load is ``--rate`` spans/s for ``--duration`` seconds. It reports what was accepted
(200), rejected (429/503 and others), the request latency p50/p99, then waits for the spool
to drain and checks that the store holds exactly the accepted spans. All traffic goes to
127.0.0.1; every loop is bounded by the duration or a deadline.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import click
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from collector_process import Collector, cpu_model, peak_rss_mb  # noqa: E402
from generator import Generator, Workload, encode_request  # noqa: E402


@dataclasses.dataclass(frozen=True)
class LoadRun:
    """The conditions of one run (printed next to the figures)."""

    rate: int
    duration_s: float
    request_spans: int
    senders: int
    fsync: str
    seed: int
    cores: int = os.cpu_count() or 0
    cpu: str = dataclasses.field(default_factory=cpu_model)
    python: str = platform.python_version()


def _requests(run: LoadRun) -> list[tuple[int, bytes]]:
    """(span count, protobuf body) for the whole run, generated before the clock starts."""
    total = int(run.rate * run.duration_s)
    gen = Generator(Workload(spans=total, seed=run.seed, end_ns=time.time_ns(), days=1))
    out, batch = [], []
    for trace in gen.traces():
        batch.extend(trace)
        if len(batch) >= run.request_spans:
            out.append((len(batch), encode_request(batch)))
            batch = []
    if batch:
        out.append((len(batch), encode_request(batch)))
    return out


@click.command()
@click.option("--rate", default=3000, show_default=True, help="Offered load in spans per second.")
@click.option("--duration", default=30.0, show_default=True, help="Seconds of load.")
@click.option("--request-spans", default=100, show_default=True, help="Spans per OTLP request.")
@click.option("--senders", default=4, show_default=True, help="Concurrent sender threads.")
@click.option("--fsync", type=click.Choice(["always", "never"]), default="always", show_default=True,
              help="Collector spool fsync policy.")
@click.option("--seed", default=11, show_default=True, help="Generator seed.")
@click.option("--json-out", type=click.Path(dir_okay=False), default=None, help="Also write the figures as JSON.")
def main(rate: int, duration: float, request_spans: int, senders: int, fsync: str, seed: int,
         json_out: str | None) -> None:
    """Offer RATE spans/s for DURATION seconds; report accepted, stored, rejected and latency."""
    run = LoadRun(rate, duration, request_spans, senders, fsync, seed)
    click.echo(repr(run))
    bodies = _requests(run)
    tmp = Path(tempfile.mkdtemp(prefix="flightlog-load-"))
    collector = Collector(tmp / "data", command="serve", env={"FLIGHTLOG_SPOOL_FSYNC": fsync})
    url, keys = collector.url, collector.keys
    statuses: Counter[int] = Counter()
    accepted = rejected = 0
    latencies: list[float] = []
    lock = threading.Lock()
    start = time.monotonic() + 0.5
    interval = request_spans / rate  # seconds between requests, all senders together

    def sender(index: int) -> None:
        nonlocal accepted, rejected
        client = httpx.Client(headers={"Content-Type": "application/x-protobuf", "x-api-key": keys["ingest_key"]},
                              timeout=30)
        for n in range(index, len(bodies), senders):
            due = start + n * interval
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)  # pacing: the offered rate, not synchronisation
            spans, body = bodies[n]
            t0 = time.perf_counter()
            try:
                code = client.post(url + "/v1/traces", content=body).status_code
            except httpx.HTTPError:
                code = 0
            elapsed = time.perf_counter() - t0
            with lock:
                statuses[code] += 1
                latencies.append(elapsed)
                if code == 200:
                    accepted += spans
                else:
                    rejected += spans

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent_for = time.monotonic() - start
    read = {"Authorization": f"Bearer {keys['read_key']}"}
    deadline = time.monotonic() + 300
    stored = -1
    while time.monotonic() < deadline:
        ready = httpx.get(url + "/readyz", timeout=10).json()
        if ready["spool"]["rows"] == 0:
            stored = httpx.get(url + "/api/spans", params={"limit": 1}, headers=read, timeout=60).json()["total"]
            break
        time.sleep(0.2)  # drain poll with a deadline
    drained_after = time.monotonic() - start
    rss = peak_rss_mb(collector.pid)
    collector.stop()
    shutil.rmtree(tmp, ignore_errors=True)

    lat = sorted(latencies)
    figures = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "offered_spans_per_s": rate, "duration_s": duration, "requests": sum(statuses.values()),
        "accepted_spans": accepted, "rejected_spans": rejected,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "stored_spans": stored, "stored_equals_accepted": stored == accepted,
        "accepted_spans_per_s": round(accepted / sent_for, 1),
        "p50_ms": round(statistics.median(lat) * 1000, 1) if lat else None,
        "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, 1) if lat else None,
        "drained_after_s": round(drained_after, 1), "collector_peak_rss_mb": round(rss, 1),
        "cpu": run.cpu, "cores": run.cores, "python": run.python, "fsync": fsync,
    }
    click.echo("\n| figure | value |\n|---|---|")
    for key, value in figures.items():
        click.echo(f"| {key} | {value} |")
    if json_out:
        Path(json_out).write_text(json.dumps(figures, indent=2))
    if stored != accepted:
        raise SystemExit(f"stored ({stored}) != accepted ({accepted})")


if __name__ == "__main__":
    main()
