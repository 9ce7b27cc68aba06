"""One audit-chain stream per collector, and logs, metrics and trace facts stored once across
collectors (docs/audit.md, docs/scale-out.md, docs/decisions/0040 and 0041).

Real processes: the ClickHouse-HTTP harness over chDB, two ``flightlog serve`` subprocesses on
its DSN, the real OTLP/HTTP span, log and metric exporters sending the same data to both
collectors at once and again; ``flightlog verify`` as a subprocess. The single-stream store of
an older version is made with the migrations before 0034 and rows written as that version did.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from conftest import RunningCollector, clean_env
from support.harness import Harness, start_harness
from test_scale_out import batches, exporter, ids, in_parallel, make_spans, run_cli, send_all, start_pair

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Harness, list[RunningCollector]]]:
    """One server and two collectors for the module's tests, which run in order: the first
    leaves the store as it found it, the second leaves it failing verification, the third does
    not verify."""
    tmp_path = tmp_path_factory.mktemp("streams")
    ch = start_harness(tmp_path / "ch")
    collectors = start_pair(tmp_path, ch)
    yield ch, collectors
    for c in collectors:
        c.stop()
    ch.stop()


def run_script(dsn: str, body: str) -> str:
    """Run ``body`` in a new process with ``dsn`` (and json, SPAN_COLUMNS) at hand; return its stdout."""
    script = "import json\nfrom flightlog.storage.schema import SPAN_COLUMNS\n" + f"dsn = {dsn!r}\n" + textwrap.dedent(body)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=clean_env(), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def instance(collector: RunningCollector) -> str:
    return (Path(collector.data_dir) / "instance-id").read_text(encoding="utf-8").strip()


def verify(dsn: str, *extra: str) -> tuple[int, dict[str, Any]]:
    done = run_cli("verify", "--project", "default", "--dsn", dsn, "--json", *extra)
    try:
        return done.returncode, json.loads(done.stdout)
    except ValueError:
        raise AssertionError(done.stdout[-3000:] + done.stderr[-3000:]) from None


def rows(ch: Harness, sql: str) -> list[tuple[Any, ...]]:
    client = ch.client(database="flightlog")
    try:
        return list(client.query(sql).result_rows)
    finally:
        client.close()


def command(ch: Harness, sql: str) -> None:
    client = ch.client(database="flightlog")
    try:
        client.command(sql, settings={"mutations_sync": 2})
    finally:
        client.close()


def test_each_collector_chains_its_own_stream_and_verify_checks_them_all(
        cluster: tuple[Harness, list[RunningCollector]]) -> None:
    ch, (a, b) = cluster
    dsn = ch.dsn("flightlog")
    shared, only_a, only_b = make_spans("both", 20), make_spans("a", 5), make_spans("b", 5)
    parts = batches(shared, 3)
    to_a, to_b = exporter(a, a.ingest_key), exporter(b, b.ingest_key)
    acked = in_parallel(lambda: send_all(to_a, parts + batches(only_a, 4)),
                        lambda: send_all(to_b, parts[::-1] + batches(only_b, 4)))
    assert [len(x) for x in acked] == [len(parts) + len(batches(only_a, 4))] * 2
    a.drain()
    b.drain()
    everything = [*shared, *only_a, *only_b]
    code, report = verify(dsn)
    assert code == 0 and report["ok"], report["summary"]
    streams = {s["stream"]: s for s in report["streams"]}
    assert set(streams) == {instance(a), instance(b)}, "one stream per collector instance"
    assert all(s["batches"] >= 1 and s["head"]["seq"] == s["batches"] for s in streams.values())
    assert report["spans_ok"] == report["spans_checked"] == len(everything), "the union covers every span once"
    assert report["chained_twice"]["count"] == 0
    # Each collector appended only to its own stream: the spans only it received name its stream.
    for collector, agent in ((a, "scale-a"), (b, "scale-b")):
        named = {r[0].split(":")[1] for r in rows(ch, f"SELECT ChainHash FROM spans WHERE AgentName = '{agent}'")}
        assert named == {instance(collector)}
    assert {(t, s) for t, s in rows(ch, "SELECT TraceId, SpanId FROM chain_spans")} == ids(everything)
    # The API of either collector says the same.
    api = b.get("/api/audit/verify", key=b.admin_key).json()
    assert api["ok"] and {s["stream"] for s in api["streams"]} == set(streams)
    assert "in 2 streams" in api["summary"]
    # An export names the links of both streams, and checks offline.
    export = b.get("/api/audit/export", key=b.admin_key, format="jsonl")
    assert export.status_code == 200
    path = Path(b.data_dir).parent / "export.jsonl"
    path.write_bytes(export.content)
    manifest = json.loads(export.content.splitlines()[-1])["flightlog_manifest"]
    assert {link["stream"] for link in manifest["chain"]} == set(streams)
    assert {h["stream"] for h in manifest["heads"]} == set(streams)
    from flightlog.collector.audit.export import verify_export

    checked = verify_export(path, manifest)
    assert checked.ok and checked.spans == len(everything), checked.problems

    # An altered row in B's stream and a forged link in A's stream are both found, each in its stream.
    victim = next(s for s in only_b if s.name.startswith("chat"))
    trace_id, span_id = format(victim.context.trace_id, "032x"), format(victim.context.span_id, "016x")
    command(ch, f"ALTER TABLE spans UPDATE SpanName = 'forged' WHERE SpanId = '{span_id}'")
    head_a = streams[instance(a)]["head"]["seq"]
    command(ch, "INSERT INTO chain_batches (Project, Seq, BatchId, PrevHash, Hash, Spans, FirstTime, LastTime,"
                f" Version, Stream) VALUES ('default', {head_a + 1}, '{'f' * 64}', '{'0' * 64}', '{'e' * 64}', 1,"
                f" now64(9), now64(9), 1, '{instance(a)}')")
    report = a.get("/api/audit/verify", key=a.admin_key).json()
    assert not report["ok"]
    assert [(s["trace_id"], s["span_id"]) for s in report["altered"]["spans"]] == [(trace_id, span_id)]
    assert report["chain_errors"] and all(e.startswith(f"stream {instance(a)}: batch #{head_a + 1}")
                                          for e in report["chain_errors"]), report["chain_errors"]
    # The human summary lists each stream.
    done = run_cli("verify", "--project", "default", "--dsn", dsn)
    assert done.returncode == 1 and f"STREAM   {instance(b)}:" in done.stdout and "ALTERED" in done.stdout
    # Undone, the store verifies again.
    command(ch, f"ALTER TABLE spans UPDATE SpanName = '{victim.name}' WHERE SpanId = '{span_id}'")
    command(ch, f"ALTER TABLE chain_batches DELETE WHERE BatchId = '{'f' * 64}'")
    assert a.get("/api/audit/verify", key=a.admin_key).json()["ok"]


def test_a_span_chained_in_two_streams_is_listed_without_failing_verify(cluster: tuple[Harness, list[RunningCollector]]) -> None:
    ch, (a, b) = cluster
    spans = make_spans("twice", 2)
    assert send_all(exporter(a, a.ingest_key), [spans]) == [spans]
    a.drain()
    # Someone appends a batch to B's stream that chains one of A's new spans again (links correct).
    trace_id = format(spans[0].context.trace_id, "032x")
    out = run_script(ch.dsn("flightlog"), f"""
        from flightlog.collector.audit.chain import batch_id, link_hash
        from flightlog.storage import audit as db, open_store
        store = open_store(dsn)
        t, s, h, seq, ts, cost, stream = next(e for e in db.chain_entries(store, "default", 0, 2**62)
                                              if e[0] == "{trace_id}")
        head_seq, head_hash = db.chain_head(store, "default", "{instance(b)}")
        bid = batch_id({{f"{{t}}:{{s}}:{{h}}"}})
        db.record_batch(store, ["default", head_seq + 1, bid, head_hash, link_hash(head_hash, bid), 1, ts, ts, 1,
                                "{instance(b)}"], [["default", head_seq + 1, ts, t, s, h, cost, "{instance(b)}"]])
        print(json.dumps([s, stream]))
        store.close()
    """)
    span_id, first = json.loads(out)
    assert first == instance(a)
    report = b.get("/api/audit/verify", key=b.admin_key).json()
    assert report["ok"] and report["chain_errors"] == [], report["summary"]
    assert "1 also chained by another collector" in report["summary"]
    assert report["chained_twice"]["count"] == 1
    assert report["chained_twice"]["spans"][0] | {"span_name": ""} == {
        "trace_id": trace_id, "span_id": span_id, "span_name": "",
        "timestamp_ns": report["chained_twice"]["spans"][0]["timestamp_ns"],
        "streams": sorted([instance(a), instance(b)])}


def _spans_with_logs(tag: str, runs: int) -> tuple[list[Any], list[Any]]:
    """Agent runs whose LLM calls log their prompt as GenAI events (the real SDK's records)."""
    from opentelemetry.sdk._logs import export as logs_export

    memory = getattr(logs_export, "InMemoryLogRecordExporter", None) or logs_export.InMemoryLogExporter
    log_memory = memory()
    span_memory = InMemorySpanExporter()
    resource = Resource.create({"service.name": f"logs-{tag}"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_memory))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_memory))
    tracer, logger = tracer_provider.get_tracer("tests.streams"), logger_provider.get_logger("tests.streams")
    for n in range(runs):
        with tracer.start_as_current_span(f"invoke_agent {tag}") as root:
            root.set_attributes({"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": tag})
            for i in range(2):
                with tracer.start_as_current_span("chat gpt-4o-mini") as llm:
                    llm.set_attributes({"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini"})
                    logger.emit(event_name="gen_ai.user.message", body={"content": f"run {n} question {i}"},
                                attributes={"gen_ai.system": "openai"})
    tracer_provider.shutdown()
    logger_provider.force_flush()
    return list(span_memory.get_finished_spans()), list(log_memory.get_finished_logs())


