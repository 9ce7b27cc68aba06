"""Ingest benchmark: end-to-end spans/s, CPU per stage, raw insert ceiling, RSS, ack latency.

    python bench/ingest.py                                   # the project's generator, 20,000 spans
    python bench/ingest.py --from-dump load_s1.otlpgen       # replay an otlpgen dump file
    python bench/ingest.py --spans 300 --raw-insert no       # a smoke run (the suite does this)

Starts ``flightlog up --no-ui`` (fsync at its default, audit chain, redaction, limits and
pricing all on) on a fresh embedded store and a free loopback port, then sends every request
from ``--concurrency`` threads as fast as the collector answers. Reported (docs/performance.md):

* **end to end**: spans / seconds from the first POST until the query API's total equals the
  spans sent (the collector answers only once a request is spooled, and the query sees a span
  only once it is inserted);
* send rate, acknowledgement latency p50/p99, HTTP statuses (anything but 200 is reported);
* collector CPU (all threads, from /proc) in µs per span, and the CPU its own stage clocks
  (``flightlog_ingest_cpu_seconds_total``) give each stage; the rest is HTTP, asyncio and the
  engine's own threads;
* peak RSS of the collector process; the marker search latency when the load has a marker;
* **raw insert**: the same rows (decoded and normalised by the collector's own pipeline,
  chained) inserted straight into a fresh store of the same schema in batches of the writer's
  segment size, in a separate process: the store's own limit on this machine.

Dump files: the format of the shared ``otlpgen`` generator (magic ``OTLPGEN1\\n``, a u32
header length, a JSON header, then records of u32 span count, u32 byte length, one
serialized ExportTraceServiceRequest).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from collector_process import Collector, children, cpu_model, family_cpu_seconds, peak_rss_mb  # noqa: E402

from flightlog.collector.config import default_ingest_workers  # noqa: E402

DUMP_MAGIC = b"OTLPGEN1\n"
PROTOBUF = "application/x-protobuf"


def read_dump(path: Path) -> tuple[list[tuple[int, bytes]], dict[str, Any]]:
    """(span count, request body) of every request in an otlpgen dump, and its header."""
    with path.open("rb") as f:
        if f.read(len(DUMP_MAGIC)) != DUMP_MAGIC:
            raise click.ClickException(f"{path}: not an otlpgen dump file")
        (length,) = struct.unpack(">I", f.read(4))
        meta = json.loads(f.read(length))
        requests = []
        while header := f.read(8):
            spans, size = struct.unpack(">II", header)
            requests.append((spans, f.read(size)))
    return requests, meta


def generated(spans: int, batch: int, seed: int) -> tuple[list[tuple[int, bytes]], dict[str, Any]]:
    """Requests from the project's own generator (bench/generator.py)."""
    from generator import RARE_WORDS, Generator, Workload, encode_request

    gen = Generator(Workload(spans=spans, seed=seed, end_ns=time.time_ns(), days=1))
    out: list[tuple[int, bytes]] = []
    pending: list[Any] = []
    for trace in gen.traces():
        pending.extend(trace)
        if len(pending) >= batch:
            out.append((len(pending), encode_request(pending)))
            pending = []
    if pending:
        out.append((len(pending), encode_request(pending)))
    return out, {"generator": "bench/generator.py", "seed": seed, "marker": RARE_WORDS[0]}


