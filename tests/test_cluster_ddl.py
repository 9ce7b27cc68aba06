"""Tests for flightlog.storage.ddl: the migrations rendered for one node and for a cluster.

The single-node rendering is what runs for real on chDB (tests/test_storage.py); the
cluster rendering is checked statement by statement here.
"""

from __future__ import annotations

import re

import pytest

from flightlog.storage.ddl import DdlOptions, render_statement, render_text_index
from flightlog.storage.dsn import parse_dsn
from flightlog.storage.migrate import MIGRATIONS_TABLE, migration_files, rendered_migrations, split_statements

CLUSTER = DdlOptions(cluster="flightlog")


def all_statements(options: DdlOptions) -> list[str]:
    return render_statement(MIGRATIONS_TABLE, options) + [s for _, _, sts in rendered_migrations(options) for s in sts]


def test_single_node_rendering_is_the_files_as_written() -> None:
    for (_, _, sql), (_, _, rendered) in zip(migration_files(), rendered_migrations(DdlOptions())):
        assert rendered == split_statements(sql)


def test_every_cluster_statement_runs_on_cluster_or_is_a_backfill() -> None:
    for statement in all_statements(CLUSTER):
        if statement.startswith("INSERT INTO"):
            continue
        assert "ON CLUSTER flightlog" in statement, statement


@pytest.mark.parametrize("table,key", [
    ("spans", "cityHash64(TraceId)"), ("log_records", "cityHash64(TraceId)"),
    ("trace_index", "cityHash64(TraceId)"), ("usage_hourly", "rand()"), ("usage_users_daily", "rand()"),
])
def test_sharded_tables_are_replicated_locally_with_a_distributed_table_on_top(table: str, key: str) -> None:
    statements = all_statements(CLUSTER)
    local = next(s for s in statements if s.startswith(f"CREATE TABLE IF NOT EXISTS {table}_local ON CLUSTER flightlog"))
    assert re.search(rf"ENGINE = Replicated\w*MergeTree\('/clickhouse/tables/{{shard}}/{{database}}/{table}_local', '{{replica}}'", local)
    dist = next(s for s in statements if s.startswith(f"CREATE TABLE IF NOT EXISTS {table} ON CLUSTER"))
    assert dist.endswith(f"AS {table}_local ENGINE = Distributed(flightlog, currentDatabase(), {table}_local, {key})")


def test_the_replacing_engine_keeps_its_version_column() -> None:
    spans = next(s for s in all_statements(CLUSTER) if s.startswith("CREATE TABLE IF NOT EXISTS spans_local"))
    assert "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/spans_local', '{replica}', IngestTime)" in spans


@pytest.mark.parametrize("table", ["projects", "api_keys", "schema_migrations"])
def test_small_tables_are_replicated_to_every_node_without_distributed(table: str) -> None:
    statements = all_statements(CLUSTER)
    created = [s for s in statements if re.match(rf"CREATE TABLE IF NOT EXISTS {table}\b", s)]
    assert len(created) == 1
    assert f"'/clickhouse/tables/all/{{database}}/{table}', '{{shard}}-{{replica}}'" in created[0]
    assert "Distributed" not in created[0]


def test_materialized_views_read_and_write_local_tables() -> None:
    views = [s for s in all_statements(CLUSTER) if s.startswith("CREATE MATERIALIZED VIEW")]
    assert len(views) == 3
    for view in views:
        assert re.search(r"ON CLUSTER flightlog TO \w+_local AS", view)
        assert "FROM spans_local" in view and not re.search(r"FROM spans\b(?!_)", view)


def test_column_changes_reach_the_local_and_the_distributed_table() -> None:
    alters = [s for s in all_statements(CLUSTER) if "ADD COLUMN IF NOT EXISTS TraceName" in s]
    assert [a.split(" ON CLUSTER")[0] for a in alters] == ["ALTER TABLE spans_local", "ALTER TABLE spans"]


def test_backfills_truncate_local_tables_and_insert_through_distributed_ones() -> None:
    statements = all_statements(CLUSTER)
    assert "TRUNCATE TABLE IF EXISTS usage_hourly_local ON CLUSTER flightlog" in statements
    inserts = [s for s in statements if s.startswith("INSERT INTO")]
    assert inserts and all("_local" not in s for s in inserts)


def test_runtime_mutations_are_rendered_for_the_cluster() -> None:
    out = render_statement("ALTER TABLE spans UPDATE CostUsd = 0 WHERE Project = {p:String}", CLUSTER)
    assert out == ["ALTER TABLE spans_local ON CLUSTER flightlog UPDATE CostUsd = 0 WHERE Project = {p:String}"]


