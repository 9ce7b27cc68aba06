"""Storage benchmark: ingest rate end to end vs the raw insert ceiling, then query latencies.

    python bench/storage_bench.py --spans 1000000 --raw-spans 200000 --repeat 20 --write-docs

Steps (each with a progress bar):
1. generate the workload (bench/generator.py: fixed seed, explicit sizes) and encode it as
   OTLP/HTTP protobuf requests of ~``--request-spans`` spans, before any clock starts;
2. raw ceiling: the same spans normalised by the collector's own pipeline, inserted
   straight into a fresh store with the same schema in batches of ``--batch-rows`` (with
   and without the store's dedupe check);
3. end to end: a ``flightlog serve`` subprocess with a fresh embedded store receives every
   request over HTTP (``--senders`` concurrent clients); the clock stops when the store
   holds every span (spool drained) — the count is checked, then spans/s and the
   collector's peak RSS (VmHWM) are reported;
4. the collector is stopped, the store opened here with the query condition cache off
   (first-run figures: the query condition cache is off) and each query run ``--repeat`` times: p50 / p95 ms.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click
import httpx
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generator import AGENTS, COMMON_WORD, INCIDENT_WORD, MODELS, RARE_WORDS, Generator, Workload, encode_request  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "storage" / "benchmark.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


@dataclasses.dataclass(frozen=True)
class BenchSettings:
    spans: int
    raw_spans: int
    days: int
    seed: int
    repeat: int
    request_spans: int
    batch_rows: int
    senders: int
    workdir: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _proc_kb(pid: int, field: str) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    m = re.search(rf"^{field}:\s+(\d+) kB", text, re.M)
    return int(m.group(1)) if m else 0


def generate(s: BenchSettings) -> tuple[list[tuple[int, bytes]], list[dict], Generator]:
    gen = Generator(Workload(spans=s.spans, days=s.days, seed=s.seed))
    requests: list[tuple[int, bytes]] = []
    raw: list[dict] = []
    pending: list[dict] = []
    with tqdm(total=s.spans, desc="generate + encode", unit="span") as bar:
        for trace in gen.traces():
            pending.extend(trace)
            if len(raw) < s.raw_spans:
                raw.extend(trace[: s.raw_spans - len(raw)])
            if len(pending) >= s.request_spans:
                requests.append((len(pending), encode_request(pending)))
                bar.update(len(pending))
                pending = []
        if pending:
            requests.append((len(pending), encode_request(pending)))
            bar.update(len(pending))
    return requests, raw, gen


def raw_ceiling(s: BenchSettings, raw: list[dict]) -> dict:
    """Insert the pipeline's rows for ``raw`` straight into fresh stores; rows/s."""
    from flightlog.collector.ingest.pipeline import rows_from_spans
    from flightlog.collector.pricing import load_prices
    from flightlog.storage import Store, open_store
    from flightlog.storage.schema import SPAN_COLUMNS, span_row_values

    prices = load_prices()
    values = []
    for i in tqdm(range(0, len(raw), 1000), desc="normalise (untimed)", unit="kspan"):
        values.extend(span_row_values(r) for r in rows_from_spans(raw[i:i + 1000], project="default", prices=prices))
    path = Path(s.workdir) / "raw"
    store = open_store(f"chdb://{path}/store")
    out = {}
    try:
        for label, database in (("unchecked", "flightlog"), ("checked", "checked")):
            target = store if database == "flightlog" else Store(dataclasses.replace(store.settings, database=database))
            if target is not store:
                from flightlog.storage.migrate import apply_migrations

                apply_migrations(target)
            insert = (lambda t, rows, cols: target.insert(t, rows, cols)) if label == "unchecked" else (
                lambda t, rows, cols: target.insert_spans(rows, cols))
            t0 = time.perf_counter()
            for i in tqdm(range(0, len(values), s.batch_rows), desc=f"raw insert ({label})", unit="batch"):
                insert("spans", values[i:i + s.batch_rows], SPAN_COLUMNS)
            elapsed = time.perf_counter() - t0
            count = target.query_rows("SELECT count() FROM spans")[0][0]
            assert count == len(values), f"raw store holds {count} of {len(values)} rows"
            out[label] = len(values) / elapsed
            if target is not store:
                target.close()
    finally:
        store.close()
    shutil.rmtree(path, ignore_errors=True)
    return out


