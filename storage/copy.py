"""Copy one store into another (``flightlog store copy``): moving up from the embedded store to a
ClickHouse server (docs/scale-out.md).

Every table the migrations create is copied (the migration log and the lease table aside: the
target runs its own migrations). Rows travel as Native blocks, page by page in the table's
sorting-key order, each page inserted with a deduplication token derived from its rows' content
(the engine's hash of each row), so a second run with the same page size (or a run after a crash
half way) inserts nothing it inserted before; migration 0031 gives every table the deduplication
window this needs.

Tables that materialized views fill (the rollups and the trace index) are filled on the target
by the copied spans' inserts; they are then replaced by the source's rows (truncated and
copied), so usage that outlived its spans (retention) moves too, and a second run gives the
same result. Run the copy before collectors write to the target.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from .migrate import migration_files, split_statements
from .store import Store

DEFAULT_PAGE_ROWS = 20_000
SKIPPED = frozenset({"schema_migrations", "store_leases", "store_generations"})  # bookkeeping of this store
_CREATE_TABLE = re.compile(r"^CREATE TABLE IF NOT EXISTS (\w+)\b", re.I)
_CREATE_MV = re.compile(r"^CREATE MATERIALIZED VIEW IF NOT EXISTS \w+ TO (\w+)\b", re.I)


@dataclass(frozen=True)
class CopyPlan:
    """The tables to copy, in migration order: plain tables first, then view-filled ones."""

    tables: tuple[str, ...]
    view_filled: tuple[str, ...]


def copy_plan() -> CopyPlan:
    """Every table of the shipped migrations, split by whether a materialized view fills it."""
    tables: list[str] = []
    filled: list[str] = []
    for _, _, sql in migration_files():
        for statement in split_statements(sql):
            if m := _CREATE_TABLE.match(statement):
                if m.group(1) not in SKIPPED and m.group(1) not in tables:
                    tables.append(m.group(1))
            elif m := _CREATE_MV.match(statement):
                filled.append(m.group(1))
    return CopyPlan(tuple(t for t in tables if t not in filled), tuple(t for t in tables if t in filled))


@dataclass
class CopyReport:
    """Rows per table: in the source (physical rows, as paged), sent this run, and in the target
    afterwards as readers see them (merged: ``FINAL`` for the collapsing engines, so the figure does
    not depend on whether a background merge has run yet)."""

    source_rows: dict[str, int] = field(default_factory=dict)
    sent_rows: dict[str, int] = field(default_factory=dict)
    target_rows: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, dict[str, int]]:
        return {t: {"source": self.source_rows[t], "sent": self.sent_rows.get(t, 0),
                    "target": self.target_rows.get(t, 0)} for t in self.source_rows}


def _columns(store: Store, table: str) -> list[str]:
    return [r[0] for r in store.query_rows(
        "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = {t:String}"
        " AND default_kind NOT IN ('MATERIALIZED', 'ALIAS', 'EPHEMERAL') ORDER BY position", {"t": table})]


def _sorting_key(store: Store, table: str) -> str:
    rows = store.query_rows("SELECT sorting_key FROM system.tables WHERE database = currentDatabase()"
                            " AND name = {t:String}", {"t": table})
    return rows[0][0] if rows and rows[0][0] else "tuple()"


def count_rows(store: Store, table: str) -> int:
    return int(store.query_rows(f"SELECT count() FROM `{table}`")[0][0])  # table names come from the migrations


def merged_rows(store: Store, table: str) -> int:
    """Rows of ``table`` as a reader sees them: collapsing engines' rows of one key count once."""
    engine = store.query_rows("SELECT engine FROM system.tables WHERE database = currentDatabase()"
                              " AND name = {t:String}", {"t": table})
    final = " FINAL" if engine and engine[0][0] != "MergeTree" else ""
    return int(store.query_rows(f"SELECT count() FROM `{table}`{final}")[0][0])  # names from the migrations


def copy_store(source: Store, target: Store, *, page_rows: int = DEFAULT_PAGE_ROWS,
               progress: Callable[[str, int], None] | None = None) -> CopyReport:
    """Copy every table of ``source`` into ``target`` (both migrated); see the module docstring."""
    plan = copy_plan()
    report = CopyReport()
    everything = plan.tables + plan.view_filled
    # The source's rows must not change while it is paged: no merges (they would collapse rows).
    for table in everything:
        source.command(f"SYSTEM STOP MERGES `{table}`")
    try:
        for table in everything:
            report.source_rows[table] = count_rows(source, table)
        for table in plan.tables:
            report.sent_rows[table] = _copy_table(source, target, table, page_rows, progress, dedupe=True)
        for table in plan.view_filled:
            target.command_rendered(f"TRUNCATE TABLE {table}")
            report.sent_rows[table] = _copy_table(source, target, table, page_rows, progress, dedupe=False)
    finally:
        for table in everything:
            source.command(f"SYSTEM START MERGES `{table}`")
    for table in everything:
        report.target_rows[table] = merged_rows(target, table)
    return report


def _copy_table(source: Store, target: Store, table: str, page_rows: int,
                progress: Callable[[str, int], None] | None, *, dedupe: bool) -> int:
    columns = _columns(source, table)
    listed = ", ".join(f"`{c}`" for c in columns)
    # A total order, so a second run cuts the same pages: the sorting key, then every column's hash
    # (aggregate states cannot be hashed; view-filled tables need no stable pages).
    order = _sorting_key(source, table) + (f", cityHash64({listed})" if dedupe else "")
    total = count_rows(source, table)
    sent = 0
    page = f"SELECT {listed} FROM `{table}` ORDER BY {order} LIMIT {{n:UInt64}} OFFSET {{o:UInt64}}"
    # Sorted again as a whole, by one thread: the page leaves as blocks that depend on its rows
    # only. Read straight from the parts, it is one block per part it touches, and the target
    # names each block of an insert apart (token_0, token_1, …): after a merge of the source's
    # parts the same rows would carry other names and be inserted again.
    whole = f"SELECT {listed} FROM ({page}) ORDER BY {order}"
    one_block = {"max_threads": 1, "optimize_read_in_order": 0, "max_block_size": max(page_rows, 65_409)}
    for offset in range(0, total, page_rows):
        bounds = {"n": page_rows, "o": offset}
        data = source.raw_select(whole, bounds, settings=one_block)
        token = f"copy:{table}:{_page_digest(source, page, listed, bounds)}" if dedupe else ""
        rows = min(page_rows, total - offset)
        target.insert_native(table, columns, data, dedup_token=token)
        sent += rows
        if progress:
            progress(table, rows)
    return sent


def _page_digest(source: Store, page: str, listed: str, bounds: dict[str, int]) -> str:
    """What a page holds, by content: the engine's hash of every row. Not the Native bytes, whose
    layout (low-cardinality dictionaries) may change when the source's parts merge between two
    runs, which would give the same rows a new token and insert them twice."""
    count, total = source.query_rows(f"SELECT count(), sum(cityHash64({listed})) FROM ({page})", bounds)[0]
    return hashlib.sha256(f"{count}:{total}".encode()).hexdigest()
