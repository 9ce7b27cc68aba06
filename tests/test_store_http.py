"""Flightlog's store over ClickHouse's HTTP interface (``http://user:pass@host:port/db``).

The server is the harness in tests/support (chDB behind the real protocol, in its own
process). Three kinds of checks:

- test_storage.py's store tests, imported below, run again here against the http store
  (pytest resolves their ``store`` fixture in this module, so the same assertions hold
  over http);
- parity: the same rows go into an embedded ``chdb://`` store in this process and into
  the http store, and every storage read function must answer the same on both;
- what only the http path has: migrations re-applied by a second process-like open,
  the span dedupe's large id list (sent as a multipart form), errors and outages.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from flightlog.storage import QueryTimeout, Store, StorageError, StorageUnavailable, budgets, costs, keys, logs, \
    migrate, monitoring, open_store, queries, reviews
from flightlog.storage.filters import SpanFilter
from flightlog.storage.schema import SPAN_COLUMNS, span_row_values
from support.harness import Harness, harness_fixture, start_harness
# test_storage's tests and fixtures, re-run here with this module's (http) `store`.
from test_storage import T0, TEXTS, insert, ns, search_store, span, usage_store  # noqa: F401
from test_storage import (  # noqa: F401
    test_cost_summary_from_rollups_equals_a_raw_scan,
    test_facets_come_from_the_rollups,
    test_get_trace_reads_the_trace_index_range,
    test_migrations_create_the_rollups_and_the_trace_index,
    test_resent_spans_are_dropped_at_insert_so_rollups_count_once,
    test_search_is_case_insensitive_in_any_script,
    test_search_pages_ids_first_in_the_requested_order,
    test_spool_rows_written_before_new_columns_are_padded,
    test_text_index_fallbacks_build_and_search,
    test_trace_by_id_falls_back_when_the_trace_index_missed_it,
    test_unknown_models_are_counted_and_listed,
    test_upgrade_from_v3_backfills_rollups_counting_each_span_once,
    test_usage_breakdown_by_prompt_version_has_errors_and_latency,
)

pytestmark = pytest.mark.timeout(300)


ch = harness_fixture(scope="module")


@pytest.fixture(scope="module")
def store(ch: Harness) -> Iterator[Store]:
    opened = open_store(ch.dsn("flightlog"))
    assert opened.settings.kind == "http" and opened.settings.username == ch.user
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    opened = open_store(f"chdb://{tmp_path_factory.mktemp('store-embedded')}/store")
    yield opened
    opened.close()


# -- migrations ---------------------------------------------------------------------------

def _schema(store: Store) -> dict[str, str]:
    """Table name → its CREATE statement, without the database name."""
    db = store.settings.database
    return {name: ddl.replace(f" {db}.", " ") for name, ddl in store.query_rows(
        "SELECT name, create_table_query FROM system.tables WHERE database = currentDatabase()")}


def test_migrations_build_the_same_schema_as_the_embedded_store(store: Store, embedded: Store) -> None:
    assert _schema(store) == _schema(embedded)
    versions = [v for v, _, _ in migrate.migration_files()]
    assert sorted(r[0] for r in store.query_rows("SELECT Version FROM schema_migrations FINAL")) == versions


def test_a_second_open_applies_nothing(ch: Harness, store: Store) -> None:
    before = store.query_rows("SELECT count() FROM schema_migrations")
    again = open_store(ch.dsn("flightlog"))
    try:
        assert migrate.apply_migrations(again) == []
        assert again.query_rows("SELECT count() FROM schema_migrations") == before
    finally:
        again.close()


def test_a_new_database_on_the_same_server_gets_every_migration(store: Store) -> None:
    fresh = Store(dataclasses.replace(store.settings, database="fresh_http"))
    try:
        assert migrate.apply_migrations(fresh) == [v for v, _, _ in migrate.migration_files()]
        assert migrate.apply_migrations(fresh) == []
        assert _schema(fresh) == _schema(store)
    finally:
        fresh.close()


# -- the same answers as the embedded store -----------------------------------------------

def _parity_rows(project: str) -> list[dict]:
    rows = []
    for run in range(24):
        trace, at = 5000 + run, T0 + timedelta(hours=5 * run, minutes=run)
        agent = ["triage", "refund"][run % 2]
        rows.append(span(project, trace, run * 10 + 1, at, SpanType="agent", SpanName=f"invoke_agent {agent}",
                         TraceName=f"invoke_agent {agent}", AgentName=agent, Duration=(run + 5) * 10_000_000,
                         StatusCode="Error" if run % 5 == 0 else "Ok", InputTokens=0, OutputTokens=0, CostUsd=0.0,
                         UserId=f"user{run % 3}", SessionId=f"s{run % 4}", PromptVersion=""))
        for k in range(2, 6):
            child = dict(ParentSpanId=f"{run * 10 + 1:016x}", TraceName=f"invoke_agent {agent}", AgentName=agent,
                         UserId=f"user{run % 3}", SessionId=f"s{run % 4}")
            if k == 5:
                child.update(SpanType="tool", ToolName=["lookup", "refund"][run % 2], InputTokens=0, OutputTokens=0,
                             CostUsd=0.0, ErrorType="timeout" if run % 3 == 0 else "",
                             StatusCode="Error" if run % 3 == 0 else "Ok", ToolArgs='{"order": "%d"}' % run,
                             CheckpointTier=run % 3, CheckpointDecision=["", "approved", "escalated"][run % 3])
            else:
                child.update(RequestModel=["gpt-4o", "claude-sonnet-4", "mystery-model"][(run + k) % 3],
                             PromptId="refund-policy", PromptVersion=f"v{(run + k) % 3}", InputTokens=100 * k + run,
                             OutputTokens=10 * k, CostUsd=0.001 * k * (run % 4), Duration=k * 1_000_000,
                             CostSource="unknown" if (run + k) % 3 == 2 else "computed",
                             InputText=f"order {run} needs a refund: {TEXTS[k]}", OutputText="done")
            rows.append(span(project, trace, run * 10 + k, at + timedelta(seconds=k), **child))
    return rows


def _load_parity(target: Store) -> None:
    rows = _parity_rows("parity")
    insert(target, rows[:70])
    insert(target, rows[50:])  # overlapping retry
    logs.insert_log_records(target, "parity", [
        {"trace_id": f"{5000:032x}", "span_id": f"{2:016x}", "time_ns": ns(T0) + i, "event_name": "gen_ai.choice",
         "severity_text": "INFO", "body": {"message": f"answer {i}", "quote": "it's\n\"fine\""},
         "attributes": {"gen_ai.system": "openai", "n": i}, "scope_name": "tests"} for i in range(3)])


@pytest.fixture(scope="module")
def pair(store: Store, embedded: Store) -> tuple[Store, Store]:
    for target in (store, embedded):
        _load_parity(target)
    return store, embedded


@pytest.fixture(scope="module")
def tokyo(tmp_path_factory: pytest.TempPathFactory, pair: tuple[Store, Store]) -> Iterator[Store]:
    """An http store whose server runs in Asia/Tokyo (many servers are not on UTC)."""
    harness = start_harness(tmp_path_factory.mktemp("store-tokyo") / "data", timezone="Asia/Tokyo")
    opened = open_store(harness.dsn("flightlog"))
    assert opened.query_rows("SELECT timezone()") == [("Asia/Tokyo",)]
    _load_parity(opened)
    yield opened
    opened.close()
    harness.stop()


WINDOWS = [(None, None), (T0 + timedelta(hours=7), T0 + timedelta(days=2, hours=3)), (T0 + timedelta(days=3), None)]
CALLS: list[tuple[str, Any]] = [
    ("get_trace", lambda s: queries.get_trace(s, "parity", f"{5003:032x}")),
    ("trace_time_range", lambda s: queries.trace_time_range(s, "parity", f"{5007:032x}")),
    ("search text", lambda s: queries.search_spans(s, "parity", SpanFilter(q="refund ВОЗВРАТ"), limit=100)),
    ("search cjk", lambda s: queries.search_spans(s, "parity", SpanFilter(q="東京"), limit=100)),
    ("search filters", lambda s: queries.search_spans(
        s, "parity", SpanFilter(model="gpt-4o", status="ok", equals={"agent": "refund", "prompt_version": "v1"},
                                start=T0 + timedelta(hours=3), end=T0 + timedelta(days=4)), limit=100, sort="cost")),
    ("search page", lambda s: queries.search_spans(s, "parity", SpanFilter(), limit=7, offset=14, sort="tokens",
                                                    order="asc")),
    ("facets", lambda s: queries.facets(s, "parity")),
    ("logs", lambda s: logs.logs_for_trace(s, "parity", f"{5000:032x}")),
    ("unknown models", lambda s: costs.unknown_models(s, "parity")),
    ("top traces", lambda s: monitoring.top_traces(s, "parity")),
] + [
    (f"cost summary {dims} {w}", lambda s, dims=dims, w=w: costs.cost_summary(s, "parity", dims, start=w[0], end=w[1]))
    for dims in (["model"], ["agent", "day"], ["user", "prompt_version"], []) for w in WINDOWS
] + [
    (f"usage breakdown {dims}", lambda s, dims=dims: costs.usage_breakdown(s, "parity", dims))
    for dims in (["prompt_version"], ["agent", "model"])
] + [
    (f"monitoring {bucket} {by}", lambda s, bucket=bucket, by=by: monitoring.monitoring(s, "parity", bucket=bucket, by=by))
    for bucket in ("hour", "day") for by in ("", "agent", "prompt_version", "model")
] + [
    (f"tool errors {bucket}", lambda s, bucket=bucket: monitoring.tool_errors(s, "parity", bucket=bucket))
    for bucket in ("hour", "day")
] + [
    (f"escalations {by}", lambda s, by=by: monitoring.checkpoint_escalations(s, "parity", by=by)) for by in ("", "agent")
] + [
    (f"cost per run {by}", lambda s, by=by: monitoring.cost_per_run(s, "parity", by=by)) for by in ("", "agent")
]


def _approx(value: Any) -> Any:
    """Floats to 9 significant digits: the two engines add in the same order, but be fair to t-digests."""
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, dict):
        return {k: _approx(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_approx(v) for v in value)
    return value


@pytest.mark.parametrize("name,call", CALLS, ids=[c[0] for c in CALLS])
def test_every_read_answers_the_same_over_http_as_embedded(pair: tuple[Store, Store], name: str, call: Any) -> None:
    over_http, in_process = (call(s) for s in pair)
    assert _approx(over_http) == _approx(in_process)
    assert over_http not in (None, [], {})  # the data set exercises every one of them


def _instants(value: Any) -> Any:
    """Times as UTC instants: a server in another timezone answers in its own offset."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    if isinstance(value, str) and _ISO.fullmatch(value):
        return datetime.fromisoformat(value).astimezone(timezone.utc)
    if isinstance(value, dict):
        return {k: _instants(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_instants(v) for v in value)
    return value


_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d")


@pytest.mark.parametrize("name,call", CALLS, ids=[c[0] for c in CALLS])
def test_a_server_in_another_timezone_gives_the_same_instants(tokyo: Store, pair: tuple[Store, Store], name: str,
                                                              call: Any) -> None:
    assert _approx(_instants(call(tokyo))) == _approx(_instants(call(pair[1])))


def test_the_parity_data_counts_each_resent_span_once(pair: tuple[Store, Store]) -> None:
    for s in pair:
        assert s.query_rows("SELECT count(), uniqExact(TraceId, SpanId) FROM spans WHERE Project = 'parity'") == [(120, 120)]
        assert s.query_rows("SELECT sum(Spans) FROM usage_hourly WHERE Project = 'parity'") == [(120,)]


def test_mutations_and_rollup_rebuilds_answer_the_same(pair: tuple[Store, Store]) -> None:
    """ALTER … DELETE with mutations_sync (retention) and the rollup rebuild of `prices recompute`."""
    from flightlog.storage import audit, reprice

    results = []
    for s in pair:
        rows = [span("mutated", 7000 + i // 5, i + 1, T0 + timedelta(hours=i), CostUsd=0.01 * i) for i in range(60)]
        insert(s, rows)
        keep = f"{7000 + 2:032x}"
        deletion = audit.Deletion(ns(T0 + timedelta(hours=5)), ns(T0 + timedelta(hours=20)),
                                  except_trace_ids=frozenset({keep}), reason="retention")
        audit.record_deletion(s, "mutated", deletion, "tests")
        audit.delete_spans(s, "mutated", deletion)
        s.command_rendered("ALTER TABLE spans UPDATE CostUsd = CostUsd * 2 WHERE Project = 'mutated'",
                           settings={"mutations_sync": 2})  # a re-price changes stored costs …
        rebuilt = reprice.rebuild_rollups(s, "mutated", [(int(T0.timestamp()), int(T0.timestamp()) + 3 * 86400)])
        page = audit.export_page(s, "mutated", audit.ExportFilter(), None, limit=1000)
        results.append((audit.count_spans(s, "mutated"), rebuilt, costs.cost_summary(s, "mutated", ["day"]),
                        [(r["TraceId"], r["SpanId"], r["CostUsd"]) for r in page],
                        [d.reason for d in audit.deletions(s, "mutated")]))
    over_http, in_process = results
    assert _approx(over_http) == _approx(in_process)
    assert over_http[0] == len(over_http[3]) == 60 - 15 + 5  # hours 5-19 deleted, but trace 7002 was kept
    assert sum(r["cost_usd"] for r in over_http[2]) == pytest.approx(2 * 0.01 * sum(
        i for i in range(60) if not (5 <= i < 20) or (7000 + i // 5) == 7002))  # … and the rollups follow


# -- what only the http path exercises ----------------------------------------------------

def test_dedupe_of_a_batch_larger_than_one_id_lookup(store: Store) -> None:
    """More than DEDUPE_CHUNK span ids: the lookups' id lists travel as multipart forms."""
    rows = [span("bigbatch", 9000 + i // 10, i + 1, T0 + timedelta(milliseconds=i)) for i in range(4500)]
    insert(store, rows)
    insert(store, rows[1000:])  # a retried export, 3500 spans
    assert store.query_rows("SELECT count() FROM spans WHERE Project = 'bigbatch'") == [(4500,)]
    assert store.query_rows("SELECT sum(Spans), sum(Calls) FROM usage_hourly WHERE Project = 'bigbatch'") == [(4500, 4500)]
    assert store.query_rows("SELECT count() FROM trace_index FINAL WHERE Project = 'bigbatch'") == [(450,)]


def test_keys_are_created_found_listed_and_revoked(store: Store) -> None:
    record, secret = keys.create_key(store, "keyed", "ingest", "ci's key")
    found = keys.find_key(store, secret)
    assert dataclasses.replace(found, created_at=record.created_at) == record and not record.revoked
    # Stored to the millisecond; read back as aware UTC, as from the embedded store.
    assert found.created_at == record.created_at.replace(microsecond=record.created_at.microsecond // 1000 * 1000)
    assert [k.key_id for k in keys.list_keys(store, "keyed")] == [record.key_id]
    revoked = keys.revoke_key(store, record.key_id)
    assert revoked.revoked and keys.find_key(store, secret).revoked
    assert keys.find_key(store, secret + "x") is None
    assert store.query_rows("SELECT Name FROM projects WHERE Name = 'keyed'") == [("keyed",)]


def test_budgets_and_reviews_round_trip(store: Store) -> None:
    insert(store, [span("budgeted", 1, 1, T0 + timedelta(hours=2), UserId="ann", InputTokens=700, OutputTokens=300,
                        CostUsd=0.25)])
    budgets.put_budget(store, "budgeted", "user", "ann", 5000, 1.5, "http://hook.invalid/x")
    assert [(b["subject"], b["max_tokens"]) for b in budgets.budgets(store, "budgeted")] == [("ann", 5000)]
    tokens, cost = budgets.usage(store, "budgeted", "user", "ann", T0.date())
    assert tokens == 1000 and cost == pytest.approx(0.25)
    reviews.set_rate(store, "budgeted", "", 0.5)
    assert reviews.rates(store, "budgeted") == {"budgeted": {"": 0.5}}


def test_storage_errors_keep_their_meaning_over_http(store: Store) -> None:
    with pytest.raises(StorageError) as err:
        store.query("SELECT * FROM no_such_table")
    assert "Code: 60" in str(err.value) and not isinstance(err.value, StorageUnavailable)
    with pytest.raises(QueryTimeout):
        store.query("SELECT sleepEachRow(0.3) FROM numbers(3) SETTINGS max_block_size = 1",
                    settings={"max_execution_time": 0.2, "timeout_overflow_mode": "throw"})
    with pytest.raises(QueryTimeout):
        store.query("SELECT groupArray(number) FROM numbers(10000000)", settings={"max_memory_usage": 10_000_000})
    assert store.query_rows("SELECT 1") == [(1,)]


def test_opening_a_wrong_password_or_a_dead_server_is_unavailable(ch: Harness, tmp_path: Path) -> None:
    with pytest.raises(StorageUnavailable) as err:
        open_store(ch.dsn("flightlog").replace(f":{ch.password}@", ":wrong@"))
    assert "516" in str(err.value) and ch.password not in str(err.value)


def test_the_store_survives_a_server_crash_and_restart(tmp_path: Path) -> None:
    harness = start_harness(tmp_path / "crash")
    store = open_store(harness.dsn("flightlog"))
    try:
        insert(store, [span("crash", 1, 1, T0)])
        harness.kill()
        with pytest.raises(StorageUnavailable):
            store.query_rows("SELECT count() FROM spans")
        with pytest.raises(StorageUnavailable):
            insert(store, [span("crash", 1, 2, T0)])
        harness.start()  # same port: the store's pooled clients reconnect
        insert(store, [span("crash", 1, 2, T0), span("crash", 1, 1, T0)])  # 1 was stored before the crash
        assert store.query_rows("SELECT count() FROM spans WHERE Project = 'crash'") == [(2,)]
        assert queries.get_trace(store, "crash", f"{1:032x}")["span_count"] == 2
        store.close()
        reopened = open_store(harness.dsn("flightlog"))  # migrations already applied
        assert migrate.apply_migrations(reopened) == []
        reopened.close()
    finally:
        store.close()
        harness.stop()


def test_spans_written_as_row_values_read_back_typed(store: Store) -> None:
    """SPAN_COLUMNS values with maps, nested events and links, over Native, come back as written."""
    row = span("typed", 77, 1, T0, SpanAttributes={"gen_ai.system": "openai", "quote'd": "new\nline"},
               ResourceAttributes={"service.name": "bot"}, **{
                   "Events.Timestamp": [ns(T0) + 5, ns(T0) + 6], "Events.Name": ["a", "b"],
                   "Events.Attributes": [{"k": "v"}, {}], "Links.TraceId": ["t" * 32], "Links.SpanId": ["s" * 16],
                   "Links.TraceState": [""], "Links.Attributes": [{"x": "y"}]})
    store.insert("spans", [span_row_values(row)], SPAN_COLUMNS)
    got = store.query("SELECT SpanAttributes, ResourceAttributes, arrayMap(t -> toUnixTimestamp64Nano(t), `Events.Timestamp`)"
                      " AS ev, `Events.Name`, `Events.Attributes`, `Links.TraceId`, `Links.Attributes`,"
                      " toUnixTimestamp64Nano(Timestamp) AS ts FROM spans WHERE Project = 'typed'")
    assert got == [{"SpanAttributes": {"gen_ai.system": "openai", "quote'd": "new\nline"},
                    "ResourceAttributes": {"service.name": "bot"}, "ev": [ns(T0) + 5, ns(T0) + 6],
                    "Events.Name": ["a", "b"], "Events.Attributes": [{"k": "v"}, {}], "Links.TraceId": ["t" * 32],
                    "Links.Attributes": [{"x": "y"}], "ts": ns(T0)}]
    assert queries.get_trace(store, "typed", f"{77:032x}")["spans"][0]["span_attributes"]["quote'd"] == "new\nline"


def test_a_day_of_reviews_samples_runs(store: Store) -> None:
    insert(store, [span("sampled", 300 + i, 1, T0 + timedelta(minutes=i), SpanType="agent", AgentName="bot")
                   for i in range(10)])
    assert reviews.runs_on_day(store, "sampled", T0.date()) == 10
    assert reviews.sample_day(store, "sampled", T0.date(), {"": 1.0}) == 10
    assert len(reviews.queue(store, "sampled")) == 10
    assert reviews.runs_on_day(store, "sampled", date(2026, 3, 2)) == 0


# -- the collector on an http store ---------------------------------------------------------

def test_flightlog_serve_with_an_http_dsn_survives_a_server_crash(tmp_path: Path) -> None:
    """``flightlog serve --dsn http://…``: spans go in over OTLP and come back over the API;
    spans acknowledged while the server is down are spooled and stored once it is back."""
    from conftest import start_collector
    from flightlog.collector import demo

    harness = start_harness(tmp_path / "server")
    collector = start_collector(tmp_path / "collector", env={"FLIGHTLOG_DSN": harness.dsn("flightlog")})
    try:
        requests = demo.build_demo_requests(seed=3)[:6]
        sent = {(s.trace_id.hex(), s.span_id.hex()) for r in requests for rs in r.resource_spans
                for ss in rs.scope_spans for s in ss.spans}

        def post(request) -> None:
            resp = collector.post("/v1/traces", request.SerializeToString(), "application/x-protobuf")
            assert resp.status_code == 200, resp.text

        for request in requests[:3]:
            post(request)
        collector.drain()
        harness.kill()
        for request in requests[3:]:
            post(request)  # acknowledged: spooled on the collector's disk
        harness.start()
        collector.drain(timeout=90)
        assert collector.api("/api/spans", limit=1)["total"] == len(sent)
        trace_id = next(iter(sent))[0]
        assert trace_id in {s["trace_id"] for s in collector.api(f"/api/traces/{trace_id}")["spans"]}
        direct = open_store(harness.dsn("flightlog"))
        try:
            stored = set(direct.query_rows("SELECT TraceId, SpanId FROM spans"))
            assert stored == sent
        finally:
            direct.close()
    finally:
        collector.stop()
        harness.stop()