def _metric(text: str, name: str) -> dict[str, float]:
    """label value → sample of a labelled counter in Prometheus text (``stage`` label)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            label = line.split('stage="', 1)[1].split('"', 1)[0]
            out[label] = float(line.rsplit(" ", 1)[1])
    return out


def _stage_clocks(collector: Collector, inserted: int = 0) -> dict[str, float]:
    """CPU seconds per stage, once the writer has counted ``inserted`` spans as inserted.

    The query API sees a batch as soon as the engine has it, a moment before the writer adds
    the insert's CPU time to its clock.
    """
    deadline = time.monotonic() + 30
    while True:
        text = collector.read("/metrics").text
        if _metric(text, "flightlog_ingest_stage_spans_total").get("insert", 0) >= inserted or \
                time.monotonic() > deadline:
            return _metric(text, "flightlog_ingest_cpu_seconds_total")
        time.sleep(0.05)  # poll with a deadline


def send_all(collector: Collector, requests: list[tuple[int, bytes]], concurrency: int,
             ) -> tuple[float, list[float], Counter[int]]:
    """POST every request from ``concurrency`` threads; (t0, latencies, statuses)."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    order = iter(range(len(requests)))

    def sender() -> None:
        headers = {"Content-Type": PROTOBUF, "x-api-key": collector.keys["ingest_key"]}
        with httpx.Client(headers=headers, timeout=120) as client:
            while True:
                with lock:
                    index = next(order, None)
                if index is None:
                    return
                started = time.perf_counter()
                try:
                    status = client.post(collector.url + "/v1/traces", content=requests[index][1]).status_code
                except httpx.HTTPError:
                    status = 0
                with lock:
                    latencies.append(time.perf_counter() - started)
                    statuses[status] += 1

    threads = [threading.Thread(target=sender) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return t0, latencies, statuses


def wait_stored(collector: Collector, expected: int, timeout: float) -> tuple[int, float]:
    """Poll the query API's span total until it reaches ``expected``; (total, when)."""
    deadline = time.monotonic() + timeout
    total = -1
    while time.monotonic() < deadline:
        total = collector.read("/api/spans", limit=1).json()["total"]
        if total >= expected:
            break
        time.sleep(0.1)  # drain poll with a deadline
    return total, time.perf_counter()


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def raw_insert_rate(requests: list[tuple[int, bytes]], tmp: Path) -> dict[str, float]:
    """Run the raw insert in its own process (one embedded engine per process)."""
    dump = tmp / "raw.otlpgen"
    with dump.open("wb") as f:
        header = json.dumps({}).encode()
        f.write(DUMP_MAGIC + struct.pack(">I", len(header)) + header)
        for spans, body in requests:
            f.write(struct.pack(">II", spans, len(body)) + body)
    out = subprocess.run([sys.executable, __file__, "raw-insert", str(dump), str(tmp / "raw-store")],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@click.group(invoke_without_command=True)
@click.option("--from-dump", "dump", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Replay an otlpgen dump file instead of generating the load.")
@click.option("--spans", default=20_000, show_default=True, help="Spans to generate (without --from-dump).")
@click.option("--batch-spans", default=500, show_default=True, help="Spans per request (generated load).")
@click.option("--seed", default=1, show_default=True, help="Generator seed.")
@click.option("--concurrency", default=4, show_default=True, help="Concurrent senders.")
@click.option("--raw-insert", type=click.Choice(["yes", "no"]), default="yes", show_default=True,
              help="Also measure the raw insert rate of the same rows.")
@click.option("--ingest-workers", type=int, default=None,
              help="The collector's --ingest-workers (worker processes for decode and per-span work); "
                   "default: the collector's own default (one on two cores or more).")
@click.option("--collector-env", multiple=True, metavar="NAME=VALUE",
              help="A FLIGHTLOG_* setting for the collector (repeatable), e.g. FLIGHTLOG_FLUSH_INTERVAL_MS=500.")
@click.option("--json-out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the figures as JSON.")
@click.pass_context
def main(ctx: click.Context, dump: Path | None, spans: int, batch_spans: int, seed: int, concurrency: int,
         raw_insert: str, ingest_workers: int | None, collector_env: tuple[str, ...], json_out: Path | None) -> None:
    """Send a whole load to a fresh collector and report how fast it was stored."""
    if ctx.invoked_subcommand:
        return
    requests, meta = read_dump(dump) if dump else generated(spans, batch_spans, seed)
    sent = sum(n for n, _ in requests)
    source = str(dump.name) if dump else f"bench/generator.py seed {seed}"
    click.echo(f"load: {source}: {sent} spans in {len(requests)} requests "
               f"({sum(len(b) for _, b in requests) / 1e6:.1f} MB protobuf), concurrency {concurrency}")
    tmp = Path(tempfile.mkdtemp(prefix="flightlog-ingest-bench-"))
    env = dict(item.split("=", 1) for item in collector_env)
    if ingest_workers is not None:
        env["FLIGHTLOG_INGEST_WORKERS"] = str(ingest_workers)
    workers = default_ingest_workers() if ingest_workers is None else ingest_workers
    collector = Collector(tmp / "data", env=env)
    try:
        clocks_before, cpu_before = _stage_clocks(collector), family_cpu_seconds(collector.pid)
        t0, latencies, statuses = send_all(collector, requests, concurrency)
        sent_s = time.perf_counter() - t0
        stored, done = wait_stored(collector, sent, timeout=900)
        end_to_end_s = done - t0
        cpu = family_cpu_seconds(collector.pid) - cpu_before
        clocks = {k: v - clocks_before.get(k, 0.0) for k, v in _stage_clocks(collector, inserted=stored).items()}
        marker = meta.get("marker")
        search_ms = None
        if marker:
            started = time.perf_counter()
            collector.read("/api/spans", q=marker, limit=50)
            search_ms = (time.perf_counter() - started) * 1000
        rss = peak_rss_mb(collector.pid)
        worker_rss = sum(peak_rss_mb(child) for child in children(collector.pid))
    finally:
        collector.stop()
    raw = raw_insert_rate(requests, tmp) if raw_insert == "yes" else None
    figures: dict[str, Any] = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.machine()}",
        "load": source, "spans_sent": sent, "requests": len(requests), "concurrency": concurrency,
        "statuses": dict(sorted(statuses.items())), "spans_stored": stored,
        "end_to_end_spans_per_s": round(sent / end_to_end_s), "send_spans_per_s": round(sent / sent_s),
        "ack_p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
        "ack_p99_ms": round(_quantile(latencies, 0.99) * 1000, 1),
        "collector_cpu_us_per_span": round(cpu / sent * 1e6, 1),
        "stage_cpu_us_per_span": {k: round(v / sent * 1e6, 1) for k, v in clocks.items()},
        "other_cpu_us_per_span": round((cpu - sum(clocks.values())) / sent * 1e6, 1),
        "collector_peak_rss_mb": round(rss),
        "ingest_workers": workers,
        "collector_env": env,
        "workers_peak_rss_mb": round(worker_rss),
        "marker_search_ms": round(search_ms, 1) if search_ms is not None else None,
    }
    if raw:
        figures["raw_insert_spans_per_s"] = round(raw["spans_per_s"])
        figures["end_to_end_share_of_raw_insert"] = round(figures["end_to_end_spans_per_s"] / raw["spans_per_s"], 2)
    click.echo("\n| figure | value |\n|---|---|")
    for key, value in figures.items():
        click.echo(f"| {key} | {value} |")
    if json_out:
        json_out.write_text(json.dumps(figures, indent=2))
    if stored != sent or set(statuses) != {200}:
        raise SystemExit(f"stored {stored} of {sent} spans sent; statuses {dict(statuses)}")


@main.command("raw-insert", hidden=True)
@click.argument("dump", type=click.Path(exists=True, path_type=Path))
@click.argument("store_dir", type=click.Path(path_type=Path))
def raw_insert_command(dump: Path, store_dir: Path) -> None:
    """Normalise and chain a dump's spans, then time inserting them into a fresh store."""
    from flightlog.collector.audit.chain import ChainWriter
    from flightlog.collector.config import Settings
    from flightlog.collector.ingest.decode import decode_traces
    from flightlog.collector.ingest.pipeline import rows_from_spans
    from flightlog.collector.pricing import load_prices
    from flightlog.storage import open_store
    from flightlog.storage.schema import SPAN_COLUMNS, span_row_values

    settings = Settings(data_dir=str(store_dir))
    prices = load_prices()
    rows: list[list[Any]] = []
    for _, body in read_dump(dump)[0]:
        decoded = decode_traces(body, PROTOBUF, max_bytes=settings.max_body_bytes)
        rows.extend(span_row_values(r) for r in rows_from_spans(decoded, project="default", prices=prices,
                                                                settings=settings))
    store = open_store(f"chdb://{store_dir.resolve()}")
    rows = ChainWriter(store, "bench").prepare(rows)
    batch = settings.batch_rows
    started = time.perf_counter()
    for at in range(0, len(rows), batch):
        store.insert("spans", rows[at:at + batch], SPAN_COLUMNS, dedup_token=f"raw-{at}")
    seconds = time.perf_counter() - started
    store.close()
    click.echo(json.dumps({"spans": len(rows), "seconds": seconds, "spans_per_s": len(rows) / seconds}))


if __name__ == "__main__":
    main()
