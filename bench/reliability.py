"""Reliability figures: acknowledged vs stored spans across crashes, a full disk, a store outage
and hostile input, measured against real ``flightlog serve`` processes on loopback.

    python bench/reliability.py                      # every scenario, default sizes
    python bench/reliability.py --only crash --rounds 20

Scenarios (each on a fresh data directory):

* ``crash``: ``--rounds`` lives of one collector, each ended by kill -9 at a random moment
  (under load from 3 senders, right after a restart while the spool replays, or while it drains).
* ``disk-full``: the data directory on a 24 MiB tmpfs (needs root), load until ingest refuses,
  kill -9, grow the filesystem, restart.
* ``store-down``: a ClickHouse server (the test harness over chDB) goes away, the collector is
  restarted during the outage and keeps ingesting for ``--outage-s`` seconds, then the server
  comes back.
* ``hostile``: ``--bodies`` malformed, oversize, deeply nested and out-of-range requests; every
  answer must be a 4xx (or 200 for odd-but-valid spans), the process keeps serving and what was
  stored before is intact.

For every scenario it prints acknowledged spans, stored spans, lost, duplicated, 5xx answers and
whether ``verify`` passed. Exit status 1 if anything was lost, duplicated or answered 5xx.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import click
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
from conftest import RunningCollector, start_collector, wait_until  # noqa: E402
from test_disk_full import incompressible_request  # noqa: E402
from test_durability import PB, SPANS_PER_TRACE, make_request  # noqa: E402


@dataclasses.dataclass(frozen=True)
class ReliabilityRun:
    """The conditions of one run (printed next to the figures)."""

    rounds: int
    outage_s: float
    bodies: int
    seed: int
    cores: int = os.cpu_count() or 0
    python: str = platform.python_version()


@dataclasses.dataclass
class Outcome:
    scenario: str
    acked_spans: int = 0
    stored_spans: int = 0
    lost: int = 0
    duplicated: int = 0
    five_xx: int = 0
    verify_ok: bool = True
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.five_xx == 0 and self.verify_ok


def _count(collector: RunningCollector, acked: list[str], dsn: str | None = None) -> tuple[int, int, int]:
    """(stored spans of the acknowledged traces, lost, duplicated), read from the store itself
    (every physical row, so a duplicate cannot hide behind the API's de-duplication). Stops the
    collector first: the embedded store admits one process."""
    from flightlog.storage import open_store

    collector.drain(timeout=600)
    collector.stop()
    store = open_store(dsn or f"chdb://{collector.data_dir / 'store'}")
    try:
        rows = store.query_rows("SELECT TraceId, count(), uniqExact(SpanId) FROM spans WHERE Project = 'default'"
                                " AND AgentName = 'loadgen' GROUP BY TraceId")
    finally:
        store.close()
    by_trace = {t: (int(n), int(u)) for t, n, u in rows}
    stored = sum(by_trace.get(t, (0, 0))[1] for t in acked)
    lost = sum(SPANS_PER_TRACE - by_trace.get(t, (0, 0))[1] for t in acked)
    duplicated = sum(n - u for n, u in by_trace.values())
    return stored, lost, duplicated


def _verify(collector: RunningCollector) -> bool:
    resp = httpx.get(collector.url + "/api/audit/verify", headers={"Authorization": f"Bearer {collector.admin_key}"},
                     timeout=1800)
    return bool(resp.json()["ok"])


def _load(collector: RunningCollector, first: int, acked: list[str], stop: threading.Event,
          statuses: Counter[int], senders: int = 3) -> list[threading.Thread]:
    counter = iter(range(first, first + 1_000_000))
    lock = threading.Lock()

    def send() -> None:
        client = httpx.Client(headers={"Content-Type": PB, "x-api-key": collector.ingest_key}, timeout=10)
        while not stop.is_set():
            with lock:
                n = next(counter)
            trace_id, body = make_request(n, text_bytes=300)
            try:
                resp = client.post(collector.url + "/v1/traces", content=body)
            except httpx.HTTPError:
                continue
            with lock:
                statuses[resp.status_code] += 1
                if resp.status_code == 200:
                    acked.append(trace_id)

    threads = [threading.Thread(target=send, daemon=True) for _ in range(senders)]
    for t in threads:
        t.start()
    return threads


def crash(run: ReliabilityRun, tmp: Path) -> Outcome:
    rng = random.Random(run.seed)
    acked: list[str] = []
    statuses: Counter[int] = Counter()
    data_dir = tmp / "crash"
    for r in range(run.rounds):
        collector = start_collector(data_dir)
        stop = threading.Event()
        threads = _load(collector, r * 100_000, acked, stop, statuses)
        moment = rng.choice(["load", "load", "start", "drain"])
        if moment != "start":
            wait_until(lambda: len(acked) >= r * 10 + rng.randint(5, 60), timeout=120, what="acknowledgements")
        if moment == "drain":
            stop.set()
        os.kill(collector.proc.pid, signal.SIGKILL)
        collector.proc.wait(10)
        stop.set()
        for t in threads:
            t.join(15)
    final = start_collector(data_dir)
    try:
        final.drain(timeout=300)
        verified = _verify(final)
        stored, lost, dup = _count(final, acked)
        return Outcome("crash", len(acked) * SPANS_PER_TRACE, stored, lost, dup,
                       sum(n for s, n in statuses.items() if s >= 500 and s != 503), verified,
                       f"{run.rounds} kill -9")
    finally:
        final.stop()


def disk_full(run: ReliabilityRun, tmp: Path) -> Outcome:
    if os.geteuid() != 0:
        return Outcome("disk-full", verify_ok=False, note="needs root to mount a tmpfs")
    mount = tmp / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)], check=True)
    try:
        env = {"FLIGHTLOG_MIN_FREE_DISK_BYTES": "0"}
        collector = start_collector(mount / "c", env=env)
        acked: list[str] = []
        statuses: Counter[int] = Counter()
        n = 0
        while statuses[503] < 20 and n < 50_000:
            trace_id, body = incompressible_request(n)  # the store's parts fill the disk too
            resp = collector.post("/v1/traces", body, PB)
            statuses[resp.status_code] += 1
            if resp.status_code == 200:
                acked.append(trace_id)
            n += 1
        os.kill(collector.proc.pid, signal.SIGKILL)
        collector.proc.wait(10)
        subprocess.run(["mount", "-o", "remount,size=2g", str(mount)], check=True)
        again = start_collector(mount / "c", env=env)
        try:
            again.drain(timeout=300)
            verified = _verify(again)
            stored, lost, dup = _count(again, acked)
            return Outcome("disk-full", len(acked) * SPANS_PER_TRACE, stored, lost, dup,
                           sum(v for s, v in statuses.items() if s >= 500 and s != 503), verified,
                           f"{statuses[503]} answers 503 at disk full")
        finally:
            again.stop()
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def store_down(run: ReliabilityRun, tmp: Path) -> Outcome:
    from support.harness import start_harness

    harness = start_harness(tmp / "server")
    env = {"FLIGHTLOG_DSN": harness.dsn("flightlog")}
    first = start_collector(tmp / "outage", env=env)
    first.stop()
    harness.kill()
    collector = start_collector(tmp / "outage", env=env)
    acked: list[str] = []
    statuses: Counter[int] = Counter()
    stop = threading.Event()
    threads = _load(collector, 0, acked, stop, statuses, senders=2)
    time.sleep(run.outage_s)  # the outage lasts this long: a benchmark's timed phase, not synchronisation
    harness.start()
    stop.set()
    for t in threads:
        t.join(15)
    try:
        collector.drain(timeout=600)
        verified = _verify(collector)
        stored, lost, dup = _count(collector, acked, harness.dsn("flightlog"))
        return Outcome("store-down", len(acked) * SPANS_PER_TRACE, stored, lost, dup,
                       sum(v for s, v in statuses.items() if s >= 500 and s != 503), verified,
                       f"store down {run.outage_s:.0f}s at start; {statuses[429]} answers 429")
    finally:
        collector.stop()
        harness.stop()


def _hostile_bodies(rng: random.Random, n: int) -> list[tuple[str, str, bytes, dict[str, str]]]:
    """(path, content type, body, extra headers) of ``n`` hostile requests."""
    from flightlog.collector.ingest.deep import _put_varint

    _, good = make_request(999_999)

    def ld(num: int, payload: bytes) -> bytes:
        return _put_varint((num << 3) | 2) + _put_varint(len(payload)) + payload

    def deep_proto(levels: int) -> bytes:
        value = ld(1, b"x")
        for i in range(levels):
            value = ld(6, ld(1, ld(1, b"k") + ld(2, value)))
        return ld(1, ld(2, ld(2, ld(1, bytes(16)[:-1] + b"\x01") + ld(2, b"\x01" * 8) + ld(5, b"deep")
                                + ld(9, ld(1, b"a") + ld(2, value)))))

    out = []
    kinds = ["random", "truncated", "flipped", "deep-json", "deep-proto", "bad-json", "types", "gzip-bomb",
             "bad-gzip", "content-type", "bad-ids", "huge-numbers", "utf8"]
    for i in range(n):
        kind = kinds[i % len(kinds)]
        path = rng.choice(["/v1/traces", "/v1/logs"])
        ctype, headers, body = PB, {}, b""
        if kind == "random":
            body = os.urandom(rng.randint(1, 5000))
        elif kind == "truncated":
            body = good[: rng.randint(1, len(good) - 1)]
        elif kind == "flipped":
            raw = bytearray(good)
            for _ in range(rng.randint(1, 20)):
                raw[rng.randrange(len(raw))] ^= 0xFF
            body = bytes(raw)
        elif kind == "deep-json":
            depth = rng.randint(100, 20_000)
            ctype, body = "application/json", ('{"resourceSpans":' + "[" * depth + "]" * depth + "}").encode()
        elif kind == "deep-proto":
            body, path = deep_proto(rng.randint(20, 400)), "/v1/traces"
        elif kind == "bad-json":
            ctype, body = "application/json", b'{"resourceSpans": [{"scopeSpans": [' + os.urandom(50)
        elif kind == "types":
            ctype, body = "application/json", json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [
                {"traceId": 5, "spanId": [], "startTimeUnixNano": "yesterday", "attributes": {"a": 1}}]}]}]}).encode()
        elif kind == "gzip-bomb":
            headers, body = {"Content-Encoding": "gzip"}, gzip.compress(b"\0" * (64 * 1024 * 1024))
        elif kind == "bad-gzip":
            headers, body = {"Content-Encoding": "gzip"}, os.urandom(100)
        elif kind == "content-type":
            ctype, body = rng.choice(["text/plain", "application/xml", "", "multipart/form-data"]), good
        elif kind == "bad-ids":
            ctype, body = "application/json", json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [
                {"traceId": "zz" * rng.randint(0, 40), "spanId": "12", "name": "x"}]}]}]}).encode()
        elif kind == "huge-numbers":
            ctype, body = "application/json", json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [
                {"traceId": "ab" * 16, "spanId": "cd" * 8, "name": "x", "startTimeUnixNano": str(10**30),
                 "endTimeUnixNano": "-5", "kind": 10**12, "attributes": [
                     {"key": "n", "value": {"intValue": str(10**40)}}]}]}]}]}).encode()
        elif kind == "utf8":
            ctype, body = "application/json", b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "\xff\xfe"}]}]}]}'
        out.append((path, ctype, body, headers))
    return out


def hostile(run: ReliabilityRun, tmp: Path) -> Outcome:
    rng = random.Random(run.seed)
    collector = start_collector(tmp / "hostile")
    try:
        trace_id, body = make_request(1)
        assert collector.post("/v1/traces", body, PB).status_code == 200
        collector.drain()
        before = collector.api("/api/spans", limit=1)["total"]
        statuses: Counter[int] = Counter()
        client = httpx.Client(timeout=60)
        for path, ctype, payload, extra in _hostile_bodies(rng, run.bodies):
            headers = {"x-api-key": collector.ingest_key, **({"Content-Type": ctype} if ctype else {}), **extra}
            statuses[client.post(collector.url + path, content=payload, headers=headers).status_code] += 1
        assert collector.proc.poll() is None, "the collector survived"
        after_id, after = make_request(2)
        ok_after = collector.post("/v1/traces", after, PB).status_code == 200
        collector.drain()
        total = collector.api("/api/spans", trace_id=trace_id, limit=1)["total"]
        verified = _verify(collector) and total == SPANS_PER_TRACE
        stored, lost, dup = _count(collector, [trace_id, after_id])
        return Outcome("hostile", 2 * SPANS_PER_TRACE, stored, lost + (0 if ok_after else SPANS_PER_TRACE), dup,
                       sum(v for s, v in statuses.items() if s >= 500), verified,
                       f"{run.bodies} bodies: " + ", ".join(f"{s}×{n}" for s, n in sorted(statuses.items()))
                       + f"; stored before {before}")
    finally:
        collector.stop()


SCENARIOS = {"crash": crash, "disk-full": disk_full, "store-down": store_down, "hostile": hostile}


@click.command()
@click.option("--only", type=click.Choice(sorted(SCENARIOS)), multiple=True, help="Run only these scenarios.")
@click.option("--rounds", default=5, show_default=True, help="kill -9 rounds of the crash scenario.")
@click.option("--outage-s", default=60.0, show_default=True, help="Seconds the store is down in store-down.")
@click.option("--bodies", default=1000, show_default=True, help="Hostile requests in the hostile scenario.")
@click.option("--seed", default=1, show_default=True, help="Seed of the kill moments and the hostile bodies.")
def main(only: tuple[str, ...], rounds: int, outage_s: float, bodies: int, seed: int) -> None:
    """Measure acknowledged vs stored spans under crashes, a full disk, an outage and hostile input."""
    run = ReliabilityRun(rounds=rounds, outage_s=outage_s, bodies=bodies, seed=seed)
    click.echo(repr(run))
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="flightlog-reliability-") as tmp:
        for name in only or SCENARIOS:
            started = time.monotonic()
            outcome = SCENARIOS[name](run, Path(tmp))
            outcomes.append(outcome)
            click.echo(f"{name}: {time.monotonic() - started:.0f}s", err=True)
    click.echo(f"\n{'scenario':12} {'acked':>8} {'stored':>8} {'lost':>5} {'dup':>5} {'5xx':>5} verify  note")
    for o in outcomes:
        click.echo(f"{o.scenario:12} {o.acked_spans:8} {o.stored_spans:8} {o.lost:5} {o.duplicated:5} {o.five_xx:5} "
                   f"{'OK' if o.verify_ok else 'FAIL':6}  {o.note}")
    raise SystemExit(0 if all(o.ok for o in outcomes) else 1)


if __name__ == "__main__":
    main()