def test_a_table_not_listed_as_sharded_is_replicated_to_every_node() -> None:
    out = render_statement("CREATE TABLE IF NOT EXISTS mystery (x UInt8) ENGINE = MergeTree ORDER BY x", CLUSTER)
    assert out == ["CREATE TABLE IF NOT EXISTS mystery ON CLUSTER flightlog (x UInt8) ENGINE = "
                   "ReplicatedMergeTree('/clickhouse/tables/all/{database}/mystery', '{shard}-{replica}') ORDER BY x"]


def test_unknown_statement_shapes_fail_loudly_in_cluster_mode() -> None:
    with pytest.raises(ValueError, match="cannot render"):
        render_statement("OPTIMIZE TABLE spans FINAL", CLUSTER)


@pytest.mark.parametrize("kind,present,absent", [
    ("text", "TYPE text(tokenizer = splitByNonAlpha", "tokenbf_v1"),
    ("tokenbf", "INDEX idx_text lowerUTF8(concatWithSeparator(' ', InputText, OutputText, ToolArgs, ToolResult)) TYPE tokenbf_v1(", "TYPE text("),
    ("none", "INDEX idx_session", "idx_text"),
])
def test_text_index_kind_switch(kind: str, present: str, absent: str) -> None:
    spans_sql = split_statements(migration_files()[0][2])[0]
    out = render_text_index(spans_sql, kind)
    assert present in out and absent not in out
    assert out.rstrip().endswith("ORDER BY (Project, Timestamp, TraceId, SpanId)")


@pytest.mark.parametrize("dsn,cluster,text_index", [
    ("http://ch:8123/fl?cluster=flightlog", "flightlog", "text"),
    ("http://ch:8123/fl?cluster=flightlog&text_index=tokenbf", "flightlog", "tokenbf"),
    ("chdb:///tmp/x?text_index=none", "", "none"),
])
def test_dsn_options_select_cluster_and_text_index(dsn: str, cluster: str, text_index: str) -> None:
    settings = parse_dsn(dsn)
    assert (settings.cluster, settings.text_index) == (cluster, text_index)


@pytest.mark.parametrize("dsn,message", [
    ("chdb:///tmp/x?cluster=c", "needs a ClickHouse server"),
    ("http://ch:8123/fl?text_index=ngram", "text_index must be one of"),
    ("http://ch:8123/fl?shards=2", "unknown DSN option"),
    ("http://ch:8123/fl?cluster=bad-name", "cluster name"),
])
def test_bad_dsn_options_are_refused(dsn: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_dsn(dsn)


def test_cluster_compose_has_two_shards_of_two_replicas_and_a_keeper() -> None:
    import yaml
    from pathlib import Path
    from urllib.parse import parse_qs, urlsplit

    compose = yaml.safe_load((Path(__file__).resolve().parents[1] / "docker-compose.cluster.yml").read_text())
    services, configs = compose["services"], compose["configs"]
    nodes = [name for name in services if name.startswith("ch-")]
    assert sorted(nodes) == ["ch-s1-r1", "ch-s1-r2", "ch-s2-r1", "ch-s2-r2"] and "keeper" in services
    macros = {re.search(r"<shard>(\d+)</shard><replica>([\w-]+)</replica>", configs[f"macros-{n[3:]}"]["content"]).groups()
              for n in nodes}
    assert len(macros) == 4 and {m[0] for m in macros} == {"01", "02"}
    cluster_xml = configs["cluster"]["content"]
    assert cluster_xml.count("<shard>") == 2 and cluster_xml.count("<replica>") == 4
    dsn = services["collector"]["environment"]["FLIGHTLOG_DSN"]
    name = parse_qs(urlsplit(dsn).query)["cluster"][0]
    assert f"<{name}>" in cluster_xml


def test_the_lease_table_is_replicated_to_every_node_with_its_deduplication_window() -> None:
    from flightlog.storage.leases import LEASES_TABLE

    (statement,) = render_statement(LEASES_TABLE, CLUSTER)
    assert statement.startswith("CREATE TABLE IF NOT EXISTS store_leases ON CLUSTER flightlog")
    assert "ReplicatedMergeTree('/clickhouse/tables/all/{database}/store_leases', '{shard}-{replica}')" in statement
    assert "Distributed" not in statement, "one lease table for the whole cluster, not one per shard"


def test_every_copied_table_keeps_a_deduplication_window() -> None:
    from flightlog.storage.copy import copy_plan

    windowed = set()
    for _, _, sql in migration_files():
        for statement in split_statements(sql):
            if "non_replicated_deduplication_window" in statement:
                windowed.add(re.match(r"ALTER TABLE (\w+)", statement).group(1))
    assert set(copy_plan().tables) <= windowed, "flightlog store copy relies on it to be idempotent"