def end_to_end(s: BenchSettings, requests: list[tuple[int, bytes]]) -> dict:
    data_dir = Path(s.workdir) / "e2e"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLIGHTLOG_", "OTEL_"))}
    log = (data_dir / "collector.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "flightlog.collector.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--data-dir", str(data_dir), "--grpc-port", "0"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            raise click.ClickException(f"collector did not start; see {data_dir / 'collector.log'}")
        time.sleep(0.2)  # start-up poll with a deadline
    keys = json.loads((data_dir / "dev-keys.json").read_text())
    total = sum(n for n, _ in requests)
    rss_peak = [0]
    stop = threading.Event()

    def sample_rss() -> None:
        while not stop.wait(0.5):
            rss_peak[0] = max(rss_peak[0], _proc_kb(proc.pid, "VmRSS"))

    def stored() -> tuple[float, float]:
        text = httpx.get(url + "/metrics", headers={"Authorization": f"Bearer {keys['read_key']}"}, timeout=10).text
        got = dict(re.findall(r"^(flightlog_spans_stored(?:_total)?|flightlog_spool_rows) (\S+)$", text, re.M))
        return float(got.get("flightlog_spans_stored_total", got.get("flightlog_spans_stored", 0))), float(got.get("flightlog_spool_rows", 0))

    threading.Thread(target=sample_rss, daemon=True).start()
    bar = tqdm(total=total, desc="ingest over OTLP/HTTP", unit="span")
    lock = threading.Lock()
    rejected = [0]

    def send(item: tuple[int, bytes], client: httpx.Client) -> None:
        n, body = item
        while True:
            r = client.post(url + "/v1/traces", content=body, headers={
                "Content-Type": "application/x-protobuf", "x-api-key": keys["ingest_key"]})
            if r.status_code == 200:
                break
            if r.status_code in (429, 503):
                with lock:
                    rejected[0] += 1
                time.sleep(float(r.headers.get("Retry-After", "1")))  # the server asked us to back off
                continue
            raise RuntimeError(f"ingest answered {r.status_code}: {r.text[:200]}")
        with lock:
            bar.update(n)

    clients = [httpx.Client(timeout=120) for _ in range(s.senders)]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(s.senders) as pool:
        list(pool.map(lambda ix: send(ix[1], clients[ix[0] % s.senders]), enumerate(requests)))
    acked = time.perf_counter() - t0
    bar.close()
    with tqdm(total=total, desc="stored (queryable)", unit="span") as done_bar:
        while True:
            n, spool = stored()
            done_bar.n = int(n)
            done_bar.refresh()
            if n >= total and spool == 0:
                break
            time.sleep(0.2)  # polling the collector's metrics
    elapsed = time.perf_counter() - t0
    stop.set()
    hwm = _proc_kb(proc.pid, "VmHWM")
    proc.terminate()
    proc.wait(120)
    for c in clients:
        c.close()
    return {"spans": total, "seconds": elapsed, "acked_seconds": acked, "spans_per_s": total / elapsed,
            "rss_peak_mb": max(hwm, rss_peak[0]) / 1024, "throttled": rejected[0],
            "store_bytes": _du(data_dir / "store"), "data_dir": str(data_dir)}


def replicate(store, spans: int, factor: int) -> None:
    """Grow the store to ``spans × factor`` rows: copies with new ids (last id byte = copy
    number) and start times shifted by copy × 37 s, through INSERT … SELECT so the
    materialized views see them like any insert. Copies carry IngestTime 2000-01-01 + k ms,
    which is how the originals (the only source rows) are told apart."""
    from flightlog.storage.schema import SPAN_COLUMNS

    changed = {
        "TraceId": "concat(substring(TraceId, 1, 30), lower(hex(toUInt8({k:UInt8}))))",
        "SpanId": "concat(substring(SpanId, 1, 14), lower(hex(toUInt8({k:UInt8}))))",
        "ParentSpanId": "if(ParentSpanId = '', '', concat(substring(ParentSpanId, 1, 14), lower(hex(toUInt8({k:UInt8})))))",
        "Timestamp": "Timestamp + toIntervalSecond(37 * {k:UInt8})",
        "IngestTime": "toDateTime64('2000-01-01 00:00:00', 3, 'UTC') + toIntervalMillisecond({k:UInt8})",
    }
    cols = ", ".join(f"`{c}`" for c in SPAN_COLUMNS)
    select = ", ".join(changed.get(c, f"`{c}`") for c in SPAN_COLUMNS)
    days = [r[0] for r in store.query_rows("SELECT DISTINCT toDate(Timestamp) FROM spans ORDER BY 1")]
    with tqdm(total=len(days) * (factor - 1), desc=f"replicate ×{factor}", unit="day") as bar:
        for k in range(1, factor):
            for day in days:  # one day per INSERT … SELECT keeps memory bounded
                store.command(
                    f"INSERT INTO spans ({cols}) SELECT {select} FROM spans"
                    " WHERE toDate(Timestamp) = {d:Date} AND IngestTime > toDateTime64('2001-01-01 00:00:00', 3, 'UTC')",
                    {"k": k, "d": day},
                )
                bar.update(1)


def queries_phase(s: BenchSettings, data_dir: str, gen: Generator, factor: int = 1) -> dict:
    from flightlog.storage import costs, open_store, queries
    from flightlog.storage.filters import SpanFilter

    store = open_store(f"chdb://{data_dir}/store")
    store.read_settings["use_query_condition_cache"] = 0
    if factor > 1 and store.query_rows("SELECT count() FROM spans")[0][0] == s.spans:
        replicate(store, s.spans, factor)
    count = store.query_rows("SELECT count() FROM spans")[0][0]
    assert count >= s.spans, f"store holds {count} spans, sent {s.spans}"
    end = datetime.fromtimestamp(gen.w.end_ns / 1e9, tz=timezone.utc)
    agents, models = list(AGENTS), MODELS
    ids = gen.markers.sample_trace_ids

    def rare(i: int) -> int:
        found = queries.search_spans(store, "default", SpanFilter(q=RARE_WORDS[i % len(RARE_WORDS)]), limit=50)
        assert found["total"] >= 1
        return found["total"]

    def common(i: int) -> int:
        flt = SpanFilter(q=COMMON_WORD, start=end - timedelta(days=7), end=end,
                         model=models[i % 6], equals={"agent": agents[i % len(agents)]})
        return queries.search_spans(store, "default", flt, limit=50)["total"]

    def by_id(i: int) -> int:
        trace = queries.get_trace(store, "default", ids[i % len(ids)])
        return trace["span_count"]

    def trace_back(i: int) -> int:
        hit = queries.search_spans(store, "default", SpanFilter(q=INCIDENT_WORD, status="error"), limit=1)["items"][0]
        trace = queries.get_trace(store, "default", hit["trace_id"])
        by_span = {sp["span_id"]: sp for sp in trace["spans"]}
        chain, cur = [], by_span[hit["span_id"]]
        while cur is not None:
            chain.append(cur["span_name"])
            cur = by_span.get(cur.get("parent_span_id") or "")
        return len(chain)

    def dashboard(i: int) -> int:
        rows = costs.cost_summary(store, "default", ["day", "model"],
                                    start=end - timedelta(days=30, seconds=-1234 - i), end=end - timedelta(seconds=77 + i))
        return len(rows)

    def breakdown(i: int) -> int:
        rows = costs.usage_breakdown(store, "default", ["prompt_version"], start=end - timedelta(days=30), end=end,
                                       equals={"span_type": "llm", "agent": agents[i % len(agents)]})
        return len(rows)

    cases = [("rare-word search (30 days, no filter)", rare), ("common word + agent/model filters (7 days)", common),
             ("trace by id", by_id), ("incident trace-back (deep trace, 121 spans)", trace_back),
             ("30-day cost dashboard (day × model)", dashboard), ("breakdown by prompt version (30 days)", breakdown)]
    out = {}
    try:
        for name, fn in cases:
            times, last = [], 0
            for i in tqdm(range(s.repeat), desc=name[:40], unit="run"):
                t0 = time.perf_counter()
                last = fn(i)
                times.append((time.perf_counter() - t0) * 1000)
            times.sort()
            out[name] = {"p50_ms": statistics.median(times),
                         "p95_ms": times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))],
                         "result": last}
    finally:
        store.close()
    return out


