"""Render migration SQL for the deployment at hand: single node or cluster, text index kind.

Migration files are plain single-node ClickHouse SQL, runnable as written (that is what
chDB and a lone server execute). Two options of the DSN change what is sent
(:class:`~.dsn.StoreSettings`):

``text_index``
    ``text`` keeps the ``INDEX idx_text … TYPE text(…)`` clause; ``tokenbf`` swaps it for a
    ``tokenbf_v1`` bloom filter over the lower-cased text (servers without the text index);
    ``none`` drops it. Searches follow the same switch (:mod:`.filters`).

``cluster``
    Every statement gets ``ON CLUSTER <name>``. A *sharded* table ``t`` becomes
    ``t_local`` with the Replicated variant of its engine (one replica set per shard) plus a
    ``Distributed`` table ``t`` over it, so the query code keeps reading and writing ``t``.
    Materialized views are created on the ``_local`` tables (they fire on each shard's own
    inserts). Every other table is *global*: small (projects, keys, settings, the
    migration log), replicated to every node, with no Distributed table.

The renderer only understands the statement shapes our migrations use and raises
``ValueError`` for anything else in cluster mode, so a new shape fails in tests, not in
production.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# table → sharding key of its Distributed table. Spans, their logs and the trace index
# share cityHash64(TraceId) so that one trace lives on one shard.
SHARDED: dict[str, str] = {
    "spans": "cityHash64(TraceId)",
    "log_records": "cityHash64(TraceId)",
    "trace_index": "cityHash64(TraceId)",
    "trace_facts": "cityHash64(TraceId)",
    "usage_hourly": "rand()",
    "usage_users_daily": "rand()",
    # Tables of later migrations that grow with traffic. ReplacingMergeTree tables are
    # sharded by (a part of) their dedupe key, so copies meet on one shard.
    "chain_spans": "cityHash64(TraceId)",
    "review_queue": "cityHash64(TraceId)",
    "access_log": "rand()",
    "metrics": "rand()",
}
# Every other table (projects, keys, the migration log, settings, budgets, the chain's
# batches, …) is small: replicated to every node, no Distributed table. That is the default
# for a table not listed in SHARDED — always correct, and a big table only needs adding above.
GLOBAL = ("projects", "api_keys", "schema_migrations")
ZK_SHARDED = "/clickhouse/tables/{shard}/{database}/%s"
ZK_GLOBAL = "/clickhouse/tables/all/{database}/%s"

TEXT_INDEX_NAME = "idx_text"
TOKENBF_INDEX = (
    "INDEX idx_text lowerUTF8(concatWithSeparator(' ', InputText, OutputText, ToolArgs, ToolResult))"
    " TYPE tokenbf_v1(262144, 3, 0) GRANULARITY 1"
)

_CREATE_TABLE = re.compile(r"^CREATE TABLE IF NOT EXISTS (\w+)\b", re.I)
_CREATE_MV = re.compile(r"^CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+) TO (\w+)\b", re.I)
_ALTER = re.compile(r"^ALTER TABLE (\w+)\s+(.*)$", re.I | re.S)
_MODIFY_ORDER = re.compile(r",\s*MODIFY ORDER BY\s*\(.*\)\s*$", re.I | re.S)
_TRUNCATE = re.compile(r"^TRUNCATE TABLE (?:IF EXISTS )?(\w+)\s*$", re.I)
_INSERT = re.compile(r"^INSERT INTO (\w+)\b", re.I)
_ENGINE = re.compile(r"\bENGINE\s*=\s*(\w*MergeTree)\b", re.I)


@dataclass(frozen=True)
class DdlOptions:
    """What the renderer needs to know about the target."""

    cluster: str = ""
    text_index: str = "text"


def _balanced_end(sql: str, open_at: int) -> int:
    """Index just past the parenthesis that closes the one at ``open_at``."""
    depth = 0
    quoted = False
    for i in range(open_at, len(sql)):
        ch = sql[i]
        if ch == "'" and sql[i - 1] != "\\":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
            if depth == 0:
                return i + 1
    raise ValueError("unbalanced parentheses in DDL")


def render_text_index(sql: str, kind: str) -> str:
    """Swap the ``idx_text`` clause for the configured kind (see module docstring)."""
    start = sql.find(f"INDEX {TEXT_INDEX_NAME} ")
    if start < 0 or kind == "text":
        return sql
    type_at = sql.find("TYPE text(", start)
    if type_at < 0:
        raise ValueError("idx_text clause without TYPE text(...)")
    end = _balanced_end(sql, type_at + len("TYPE text"))
    tail = re.match(r"\s*GRANULARITY\s+\d+", sql[end:])
    if tail:
        end += tail.end()
    if kind == "tokenbf":
        return sql[:start] + TOKENBF_INDEX + sql[end:]
    if kind == "none":
        head = sql[:start].rstrip()
        if head.endswith(","):
            head = head[:-1]
        return head + "\n" + sql[end:].lstrip()
    raise ValueError(f"unknown text index kind {kind!r}")


def _local_names(sql: str) -> str:
    """``spans`` → ``spans_local`` (and the other sharded tables) inside a query body."""
    for table in SHARDED:
        sql = re.sub(rf"\b{table}\b", f"{table}_local", sql)
    return sql


def _replicated_engine(sql: str, zk_path: str, replica: str) -> str:
    match = _ENGINE.search(sql)
    if not match:
        raise ValueError(f"no *MergeTree engine in: {sql[:80]}…")
    engine = match.group(1)
    args_at = match.end()
    args = ""
    if args_at < len(sql) and sql[args_at] == "(":
        end = _balanced_end(sql, args_at)
        args = sql[args_at + 1:end - 1].strip()
        rest = sql[end:]
    else:
        rest = sql[args_at:]
    zk_args = f"'{zk_path}', '{replica}'" + (f", {args}" if args else "")
    return f"{sql[:match.start()]}ENGINE = Replicated{engine}({zk_args}){rest}"


def render_statement(sql: str, options: DdlOptions) -> list[str]:
    """The statement(s) to send for one migration statement."""
    sql = render_text_index(sql.strip(), options.text_index)
    if not options.cluster:
        return [sql]
    on = f"ON CLUSTER {options.cluster}"
    if m := _CREATE_TABLE.match(sql):
        name = m.group(1)
        if name in SHARDED:
            local = _replicated_engine(sql, ZK_SHARDED % f"{name}_local", "{replica}")
            local = _CREATE_TABLE.sub(f"CREATE TABLE IF NOT EXISTS {name}_local {on}", local, count=1)
            dist = (f"CREATE TABLE IF NOT EXISTS {name} {on} AS {name}_local"
                    f" ENGINE = Distributed({options.cluster}, currentDatabase(), {name}_local, {SHARDED[name]})")
            return [local, dist]
        out = _replicated_engine(sql, ZK_GLOBAL % name, "{shard}-{replica}")
        return [_CREATE_TABLE.sub(f"CREATE TABLE IF NOT EXISTS {name} {on}", out, count=1)]
    if m := _CREATE_MV.match(sql):
        view, target = m.group(1), m.group(2)
        if target not in SHARDED:
            raise ValueError(f"materialized view {view!r} must write to a sharded table, not {target!r}")
        body = _local_names(sql[m.end():])
        return [f"CREATE MATERIALIZED VIEW IF NOT EXISTS {view} {on} TO {target}_local{body}"]
    if m := _ALTER.match(sql):
        name, action = m.group(1), m.group(2)
        if name not in SHARDED:
            return [f"ALTER TABLE {name} {on} {action}"]
        statements = [f"ALTER TABLE {name}_local {on} {_local_names(action)}"]
        if re.match(r"(ADD|DROP|MODIFY|RENAME|COMMENT) COLUMN\b", action, re.I):
            # the Distributed table's columns (it has no sorting key to modify)
            statements.append(f"ALTER TABLE {name} {on} {_MODIFY_ORDER.sub('', action)}")
        return statements
    if m := _TRUNCATE.match(sql):
        name = m.group(1)
        target = f"{name}_local" if name in SHARDED else name
        return [f"TRUNCATE TABLE IF EXISTS {target} {on}"]
    if _INSERT.match(sql):
        return [sql]  # backfills run once, through the Distributed tables
    raise ValueError(f"cannot render for a cluster: {sql[:80]}…")


def render_all(statements: list[str], options: DdlOptions) -> list[str]:
    """Render a list of migration statements, in order."""
    return [out for statement in statements for out in render_statement(statement, options)]
