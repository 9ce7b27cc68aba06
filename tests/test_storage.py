"""Tests for flightlog.storage at scale: migrations 0004–0006, ingest dedupe, queries.

One embedded store per module (one chDB path per process, docs/decisions/0001-the-collector-owns-the-store.md); tests isolate
themselves by project, or by database on the same path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from flightlog.collector.ingest.pipeline import inherit_trace_facts
from flightlog.storage import Store, costs, migrate, open_store, queries
from flightlog.storage.filters import SpanFilter
from flightlog.storage.schema import SPAN_COLUMNS, span_row_values

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


def ns(dt: datetime) -> int:
    return int(dt.timestamp()) * 1_000_000_000 + dt.microsecond * 1000


def span(project: str, trace: int, span_no: int, at: datetime, **cols) -> dict:
    row = {
        "Project": project, "Timestamp": ns(at), "TraceId": f"{trace:032x}", "SpanId": f"{span_no:016x}",
        "ParentSpanId": "", "SpanName": "step", "SpanType": "llm", "RequestModel": "gpt-4o",
        "InputTokens": 100, "OutputTokens": 10, "CostUsd": 0.001, "CostSource": "computed",
        "Duration": 2_000_000, "StatusCode": "Ok", "AgentName": "bot", "PromptVersion": "v1",
        "InputText": "hello world", "IngestTime": ns(T0) // 1_000_000,
    }
    row.update(cols)
    return row


def insert(store: Store, rows: list[dict]) -> None:
    store.insert_spans([span_row_values(r) for r in rows], SPAN_COLUMNS)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    opened = open_store(f"chdb://{tmp_path_factory.mktemp('storage')}/store")
    yield opened
    opened.close()


def other_database(store: Store, name: str, **changes) -> Store:
    """A second store on the same chDB path, in its own database (same process is fine)."""
    return Store(dataclasses.replace(store.settings, database=name, **changes))


# -- migrations -------------------------------------------------------------------------

def test_migrations_create_the_rollups_and_the_trace_index(store: Store) -> None:
    tables = {r[0] for r in store.query_rows("SHOW TABLES")}
    assert {"trace_index", "trace_index_mv", "usage_hourly", "usage_hourly_mv",
            "usage_users_daily", "usage_users_daily_mv"} <= tables
    columns = {r[0] for r in store.query_rows("SELECT name FROM system.columns WHERE database = currentDatabase() AND table = 'spans'")}
    assert {"TraceName", "CachedInputTokens", "ReasoningTokens"} <= columns
    assert migrate.apply_migrations(store) == []  # idempotent


def test_upgrade_from_v3_backfills_rollups_counting_each_span_once(store: Store, monkeypatch) -> None:
    old = other_database(store, "upgrade_v3")
    try:
        every = migrate.migration_files()
        monkeypatch.setattr(migrate, "migration_files", lambda: [m for m in every if m[0] <= 3])
        migrate.apply_migrations(old)
        v3_columns = SPAN_COLUMNS[:SPAN_COLUMNS.index("ChainHash") + 1]
        row = span_row_values(span("p", 1, 1, T0))[:len(v3_columns)]
        old.insert("spans", [row], v3_columns)
        old.insert("spans", [row], v3_columns)  # an unmerged re-sent copy
        monkeypatch.setattr(migrate, "migration_files", lambda: every)
        assert migrate.apply_migrations(old) == [m[0] for m in every if m[0] > 3]
        assert old.query_rows("SELECT sum(Spans), sum(Calls) FROM usage_hourly") == [(1, 1)]
        assert old.query_rows("SELECT sum(Spans) FROM usage_users_daily") == [(1,)]
        assert queries.get_trace(old, "p", f"{1:032x}")["span_count"] == 1
    finally:
        old.close()


# -- ingest dedupe ----------------------------------------------------------------------

def test_resent_spans_are_dropped_at_insert_so_rollups_count_once(store: Store) -> None:
    rows = [span("dedupe", 1, i, T0 + timedelta(seconds=i)) for i in range(1, 4)]
    insert(store, rows + rows[:1])  # a duplicate within the batch
    insert(store, rows)  # a retried export
    assert store.query_rows("SELECT count() FROM spans WHERE Project = 'dedupe'") == [(3,)]
    assert store.query_rows("SELECT sum(Spans), sum(Calls) FROM usage_hourly WHERE Project = 'dedupe'") == [(3, 3)]
    assert store.query_rows("SELECT sum(Spans) FROM usage_users_daily WHERE Project = 'dedupe'") == [(3,)]


def test_spool_rows_written_before_new_columns_are_padded(store: Store) -> None:
    short = span_row_values(span("padding", 1, 1, T0))[:SPAN_COLUMNS.index("ChainHash") + 1]
    store.insert_spans([short], SPAN_COLUMNS)
    assert store.query_rows("SELECT TraceName, CachedInputTokens FROM spans WHERE Project = 'padding'") == [("", 0)]


# -- trace facts ------------------------------------------------------------------------

def test_the_root_span_name_becomes_every_rows_trace_name() -> None:
    rows = [
        {"TraceId": "t", "SpanId": "c", "ParentSpanId": "b", "SpanName": "tool"},
        {"TraceId": "t", "SpanId": "b", "ParentSpanId": "a", "SpanName": "chat"},
        {"TraceId": "t", "SpanId": "a", "ParentSpanId": "", "SpanName": "invoke_agent refund-bot"},
        {"TraceId": "t", "SpanId": "x", "ParentSpanId": "elsewhere", "SpanName": "orphan"},
    ]
    inherit_trace_facts(rows)
    # the orphan's parent is elsewhere, but its trace's root is here: it names the trace too
    # (docs/decisions/0013-trace-facts-across-requests.md)
    assert [r.get("TraceName", "") for r in rows] == ["invoke_agent refund-bot"] * 4


# -- trace by id ------------------------------------------------------------------------

def test_get_trace_reads_the_trace_index_range(store: Store) -> None:
    trace = 0xABC
    rows = [span("traces", trace, 1, T0, SpanName="root", TraceName="root")]
    rows += [span("traces", trace, i, T0 + timedelta(hours=30, microseconds=i), ParentSpanId=f"{1:016x}",
                  TraceName="root") for i in range(2, 6)]
    insert(store, rows[:2])
    insert(store, rows[2:])  # a later export of the same trace, a day later
    start, end = queries.trace_time_range(store, "traces", f"{trace:032x}")
    assert (start, end) == (ns(T0), ns(T0 + timedelta(hours=30, microseconds=5)))
    got = queries.get_trace(store, "traces", f"{trace:032x}")
    assert got["span_count"] == 5 and got["spans"][0]["span_name"] == "root"
    assert {s["trace_name"] for s in got["spans"]} == {"root"}
    assert queries.get_trace(store, "traces", "f" * 32) is None
    assert queries.get_trace(store, "other-project", f"{trace:032x}") is None


# -- search -----------------------------------------------------------------------------

TEXTS = {
    1: "Привет, мир! Возврат заказа оформлен",
    2: "Le café est prêt, naïve résumé",
    3: "東京タワーの営業時間を教えてください",
    4: "plain english refund for order 88123",
    5: "ENGLISH refund in capitals",
}


@pytest.fixture(scope="module")
def search_store(store: Store) -> Store:
    rows = [span("search", 100 + i, i, T0 + timedelta(minutes=i), InputText=text, CostUsd=i / 100)
            for i, text in TEXTS.items()]
    insert(store, rows)
    return store


@pytest.mark.parametrize("q,expected", [
    ("привет", {1}),             # Cyrillic, lower-cased query
    ("ВОЗВРАТ", {1}),            # Cyrillic, upper-cased query
    ("CAFÉ", {2}),               # accented Latin, case-insensitive
    ("résumé naïve", {2}),       # all words must match
    ("cafe", set()),             # no accent folding: é is not e
    ("東京タワーの営業時間を教えてください", {3}),  # a whole CJK run is one token (index)
    ("東京", {3}),               # a word inside a CJK run: substring scan
    ("refund", {4, 5}),
    ("refund capitals", {5}),
    ("zanzibar", set()),
])
def test_search_is_case_insensitive_in_any_script(search_store: Store, q: str, expected: set[int]) -> None:
    found = queries.search_spans(search_store, "search", SpanFilter(q=q), limit=50)
    assert {int(s["span_id"], 16) for s in found["items"]} == expected
    assert found["total"] == len(expected)


def test_search_pages_ids_first_in_the_requested_order(search_store: Store) -> None:
    page1 = queries.search_spans(search_store, "search", SpanFilter(), limit=2, sort="cost", order="desc")
    page2 = queries.search_spans(search_store, "search", SpanFilter(), limit=2, offset=2, sort="cost", order="desc")
    assert [int(s["span_id"], 16) for s in page1["items"] + page2["items"]] == [5, 4, 3, 2]
    assert page1["total"] == 5
    assert page1["items"][0]["input_text"] == TEXTS[5]


@pytest.mark.parametrize("text_index", ["tokenbf", "none"])
def test_text_index_fallbacks_build_and_search(store: Store, text_index: str) -> None:
    other = other_database(store, f"fallback_{text_index}", text_index=text_index)
    try:
        migrate.apply_migrations(other)
        ddl = other.query_rows("SELECT create_table_query FROM system.tables WHERE database = currentDatabase() AND name = 'spans'")[0][0]
        assert ("tokenbf_v1" in ddl) == (text_index == "tokenbf") and "TYPE text" not in ddl
        insert(other, [span("fb", 100 + i, i, T0 + timedelta(minutes=i), InputText=t) for i, t in TEXTS.items()])
        for q, expected in [("ВОЗВРАТ", {1}), ("CAFÉ", {2}), ("東京", {3}), ("refund capitals", {5})]:
            found = queries.search_spans(other, "fb", SpanFilter(q=q))
            assert {int(s["span_id"], 16) for s in found["items"]} == expected, q
    finally:
        other.close()


# -- cost and monitoring from rollups ---------------------------------------------------

@pytest.fixture(scope="module")
def usage_store(store: Store) -> Store:
    rows = []
    for i in range(200):
        at = T0 + timedelta(minutes=37 * i, seconds=i)
        rows.append(span(
            "usage", 1000 + i // 4, i + 1, at,
            RequestModel=["gpt-4o", "claude-sonnet-4", "mystery-model"][i % 3],
            AgentName=["triage", "refund"][i % 2], PromptVersion=f"v{i % 4}", UserId=f"u{i % 5}",
            SpanType="tool" if i % 7 == 0 else "llm", StatusCode="Error" if i % 11 == 0 else "Ok",
            CostUsd=0.0 if i % 3 == 2 else 0.01 * (i % 9), CostSource="unknown" if i % 3 == 2 else "computed",
            InputTokens=100 + i, OutputTokens=i, Duration=(i + 1) * 1_000_000,
        ))
    insert(store, rows[:120])
    insert(store, rows[100:])  # overlapping retry: spans 100-119 re-sent
    return store


def _raw_reference(store: Store, dims: list[str], start: datetime | None, end: datetime | None) -> list[dict]:
    where, params = SpanFilter(start=start, end=end).where("usage")
    cols = "".join(f"{costs.GROUPS[g]} AS {g}, " for g in dims)
    group = f"GROUP BY {', '.join(dims)} ORDER BY {', '.join(dims)}" if dims else ""
    return [{k: queries.jsonable(v) for k, v in r.items()} for r in store.query(
        f"SELECT {cols}sum(CostUsd) AS cost_usd, sum(InputTokens) AS input_tokens, sum(OutputTokens) AS output_tokens,"
        " countIf(SpanType IN ('llm', 'embedding')) AS calls, count() AS spans"
        f" FROM (SELECT * FROM spans WHERE {where} LIMIT 1 BY TraceId, SpanId) {group}", params)]


@pytest.mark.parametrize("dims", [["model"], ["agent", "day"], ["prompt_version"], ["user"], ["user", "model"],
                                  ["user", "prompt_version"], []])
@pytest.mark.parametrize("window", [(None, None), (T0 + timedelta(hours=5, minutes=13), T0 + timedelta(hours=71, minutes=2)),
                                    (T0 + timedelta(hours=3), T0 + timedelta(hours=3, minutes=30)),
                                    (T0 + timedelta(days=1), None)])
def test_cost_summary_from_rollups_equals_a_raw_scan(usage_store: Store, dims, window) -> None:
    got = costs.cost_summary(usage_store, "usage", dims, start=window[0], end=window[1])
    want = _raw_reference(usage_store, dims, *window)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.pop("cost_usd") == pytest.approx(w.pop("cost_usd"))
        assert g == w


def test_usage_breakdown_by_prompt_version_has_errors_and_latency(usage_store: Store) -> None:
    rows = costs.usage_breakdown(usage_store, "usage", ["prompt_version"], equals={"span_type": "llm"})
    assert [r["prompt_version"] for r in rows] == ["v0", "v1", "v2", "v3"]
    assert sum(r["calls"] for r in rows) == sum(1 for i in range(200) if i % 7)
    assert sum(r["errors"] for r in rows) == sum(1 for i in range(200) if i % 7 and i % 11 == 0)
    assert all(0 < r["latency_p50_ms"] <= r["latency_p95_ms"] <= 200 for r in rows)


def test_unknown_models_are_counted_and_listed(usage_store: Store) -> None:
    rows = costs.unknown_models(usage_store, "usage")
    assert [(r["model"], r["spans"]) for r in rows] == [("mystery-model", sum(1 for i in range(200) if i % 3 == 2))]
    assert rows[0]["first_seen"] < rows[0]["last_seen"]


def test_facets_come_from_the_rollups(usage_store: Store) -> None:
    got = queries.facets(usage_store, "usage")
    assert got["models"] == ["claude-sonnet-4", "gpt-4o", "mystery-model"]
    assert got["users"] == [f"u{i}" for i in range(5)]
    assert got["prompt_versions"] == ["v0", "v1", "v2", "v3"]
    assert got["span_types"] == ["llm", "tool"]


def test_trace_by_id_falls_back_when_the_trace_index_missed_it(store) -> None:
    """A crash between the spans insert and its materialized view leaves the index short."""
    from flightlog.storage import queries

    rows = _fallback_rows()
    store.insert_spans([span_row_values(r) for r in rows], SPAN_COLUMNS)
    store.command("DELETE FROM trace_index WHERE TraceId = {t:String}", {"t": rows[0]["TraceId"]})
    trace = queries.get_trace(store, rows[0]["Project"], rows[0]["TraceId"])
    assert trace is not None and [s["span_id"] for s in trace["spans"]] == [r["SpanId"] for r in rows]


def _fallback_rows() -> list[dict]:
    base = 1_790_000_000_000_000_000
    return [{"Project": "fallback", "Timestamp": base + i, "TraceId": "fa" * 16, "SpanId": f"{i + 1:016x}",
             "ParentSpanId": "" if i == 0 else f"{1:016x}", "SpanName": f"s{i}", "Duration": 10,
             "IngestTime": 1_790_000_000_000} for i in range(3)]