def machine() -> str:
    from collector_process import cpu_model

    cpu = cpu_model()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import chdb

    return (f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GB RAM, Python {platform.python_version()}, "
            f"chDB {chdb.__version__}, {platform.system()} {platform.release()}")


def query_table(s: BenchSettings, q: dict, factor: int, size: int) -> str:
    n = s.spans * factor
    how = "" if factor == 1 else f" ({s.spans:,} generated spans ×{factor}: copies with new ids, times shifted by k×37 s)"
    lines = [
        f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {machine()}.",
        "",
        f"Queries at {n:,} stored spans{how}, {s.days} days, {s.repeat} runs each, query condition cache off;"
        f" store {size / (n / 1e6) / 2**20:,.0f} MB per million spans:",
        "",
        "| query | p50 ms | p95 ms |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {v['p50_ms']:,.1f} | {v['p95_ms']:,.1f} |" for name, v in q.items()]
    return "\n".join(lines)


def table(s: BenchSettings, raw: dict, e2e: dict, q: dict) -> str:
    per_m = e2e["store_bytes"] / (s.spans / 1e6) / 2**20
    lines = [
        f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {machine()}.",
        f"Settings: `{s!r}`",
        "",
        "| measure | value |",
        "|---|---|",
        f"| ingest end to end (OTLP/HTTP protobuf → collector → queryable), {e2e['spans']:,} spans | "
        f"**{e2e['spans_per_s']:,.0f} spans/s** ({e2e['seconds']:.0f} s; acknowledged after {e2e['acked_seconds']:.0f} s; {e2e['throttled']} throttled requests) |",
        f"| raw insert of the same rows, batches of {s.batch_rows:,} (ceiling, no dedupe check) | {raw['unchecked']:,.0f} rows/s |",
        f"| raw insert with the store's dedupe check | {raw['checked']:,.0f} rows/s |",
        f"| end to end / raw ceiling | {e2e['spans_per_s'] / raw['unchecked']:.0%} |",
        f"| collector peak RSS during ingest | {e2e['rss_peak_mb']:,.0f} MB |",
        f"| store size on disk | {per_m:,.0f} MB per million spans |",
        "",
        f"Queries at {s.spans:,} stored spans ({s.days} days), {s.repeat} runs each, query condition cache off:",
        "",
        "| query | p50 ms | p95 ms |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {v['p50_ms']:,.1f} | {v['p95_ms']:,.1f} |" for name, v in q.items()]
    return "\n".join(lines)


