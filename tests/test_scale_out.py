"""Several collectors on one ClickHouse server (docs/scale-out.md).

Real processes throughout: the ClickHouse-HTTP harness over chDB (tests/support/), two or three
``flightlog serve`` subprocesses on ``--dsn http://…`` and the real OTLP/HTTP exporter sending
the same spans to both collectors, different spans to each, and batches again. Every span
must be stored once and counted once in the rollups, whoever received it and however often;
``flightlog verify`` checks the chain on the result.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from conftest import RunningCollector, clean_env, start_collector, wait_until
from support.harness import Harness, start_harness

pytestmark = pytest.mark.timeout(600)

TOKENS_IN, TOKENS_OUT = 11, 7  # per LLM span
COLLECTOR_ENV = {"FLIGHTLOG_ANCHOR_INTERVAL_S": "0", "FLIGHTLOG_FLUSH_INTERVAL_MS": "50"}


# -- helpers ----------------------------------------------------------------------------------
def make_spans(tag: str, traces: int, children: int = 2) -> list[ReadableSpan]:
    """``traces`` agent runs of one root and ``children`` LLM calls each, made by the real SDK."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": f"scale-{tag}"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests.scale")
    for n in range(traces):
        with tracer.start_as_current_span(f"invoke_agent scale-{tag}") as root:
            root.set_attributes({"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": f"scale-{tag}",
                                 "run": n})
            for i in range(children):
                with tracer.start_as_current_span("chat gpt-4o-mini") as llm:
                    llm.set_attributes({"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini",
                                        "gen_ai.usage.input_tokens": TOKENS_IN,
                                        "gen_ai.usage.output_tokens": TOKENS_OUT, "step": i})
    provider.shutdown()
    return list(memory.get_finished_spans())


def exporter(collector: RunningCollector, key: str, *, timeout: float = 10.0) -> OTLPSpanExporter:
    return OTLPSpanExporter(endpoint=f"{collector.url}/v1/traces", headers={"x-api-key": key}, timeout=timeout)


def batches(spans: Sequence[ReadableSpan], size: int) -> list[Sequence[ReadableSpan]]:
    return [spans[i:i + size] for i in range(0, len(spans), size)]


def ids(spans: Sequence[ReadableSpan]) -> set[tuple[str, str]]:
    return {(format(s.context.trace_id, "032x"), format(s.context.span_id, "016x")) for s in spans}


def llm_count(spans: Sequence[ReadableSpan]) -> int:
    return sum(1 for s in spans if s.name.startswith("chat"))


def stored(ch: Harness) -> dict[str, Any]:
    """What the store holds: physical span rows, distinct spans, and the hourly rollup's totals."""
    client = ch.client(database="flightlog")
    rows, distinct = client.query("SELECT count(), uniqExact(TraceId, SpanId) FROM spans").result_rows[0]
    spans, tokens_in, tokens_out = client.query(
        "SELECT sum(Spans), sum(InputTokens), sum(OutputTokens) FROM usage_hourly").result_rows[0]
    daily = client.query("SELECT sum(Spans) FROM usage_users_daily").result_rows[0][0]
    keys = {(t, s) for t, s in client.query("SELECT TraceId, SpanId FROM spans").result_rows}
    client.close()
    return {"rows": rows, "distinct": distinct, "rollup_spans": spans, "daily_spans": daily,
            "tokens_in": tokens_in, "tokens_out": tokens_out, "keys": keys}


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flightlog.collector.cli", *args], capture_output=True, text=True,
                          env={**clean_env(), **(env or {})}, timeout=timeout)


def verify_ok(dsn: str, project: str = "default") -> dict[str, Any]:
    done = run_cli("verify", "--project", project, "--dsn", dsn, "--json")
    report = json.loads(done.stdout)
    assert done.returncode == 0 and report["ok"], done.stdout[-3000:] + done.stderr[-3000:]
    return report