def _metric_points() -> tuple[Any, int]:
    """One collection of GenAI client metrics (the real SDK's data) and how many points it holds."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": "metrics-both"}))
    tokens = provider.get_meter("tests.streams").create_histogram("gen_ai.client.token.usage", unit="{token}")
    for model in ("gpt-4o-mini", "gpt-4o"):
        for kind, value in (("input", 40), ("output", 9)):
            tokens.record(value, {"gen_ai.operation.name": "chat", "gen_ai.request.model": model,
                                  "gen_ai.token.type": kind})
    data = reader.get_metrics_data()
    provider.shutdown()
    points = sum(len(m.data.data_points) for rm in data.resource_metrics for sm in rm.scope_metrics
                 for m in sm.metrics)
    return data, points


def test_logs_metrics_and_trace_facts_resent_to_both_collectors_are_stored_once(
        cluster: tuple[Harness, list[RunningCollector]]) -> None:
    ch, (a, b) = cluster
    spans, logs = _spans_with_logs("logs-both", 8)
    assert len(logs) == 16 and all(r.log_record.span_id for r in logs)
    metrics, points = _metric_points()
    assert points == 4

    def logs_to(c: RunningCollector) -> OTLPLogExporter:
        return OTLPLogExporter(endpoint=f"{c.url}/v1/logs", headers={"x-api-key": c.ingest_key}, timeout=10)

    def metrics_to(c: RunningCollector) -> OTLPMetricExporter:
        return OTLPMetricExporter(endpoint=f"{c.url}/v1/metrics", headers={"x-api-key": c.ingest_key}, timeout=10)

    def send(c: RunningCollector, reverse: bool) -> list[str]:
        results = []
        for part in batches(spans[::-1] if reverse else spans, 4):
            results.append(exporter(c, c.ingest_key).export(part).name)
        for part in batches(logs[::-1] if reverse else logs, 3):
            results.append(logs_to(c).export(part).name)
        results.append(metrics_to(c).export(metrics).name)
        return results

    # Both collectors get everything at the same time (in opposite orders), then B all of it again.
    for outcome in in_parallel(lambda: send(a, False), lambda: send(b, True)):
        assert set(outcome) == {"SUCCESS"}, outcome
    assert set(send(b, False)) == {"SUCCESS"}
    a.drain()
    b.drain()
    count, distinct = rows(ch, "SELECT count(), uniqExact(TraceId, SpanId, Timestamp, EventName, Body)"
                               " FROM log_records")[0]
    assert count == distinct == len(logs), "each log record stored once"
    count, distinct = rows(ch, "SELECT count(), uniqExact(MetricName, SeriesId, TimeUnix) FROM metrics")[0]
    assert count == distinct == points, "each metric point stored once"
    listed = {m["name"]: m for m in a.api("/api/metrics")["metrics"]}
    assert listed["gen_ai.client.token.usage"]["points"] == points, "and counted once"
    usage = b.api("/api/metrics/series", name="gen_ai.client.token.usage", group_by="token_type")
    assert {g["group"]: g["sum"] for g in usage["groups"]} == {"input": 80, "output": 18}
    count, distinct = rows(ch, "SELECT count(), uniqExact(TraceId, Rank, AgentName, AgentVersion, UserId, SessionId,"
                               " TraceName, LeafUsage) FROM trace_facts")[0]
    assert count == distinct >= 8, "what the runs taught stored once per fact row"
    assert rows(ch, "SELECT count(), uniqExact(TraceId, SpanId) FROM spans WHERE ServiceName = 'logs-logs-both'")[0] \
        == (len(spans), len(spans))
    # The trace's logs come back once with it.
    trace_id = format(spans[0].context.trace_id, "032x")
    detail = a.api(f"/api/traces/{trace_id}")
    assert detail["spans"], detail


def test_a_single_stream_store_of_an_older_version_keeps_verifying(tmp_path: Path) -> None:
    """Links and spans written before streams (migrations up to 0033, the old ChainHash form)
    verify after the upgrade, next to the new stream of the collector that goes on."""
    out = run_script(f"chdb://{tmp_path / 'store'}", """
        from flightlog.collector.audit.chain import GENESIS, ChainWriter, batch_id, canonical_values, link_hash, verify
        from flightlog.storage import open_store
        from flightlog.storage.audit import cost_hash
        from flightlog.storage.ddl import DdlOptions, render_all
        from flightlog.storage.migrate import apply_migrations, migration_files, split_statements
        from flightlog.storage.schema import span_row_values
        import hashlib
        old = open_store(dsn, migrate=False)
        for version, name, sql in migration_files():
            if version < 34:
                for statement in render_all(split_statements(sql), DdlOptions()):
                    old.command(statement)
        old.command("CREATE TABLE IF NOT EXISTS schema_migrations (Version UInt32, Name String,"
                    " AppliedAt DateTime64(3) DEFAULT now64(3)) ENGINE = ReplacingMergeTree ORDER BY Version")
        old.insert("schema_migrations", [[v, n] for v, n, _ in migration_files() if v < 34], ["Version", "Name"])
        def rows(start, n):
            return [span_row_values({"Project": "p", "TraceId": "d" * 32, "SpanId": f"{i:016x}",
                                     "Timestamp": 1_700_000_000_000_000_000 + i, "InputText": f"t{i}"})
                    for i in range(start, start + n)]
        # What the previous version wrote: one stream, ChainHash 1:<seq>:<hash>, no Stream column.
        prev = GENESIS
        for seq, batch in ((1, rows(0, 3)), (2, rows(3, 2))):
            digests = [hashlib.sha256(canonical_values(r)).hexdigest() for r in batch]
            bid = batch_id({f"{r[SPAN_COLUMNS.index('TraceId')]}:{r[SPAN_COLUMNS.index('SpanId')]}:{d}"
                            for r, d in zip(batch, digests)})
            ts = [r[SPAN_COLUMNS.index("Timestamp")] for r in batch]
            old.insert("chain_spans", [["p", seq, t, r[SPAN_COLUMNS.index("TraceId")], r[SPAN_COLUMNS.index("SpanId")],
                                        d, cost_hash("", "", 0.0)] for r, d, t in zip(batch, digests, ts)],
                       ("Project", "Seq", "Timestamp", "TraceId", "SpanId", "SpanHash", "CostHash"))
            old.insert("chain_batches", [["p", seq, bid, prev, link_hash(prev, bid), len(batch), min(ts), max(ts), 1]],
                       ("Project", "Seq", "BatchId", "PrevHash", "Hash", "Spans", "FirstTime", "LastTime", "Version"))
            prev = link_hash(prev, bid)
            for r, d in zip(batch, digests):
                r[SPAN_COLUMNS.index("ChainHash")] = f"1:{seq}:{d}"
            old.insert("spans", batch, SPAN_COLUMNS)
        applied = apply_migrations(old)
        # The upgraded collector goes on in its own stream; a replay of an old segment is found in ''.
        writer = ChainWriter(old, "host-1-abc")
        replay = writer.prepare(rows(3, 2))
        old.insert_spans(writer.prepare(rows(10, 4)), SPAN_COLUMNS)
        after = verify(old, "p")
        print(json.dumps({"applied": applied, "ok": after.ok, "spans": after.spans_ok,
                          "replay": replay[0][SPAN_COLUMNS.index("ChainHash")].split(":")[1],
                          "streams": [(s["stream"], s["batches"]) for s in after.streams],
                          "errors": after.chain_errors}))
        old.close()
    """)
    result = json.loads(out)
    assert 34 in result["applied"]
    assert result["replay"] == "2", "the replayed batch keeps its place in the old stream"
    assert result == {**result, "ok": True, "spans": 9, "errors": [],
                      "streams": [["", 2], ["host-1-abc", 1]]}