@click.command(help=__doc__.split("\n\n")[0])
@click.option("--spans", type=int, default=1_000_000, show_default=True, help="Spans to generate, ingest and query.")
@click.option("--raw-spans", type=int, default=200_000, show_default=True, help="Leading spans used for the raw insert ceiling.")
@click.option("--days", type=int, default=30, show_default=True, help="Days the workload spans.")
@click.option("--seed", type=int, default=7, show_default=True, help="Generator seed.")
@click.option("--repeat", type=int, default=20, show_default=True, help="Runs per query.")
@click.option("--request-spans", type=int, default=512, show_default=True, help="Spans per OTLP request (OTel batch size).")
@click.option("--batch-rows", type=int, default=5000, show_default=True, help="Rows per raw insert (the collector's batch).")
@click.option("--senders", type=int, default=4, show_default=True, help="Concurrent HTTP senders.")
@click.option("--workdir", default=None, help="Where stores go (default: a temp dir, removed unless --keep).")
@click.option("--keep", is_flag=True, help="Keep the loaded store.")
@click.option("--write-docs", is_flag=True, help="Write the table into docs/storage/benchmark.md.")
@click.option("--reuse-store", default=None,
              help="Skip ingest: query the store a previous run kept in this data dir (same --spans/--seed).")
@click.option("--replicate", type=int, default=1, show_default=True,
              help="With --reuse-store: grow the store ×N (copies with new ids and shifted times) before querying.")
def main(spans: int, raw_spans: int, days: int, seed: int, repeat: int, request_spans: int, batch_rows: int,
         senders: int, workdir: str | None, keep: bool, write_docs: bool, reuse_store: str | None,
         replicate: int) -> None:
    work = workdir or tempfile.mkdtemp(prefix="flightlog-bench-")
    s = BenchSettings(spans, min(raw_spans, spans), days, seed, repeat, request_spans, batch_rows, senders, work)
    click.echo(repr(s))
    if reuse_store:
        gen = Generator(Workload(spans=s.spans, days=s.days, seed=s.seed))
        for _ in tqdm(gen.traces(), total=gen.traces_expected, desc="regenerate markers", unit="trace"):
            pass
        q = queries_phase(s, reuse_store, gen, factor=replicate)
        size = _du(Path(reuse_store) / "store")
        out = query_table(s, q, replicate, size)
        click.echo("\n" + out)
        results = Path(__file__).resolve().parent / "results"
        results.mkdir(exist_ok=True)
        (results / f"last-x{replicate}.json").write_text(json.dumps({"queries": q, "table": out}, indent=2))
        return
    requests, raw, gen = generate(s)
    raw_rates = raw_ceiling(s, raw)
    del raw
    e2e = end_to_end(s, requests)
    del requests
    q = queries_phase(s, e2e["data_dir"], gen)
    out = table(s, raw_rates, e2e, q)
    click.echo("\n" + out)
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    (results / "last.json").write_text(json.dumps({"settings": dataclasses.asdict(s), "raw": raw_rates, "e2e": e2e,
                                                   "queries": q, "table": out}, indent=2))
    if write_docs and DOCS.exists():
        text = DOCS.read_text()
        if START in text and END in text:
            head, rest = text.split(START, 1)
            DOCS.write_text(head + START + "\n" + out + "\n" + END + rest.split(END, 1)[1])
    if not keep and not workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