def start_pair(tmp_path: Path, ch: Harness, *, env: dict[str, str] | None = None,
               count: int = 2) -> list[RunningCollector]:
    """``count`` collectors on one server; the first creates the keys, the others use them."""
    common = {**COLLECTOR_ENV, "FLIGHTLOG_DSN": ch.dsn("flightlog"), **(env or {})}
    first = start_collector(tmp_path / "c0", env=common)
    out = [first]
    for n in range(1, count):
        other = start_collector(tmp_path / f"c{n}", env=common, wait_for_keys=False)
        other.ingest_key, other.read_key, other.admin_key = first.ingest_key, first.read_key, first.admin_key
        out.append(other)
    for c in out:  # connected to the server (and its key snapshot written, for outages)
        wait_until(lambda c=c: ready(c), timeout=60, what=f"{c.url}/readyz")
    return out


def ready(collector: RunningCollector) -> bool:
    try:
        return httpx.get(collector.url + "/readyz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Harness, list[RunningCollector]]]:
    ch = start_harness(tmp_path / "ch")
    collectors = start_pair(tmp_path, ch)
    yield ch, collectors
    for c in collectors:
        c.stop()
    ch.stop()


def send_all(target: OTLPSpanExporter, parts: Sequence[Sequence[ReadableSpan]]) -> list[Sequence[ReadableSpan]]:
    """Export each batch; returns the acknowledged ones."""
    return [part for part in parts if target.export(part) == SpanExportResult.SUCCESS]


def in_parallel(*jobs: Any) -> list[Any]:
    results: list[Any] = [None] * len(jobs)

    def run(i: int, job: Any) -> None:
        results[i] = job()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    return results


# -- tests ------------------------------------------------------------------------------------
def test_the_same_spans_sent_to_two_collectors_are_stored_and_counted_once(
        cluster: tuple[Harness, list[RunningCollector]]) -> None:
    ch, (a, b) = cluster
    shared = make_spans("both", 60)
    only_a, only_b = make_spans("a", 8), make_spans("b", 8)
    to_a, to_b = exporter(a, a.ingest_key), exporter(b, b.ingest_key)
    # A gets the shared spans first to last, B last to first, at the same time: they meet in the
    # middle, where both store the same spans at the same moment. Each also gets spans of its own,
    # then B gets every shared span again, batched otherwise.
    parts = batches(shared, 3)
    acked = in_parallel(lambda: send_all(to_a, parts + batches(only_a, 5)),
                        lambda: send_all(to_b, parts[::-1] + batches(only_b, 5)))
    assert [len(x) for x in acked] == [len(parts) + len(batches(only_a, 5))] * 2, "all acknowledged"
    assert send_all(to_b, batches(shared, 25)) == batches(shared, 25)
    a.drain()
    b.drain()
    everything = [*shared, *only_a, *only_b]
    got = stored(ch)
    assert got["keys"] == ids(everything)
    assert got["rows"] == got["distinct"] == len(everything), "each span stored once (no copy waiting for a merge)"
    assert got["rollup_spans"] == got["daily_spans"] == len(everything), "each span counted once in the rollups"
    assert got["tokens_in"] == TOKENS_IN * llm_count(everything)
    assert got["tokens_out"] == TOKENS_OUT * llm_count(everything)
    # Both collectors answer the same, whichever one is asked.
    for c in (a, b):
        assert c.api("/api/spans", agent="scale-both", limit=1)["total"] == len(shared)
    report = verify_ok(ch.dsn("flightlog"))
    assert report["spans_ok"] == len(everything)


def restart(collector: RunningCollector, env: dict[str, str]) -> RunningCollector:
    """The same collector (data dir, port, instance id) started again; it replays its spool."""
    port = int(collector.url.rsplit(":", 1)[1])
    again = start_collector(collector.data_dir, env=env, port=port, wait_for_keys=False)
    again.ingest_key, again.read_key, again.admin_key = collector.ingest_key, collector.read_key, collector.admin_key
    return again


def test_a_collector_killed_mid_load_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    ch = start_harness(tmp_path / "ch")
    a, b = start_pair(tmp_path, ch)
    try:
        shared = make_spans("kill", 50)
        parts = batches(shared, 5)
        kill_at = len(parts) // 3
        to_a = exporter(a, a.ingest_key, timeout=2)
        to_b = exporter(b, b.ingest_key)

        def a_until_killed() -> list[Sequence[ReadableSpan]]:
            done = []
            for i, part in enumerate(parts):
                if i == kill_at:
                    os.kill(a.proc.pid, signal.SIGKILL)  # no drain, no clean shutdown
                    a.proc.wait(10)
                if to_a.export(part) == SpanExportResult.SUCCESS:
                    done.append(part)
            return done

        acked_a, acked_b = in_parallel(a_until_killed, lambda: send_all(to_b, parts[::-1]))
        assert len(acked_a) == kill_at, "acknowledged until the kill, refused after"
        assert acked_b == parts[::-1]
        a = restart(a, {**COLLECTOR_ENV, "FLIGHTLOG_DSN": ch.dsn("flightlog")})
        assert send_all(exporter(a, a.ingest_key), parts[kill_at:]) == parts[kill_at:], "the exporter's retry"
        a.drain()
        b.drain()
        got = stored(ch)
        assert got["keys"] == ids(shared)
        assert got["rows"] == got["distinct"] == got["rollup_spans"] == got["daily_spans"] == len(shared)
        assert got["tokens_in"] == TOKENS_IN * llm_count(shared)
        verify_ok(ch.dsn("flightlog"))
    finally:
        a.stop()
        b.stop()
        ch.stop()


def post_spans(collector: RunningCollector, spans: Sequence[ReadableSpan]) -> httpx.Response:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    return collector.post("/v1/traces", encode_spans(spans).SerializeToString(), "application/x-protobuf")


def spool_bytes(collector: RunningCollector) -> float:
    resp = httpx.get(collector.url + "/readyz", timeout=10)
    return float(resp.json()["spool"]["bytes"])


def test_server_killed_mid_load_every_collector_spools_429_only_when_full_then_drains(tmp_path: Path) -> None:
    ch = start_harness(tmp_path / "ch")
    small = 40_000  # B's spool holds a few dozen of these spans
    a, b = start_pair(tmp_path, ch)
    b.stop()
    env_b = {**COLLECTOR_ENV, "FLIGHTLOG_DSN": ch.dsn("flightlog"), "FLIGHTLOG_MAX_SPOOL_BYTES": str(small)}
    b = restart(b, env_b)
    wait_until(lambda: ready(b), timeout=60, what="B ready")
    try:
        before = make_spans("before", 10)
        during = make_spans("during", 40)
        to_a = exporter(a, a.ingest_key)
        assert in_parallel(lambda: send_all(to_a, batches(before, 5)),
                           lambda: send_all(exporter(b, b.ingest_key), batches(before, 5)[::-1])) \
            == [batches(before, 5), batches(before, 5)[::-1]]
        ch.kill()  # mid-load: the writers may be half way through a segment
        # A spools everything; B answers 200 until its spool is full, then 429 with Retry-After.
        acked_a = send_all(to_a, batches(during, 5))
        assert acked_a == batches(during, 5)
        statuses, acked_b, refused = [], [], []
        for part in batches(during, 3):
            resp = post_spans(b, part)
            statuses.append(resp.status_code)
            if resp.status_code == 200:
                acked_b.append(part)
            else:
                assert resp.status_code == 429 and int(resp.headers["Retry-After"]) > 0, resp.text
                assert spool_bytes(b) > small * 0.5, "429 only with a (nearly) full spool"
                refused.append(part)
        assert acked_b and refused, f"B took some and refused the rest: {statuses}"
        assert statuses == sorted(statuses), f"no 429 before the spool filled: {statuses}"
        ch.start()
        a.drain(timeout=90)
        b.drain(timeout=90)
        assert post_spans(b, refused[0]).status_code == 200, "B takes spans again once drained"
        b.drain()
        got = stored(ch)
        everything = [*before, *during]
        assert got["keys"] == ids(everything), "nothing acknowledged is lost"
        assert got["rows"] == got["distinct"] == got["rollup_spans"] == len(everything), "nothing counted twice"
        verify_ok(ch.dsn("flightlog"))
    finally:
        a.stop()
        b.stop()
        ch.stop()


def test_a_key_revoked_through_one_collector_stops_working_on_the_other_within_5_s(
        cluster: tuple[Harness, list[RunningCollector]]) -> None:
    from test_control_api import call, new_key

    _, (a, b) = cluster
    key = new_key(a, "engineer", "Temp Reader")
    assert call(b, "GET", "/api/spans", key).status_code == 200, "B knows the key (and caches it)"
    key_id = next(k["key_id"] for k in call(a, "GET", "/api/admin/keys", a.admin_key).json()["keys"]
                  if k["name"] == "Temp Reader")
    assert call(a, "DELETE", f"/api/admin/keys/{key_id}", a.admin_key).status_code == 200
    wait_until(lambda: call(b, "GET", "/api/spans", key).status_code == 401, timeout=5,
               what="the revoked key to be refused by the other collector")


def test_a_pause_and_a_policy_set_through_one_collector_reach_agents_long_polling_the_other(
        cluster: tuple[Harness, list[RunningCollector]]) -> None:
    import time

    from test_control_api import call

    _, (a, b) = cluster
    first = call(b, "GET", "/api/control/state", b.ingest_key)
    etag = first.headers["ETag"]
    result: dict[str, Any] = {}

    def long_poll() -> None:  # an agent's SDK waiting on B for a change
        started = time.monotonic()
        resp = call(b, "GET", "/api/control/state", b.ingest_key, params={"wait_s": 20},
                    headers={"If-None-Match": etag})
        result.update(status=resp.status_code, body=resp.json() if resp.status_code == 200 else {},
                      waited=time.monotonic() - started)

    poller = threading.Thread(target=long_poll)
    poller.start()
    changed_at = time.monotonic()
    assert call(a, "POST", "/api/control/pause", a.admin_key,
                json={"reason": "incident", "agent": "scale-both"}).status_code == 200
    poller.join(30)
    assert result["status"] == 200, "the long-poll on B ends with the change made on A"
    assert [p["agent"] for p in result["body"]["pauses"]] == ["scale-both"]
    assert time.monotonic() - changed_at < 5, "within 5 s"
    assert call(a, "PUT", "/api/policies", a.admin_key,
                json={"agent": "scale-both", "on_unreachable": "closed"}).status_code == 200
    wait_until(lambda: any(p["agent"] == "scale-both" for p in
                           call(b, "GET", "/api/control/state", b.ingest_key).json()["policies"]),
               timeout=5, what="the policy on the other collector")


def test_an_approval_decided_on_two_collectors_at_once_is_decided_and_notified_once(
        cluster: tuple[Harness, list[RunningCollector]]) -> None:
    from test_control_api import Receiver, call, new_key, propose

    ch, (a, b) = cluster
    hook = Receiver()
    assert call(a, "PUT", "/api/admin/notifications", a.admin_key,
                json={"targets": [{"url": hook.url}]}).status_code == 200
    dana = new_key(a, "engineer", "Dana Reviewer", ["approve"])
    sam = new_key(a, "engineer", "Sam Reviewer", ["approve"])
    approvals = [propose(a if n % 2 else b, f"race-{n}", {"order": n}).json() for n in range(4)]
    assert len({x["id"] for x in approvals}) == 4
    again = propose(b, "race-1", {"order": 1})
    assert again.status_code == 200 and again.json()["id"] == approvals[1]["id"], "one approval per idempotency key"
    barrier = threading.Barrier(2)

    def decide(collector: RunningCollector, key: str, approval_id: str, decision: str) -> int:
        barrier.wait(30)
        return call(collector, "POST", f"/api/approvals/{approval_id}/decide", key,
                    json={"decision": decision, "reason": "race"}).status_code

    for approval in approvals:
        codes = in_parallel(lambda aid=approval["id"]: decide(a, dana, aid, "approve"),
                            lambda aid=approval["id"]: decide(b, sam, aid, "reject"))
        assert sorted(codes) == [200, 409], f"decided once: {codes}"
    ids_ = {x["id"] for x in approvals}

    def decided() -> list[dict[str, Any]]:
        return [r for r in hook.delivered("approval.decided") if r["body"]["approval"]["id"] in ids_]

    wait_until(lambda: len(decided()) >= 4, timeout=30, what="a webhook per decision")
    deliveries = lambda: call(a, "GET", "/api/admin/notifications/deliveries", a.admin_key).json()["deliveries"]  # noqa: E731
    wait_until(lambda: all(d["status"] == "delivered" for d in deliveries()), timeout=30,
               what="the whole outbox delivered")
    assert len(decided()) == 4, "each decision posted once, by one collector"
    assert sorted(r["body"]["approval"]["id"] for r in hook.delivered("approval.requested")) == sorted(ids_)
    for approval in approvals:  # both collectors tell the same decision
        assert call(a, "GET", f"/api/approvals/{approval['id']}", a.read_key).json()["status"] == \
            call(b, "GET", f"/api/approvals/{approval['id']}", b.read_key).json()["status"]
    hook.shutdown()


def test_a_lease_is_held_by_one_taker_at_a_time_and_a_dead_holders_runs_out(tmp_path: Path) -> None:
    from flightlog.storage import open_store
    from flightlog.storage.leases import Lease, LeaseLost

    ch = start_harness(tmp_path / "ch")
    stores = [open_store(ch.dsn("flightlog")) for _ in range(4)]
    try:
        leases = [Lease(s, "test", f"owner-{i}", ttl_s=2) for i, s in enumerate(stores)]
        inside: list[str] = []
        overlaps: list[tuple[str, ...]] = []
        turns = {lease.owner: 0 for lease in leases}
        guard = threading.Lock()

        def take_turns(lease: Lease) -> None:
            for _ in range(5):
                with lease.hold(timeout=60):
                    with guard:
                        inside.append(lease.owner)
                        if len(inside) > 1:
                            overlaps.append(tuple(inside))
                    lease.store.query_rows("SELECT 1")  # a query while holding it, as the writer does
                    with guard:
                        inside.remove(lease.owner)
                        turns[lease.owner] += 1

        in_parallel(*[lambda lease=lease: take_turns(lease) for lease in leases])
        assert overlaps == [], "never two holders at once"
        assert turns == {lease.owner: 5 for lease in leases}
        # A holder that never releases (a killed collector): the others wait until its TTL ran out.
        dead = leases[0].hold(timeout=5)
        dead.__enter__()
        with pytest.raises(LeaseLost):
            with leases[1].hold(timeout=0.5):
                pass
        with leases[1].hold(timeout=10):
            assert not leases[0].usable(), "the dead holder's turn is over"
            with pytest.raises(LeaseLost):
                leases[0].check()
    finally:
        for s in stores:
            s.close()
        ch.stop()


def test_collectors_started_together_on_a_new_server_migrate_once_and_make_one_set_of_keys(tmp_path: Path) -> None:
    from flightlog.collector.auth import KEY_SNAPSHOT_FILE

    ch = start_harness(tmp_path / "ch")
    env = {**COLLECTOR_ENV, "FLIGHTLOG_DSN": ch.dsn("flightlog")}
    procs = [subprocess.Popen([sys.executable, "-m", "flightlog.collector.cli", "serve", "--port", "0",
                               "--grpc-port", "0", "--data-dir", str(tmp_path / f"c{n}")],
                              env={**clean_env(), **env}, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
             for n in range(3)]  # at the same moment: no one has migrated or made keys yet
    try:
        client = ch.client()

        def settled() -> bool:  # every collector has connected, bootstrapped and saved its key snapshot
            assert all(p.poll() is None for p in procs), "a collector exited"
            return all((tmp_path / f"c{n}" / KEY_SNAPSHOT_FILE).exists() for n in range(3))

        wait_until(settled, timeout=120, what="the collectors to connect")
        versions = client.query("SELECT Version, count() FROM flightlog.schema_migrations GROUP BY Version"
                                " HAVING count() > 1").result_rows
        assert versions == [], "each migration applied once"
        def first_keys() -> list[tuple[str, int]] | None:  # the maker may still be inserting its last key
            rows = client.query("SELECT Role, count() FROM flightlog.api_keys GROUP BY Role ORDER BY Role").result_rows
            return rows if len(rows) == 3 else None

        keys = wait_until(first_keys, timeout=60, what="the first keys of every role")
        assert keys == [("admin", 1), ("engineer", 1), ("ingest", 1)], "one set of first keys"
        made = wait_until(lambda: [n for n in range(3) if (tmp_path / f"c{n}" / "dev-keys.json").exists()],
                          timeout=60, what="the maker's dev-keys.json")
        assert len(made) == 1, "written by the collector that made them"
        ids_ = {(tmp_path / f"c{n}" / "instance-id").read_text().strip() for n in range(3)}
        assert len(ids_) == 3, "each collector has its own instance id"
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(60)
        ch.stop()
