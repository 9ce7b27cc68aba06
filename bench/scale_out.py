"""Scale-out figures: when to move from one machine to a server (docs/scale-out.md).

    python bench/scale_out.py                       # 1 and 2 collectors on the test harness, 6000 spans
    python bench/scale_out.py --collectors 1 2 3 --spans 20000
    python bench/scale_out.py --dsn http://u:p@clickhouse:8123/bench   # a real server (its database is emptied)

For each collector count: a fresh store (the ClickHouse-HTTP harness over chDB from tests/support,
or ``--dsn``), that many ``flightlog serve`` processes on it, and the generator's traces
(bench/generator.py: realistic prompt and answer texts) sent as OTLP/HTTP protobuf from
``--concurrency`` threads, round robin over the collectors, until the store holds every span.
Printed, per run:

* **spans/s** end to end (first request until every span is stored) and **spans/s per
  collector core**: spans over the collectors' CPU seconds (user + system, from /proc);
* the **server's CPU** per span (harness only: its process's CPU);
* **disk per million spans**: bytes of the store's active parts (every table: spans, logs,
  rollups, chain, indexes) over the spans stored, scaled to 10^6;
* **memory**: peak RSS of each collector and of the harness.

The machine (CPU model, cores) and the date are printed with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests"))

from generator import Generator, Workload, encode_request  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_collector(data_dir: Path, dsn: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLIGHTLOG_", "OTEL_"))}
    env.update({"FLIGHTLOG_DSN": dsn, "FLIGHTLOG_ANCHOR_INTERVAL_S": "0"})
    data_dir.mkdir(parents=True)
    proc = subprocess.Popen([sys.executable, "-m", "flightlog.collector.cli", "serve", "--port", str(port),
                             "--grpc-port", "0", "--data-dir", str(data_dir)], env=env,
                            stdout=(data_dir / "collector.log").open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"collector exited: {(data_dir / 'collector.log').read_text()[-2000:]}")
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)  # start-up polling with a deadline
    raise SystemExit(f"{url} not ready")


def run(n_collectors: int, spans: int, concurrency: int, dsn: str | None, work: Path) -> dict[str, Any]:
    import clickhouse_connect

    from flightlog.storage.dsn import parse_dsn

    harness = None
    if dsn is None:
        from support.harness import Harness

        harness = Harness(work / "ch")
        harness.start()
        dsn = harness.dsn("flightlog")
    settings = parse_dsn(dsn)
    admin = clickhouse_connect.get_client(host=settings.host, port=settings.port, username=settings.username,
                                          password=settings.password)
    if harness is None:
        admin.command(f"DROP DATABASE IF EXISTS `{settings.database}`")
    collectors = []
    try:
        first = start_collector(work / "c0", dsn)
        collectors.append(first)
        keys_file = work / "c0" / "dev-keys.json"
        deadline = time.monotonic() + 60
        while not keys_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)  # the first collector writes the keys once connected
        ingest = json.loads(keys_file.read_text())["ingest_key"]
        for i in range(1, n_collectors):
            collectors.append(start_collector(work / f"c{i}", dsn))
        requests = [encode_request(trace) for trace in Generator(Workload(spans=spans, days=1, seed=7)).traces()]
        cpu0 = [cpu_seconds(p.pid) for p, _ in collectors]
        server_cpu0 = cpu_seconds(harness.proc.pid) if harness and harness.proc else 0.0
        statuses: dict[int, int] = {}
        lock = threading.Lock()

        def send(worker: int) -> None:
            with httpx.Client(timeout=60) as client:
                for i in range(worker, len(requests), concurrency):
                    url = collectors[i % len(collectors)][1]
                    while True:
                        resp = client.post(url + "/v1/traces", content=requests[i],
                                           headers={"Content-Type": "application/x-protobuf", "x-api-key": ingest})
                        with lock:
                            statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
                        if resp.status_code not in (429, 503):
                            break
                        time.sleep(float(resp.headers.get("Retry-After", "1")))  # the exporter's back-off

        started = time.monotonic()
        threads = [threading.Thread(target=send, args=(w,)) for w in range(concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        client = clickhouse_connect.get_client(host=settings.host, port=settings.port, username=settings.username,
                                               password=settings.password, database=settings.database)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            stored = int(client.query("SELECT uniqExact(TraceId, SpanId) FROM spans").result_rows[0][0])
            if stored >= spans:
                break
            time.sleep(0.1)  # waiting for the writers with a deadline
        elapsed = time.monotonic() - started
        collector_cpu = sum(cpu_seconds(p.pid) - c for (p, _), c in zip(collectors, cpu0, strict=True))
        server_cpu = (cpu_seconds(harness.proc.pid) - server_cpu0) if harness and harness.proc else None
        disk = int(client.query("SELECT sum(bytes_on_disk) FROM system.parts WHERE active"
                                " AND database = currentDatabase()").result_rows[0][0])
        spans_disk = int(client.query("SELECT sum(bytes_on_disk) FROM system.parts WHERE active"
                                      " AND database = currentDatabase() AND table = 'spans'").result_rows[0][0])
        return {
            "collectors": n_collectors, "spans": stored, "seconds": round(elapsed, 2),
            "spans_per_s": round(stored / elapsed), "spans_per_collector_core_s": round(stored / collector_cpu),
            "server_cpu_us_per_span": round(server_cpu / stored * 1e6) if server_cpu is not None else None,
            "disk_mb_per_million_spans": round(disk / stored * 1e6 / 2**20),
            "spans_table_mb_per_million_spans": round(spans_disk / stored * 1e6 / 2**20),
            "collector_peak_rss_mb": [round(peak_rss_mb(p.pid)) for p, _ in collectors],
            "server_peak_rss_mb": round(peak_rss_mb(harness.proc.pid)) if harness and harness.proc else None,
            "statuses": statuses,
        }
    finally:
        for proc, _ in collectors:
            proc.terminate()
        for proc, _ in collectors:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        if harness is not None:
            harness.stop()


def machine() -> str:
    model = ""
    try:
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model or platform.processor()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--collectors", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--spans", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--dsn", default=None, help="a ClickHouse server (its database is dropped first)")
    args = parser.parse_args()
    print(f"# {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC — {machine()}")
    print(f"# store: {'the test harness (chDB behind the HTTP interface)' if args.dsn is None else 'server'}")
    for n in args.collectors:
        with tempfile.TemporaryDirectory(prefix="flightlog-scale-") as work:
            print(json.dumps(run(n, args.spans, args.concurrency, args.dsn, Path(work))), flush=True)


if __name__ == "__main__":
    main()
