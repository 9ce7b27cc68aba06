"""The one object that owns the ClickHouse connections (docs/decisions/0001-the-collector-owns-the-store.md).

One writer client serialises inserts and DDL; a small pool of reader clients serves the
query API in parallel (chDB clients on one path are thread-safe when separate).
Nothing outside ``flightlog.storage`` imports clickhouse-connect.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from collections.abc import Iterator, Sequence
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError

from .dsn import StoreSettings, parse_dsn
from .errors import QueryTimeout, StorageError, StorageUnavailable
from .schema import SPAN_COLUMNS, pad_span_values
from .timewindow import to_ns

log = logging.getLogger(__name__)

DEFAULT_READERS = 2
DEFAULT_MAX_EXECUTION_TIME = 30
DEFAULT_MAX_MEMORY_USAGE = 2_000_000_000
# Span ids per "already stored?" lookup (they travel as one query parameter).
DEDUPE_CHUNK = 2000
# ClickHouse error codes that mean "a read hit its limit" (TIMEOUT_EXCEEDED, MEMORY_LIMIT_EXCEEDED).
_LIMIT_CODES = ("Code: 159", "Code: 241")


def _connect(settings: StoreSettings, database: str | None) -> Any:
    try:
        if settings.embedded:
            dsn = "chdb://memory" if settings.path == "memory" else f"chdb://{settings.path}"
            if settings.path != "memory":
                os.makedirs(settings.path, exist_ok=True)
            return clickhouse_connect.get_client(dsn=dsn, database=database or "")
        return clickhouse_connect.get_client(
            host=settings.host,
            port=settings.port,
            username=settings.username,
            password=settings.password,
            secure=settings.secure,
            database=database or "",
        )
    except Exception as exc:  # any driver/engine failure to open is "unavailable"
        raise StorageUnavailable(f"cannot open store {settings.display()}: {exc}") from exc


@contextlib.contextmanager
def _translated(what: str) -> Iterator[None]:
    """Turn clickhouse-connect errors into storage errors, keeping the server's message."""
    try:
        yield
    except OperationalError as exc:  # http: the server could not be reached (or kept answering 503)
        raise StorageUnavailable(f"{what} failed: {str(exc).splitlines()[0] if str(exc) else exc!r}") from exc
    except ClickHouseError as exc:
        text = str(exc)
        if any(code in text for code in _LIMIT_CODES):
            raise QueryTimeout(f"{what} exceeded its time or memory limit") from exc
        raise StorageError(f"{what} failed: {text.splitlines()[0] if text else exc!r}") from exc
    except (OSError, RuntimeError) as exc:
        raise StorageUnavailable(f"{what} failed: {exc}") from exc


class Store:
    """A ClickHouse store: one writer client plus a pool of reader clients.

    Use :func:`open_store` to build one; call :meth:`close` (idempotent) when done, because an
    embedded data directory can be opened by one process at a time.
    """

    def __init__(self, settings: StoreSettings, *, readers: int = DEFAULT_READERS) -> None:
        self.settings = settings
        admin = _connect(settings, None)
        with _translated("create database"):
            admin.command(f"CREATE DATABASE IF NOT EXISTS `{settings.database}`")
        admin.close()
        self._writer = _connect(settings, settings.database)
        self._write_lock = threading.Lock()
        self._readers: queue.Queue[Any] = queue.Queue()
        for _ in range(max(1, readers)):
            self._readers.put(_connect(settings, settings.database))
        # Side queries (a search's total count) run on this pool while the caller reads a page.
        self._side = ThreadPoolExecutor(max_workers=max(1, readers), thread_name_prefix="flightlog-read")
        self._closed = False
        self.read_settings: dict[str, Any] = {
            "max_execution_time": DEFAULT_MAX_EXECUTION_TIME,
            "max_memory_usage": DEFAULT_MAX_MEMORY_USAGE,
        }

    def __repr__(self) -> str:
        return f"Store({self.settings.display()})"

    # -- writes -------------------------------------------------------------------------
    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> None:
        """Run DDL or a mutation on the writer client."""
        with self._write_lock, _translated("command"):
            self._writer.command(sql, parameters=parameters or {})

    def command_rendered(self, sql: str, parameters: dict[str, Any] | None = None,
                         settings: dict[str, Any] | None = None) -> None:
        """Run a DDL or mutation written for one node, rendered for this deployment (:mod:`.ddl`)."""
        from .ddl import DdlOptions, render_statement

        options = DdlOptions(cluster=self.settings.cluster, text_index=self.settings.text_index)
        for statement in render_statement(sql, options):
            with self._write_lock, _translated("command"):
                self._writer.command(statement, parameters=parameters or {}, settings=settings or {})

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
        """Insert rows (already in column order) as one part; callers batch
        (docs/decisions/0003-batch-every-insert.md)."""
        if not rows:
            return
        with self._write_lock, _translated(f"insert into {table}"):
            self._writer.insert(table, list(rows), column_names=list(columns))

    def insert_spans(self, rows: Sequence[Sequence[Any]], columns: Sequence[str] = SPAN_COLUMNS) -> int:
        """Insert span rows that are not stored yet; returns how many were inserted.

        Spans already stored (same project, trace id and span id) or repeated within the batch
        are skipped: a retried export or a replayed spool segment must not be counted twice by
        the rollup materialized views, which see every inserted row (ReplacingMergeTree only
        dedupes the table itself, and only at merge time). The check reads the batch's time
        range of the primary key plus the span-id bloom filter.
        """
        if not rows:
            return 0
        with self._write_lock, _translated("insert into spans"):
            fresh, columns = self._unseen_spans(rows, columns)
            if fresh:
                self._writer.insert("spans", fresh, column_names=list(columns))
            return len(fresh)

    def _unseen_spans(
        self, rows: Sequence[Sequence[Any]], columns: Sequence[str]
    ) -> tuple[list[Sequence[Any]], Sequence[str]]:
        """The rows whose span is neither earlier in the batch nor already stored."""
        columns = list(columns)
        if columns == list(SPAN_COLUMNS) and any(len(r) < len(columns) for r in rows):
            rows = [pad_span_values(list(r)) for r in rows]  # spooled before a column was added
        try:
            ip, its, itr, isp = (columns.index(c) for c in ("Project", "Timestamp", "TraceId", "SpanId"))
        except ValueError:
            return list(rows), columns
        fresh: list[Sequence[Any]] = []
        seen: set[tuple[str, str, str]] = set()
        ranges: dict[str, list[Any]] = {}
        for row in rows:
            key = (row[ip], row[itr], row[isp])
            if key in seen:
                continue
            seen.add(key)
            fresh.append(row)
            ns = int(to_ns(row[its]) or 0)
            span = ranges.setdefault(row[ip], [ns, ns, []])
            span[0], span[1] = min(span[0], ns), max(span[1], ns)
            span[2].append(row[isp])
        stored: set[tuple[str, str, str]] = set()
        for project, (lo, hi, span_ids) in ranges.items():
            for i in range(0, len(span_ids), DEDUPE_CHUNK):
                result = self._writer.query(
                    "SELECT TraceId, SpanId FROM spans WHERE Project = {p:String}"
                    " AND Timestamp >= fromUnixTimestamp64Nano({lo:Int64})"
                    " AND Timestamp <= fromUnixTimestamp64Nano({hi:Int64})"
                    " AND SpanId IN {ids:Array(String)}",
                    parameters={"p": project, "lo": lo, "hi": hi, "ids": span_ids[i:i + DEDUPE_CHUNK]},
                    settings=self.read_settings,
                )
                stored.update((project, t, s) for t, s in result.result_rows)
        if stored:
            fresh = [r for r in fresh if (r[ip], r[itr], r[isp]) not in stored]
        return fresh, columns

    # -- reads --------------------------------------------------------------------------
    @contextlib.contextmanager
    def _reader(self) -> Iterator[Any]:
        client = self._readers.get()
        try:
            yield client
        finally:
            self._readers.put(client)

    def query(
        self, sql: str, parameters: dict[str, Any] | None = None, *, settings: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Run a bounded read and return rows as dicts keyed by column name."""
        merged = {**self.read_settings, **(settings or {})}
        with self._reader() as client, _translated("query"):
            result = client.query(sql, parameters=parameters or {}, settings=merged)
        names = result.column_names
        return [dict(zip(names, row)) for row in result.result_rows]

    def query_rows(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Like :meth:`query` but returns plain tuples (for scalar lookups)."""
        with self._reader() as client, _translated("query"):
            return list(client.query(sql, parameters=parameters or {}, settings=self.read_settings).result_rows)

    def query_rows_later(self, sql: str, parameters: dict[str, Any] | None = None) -> Future[list[tuple[Any, ...]]]:
        """:meth:`query_rows` on another reader while the caller goes on; ``.result()`` waits."""
        return self._side.submit(self.query_rows, sql, parameters)

    def close(self) -> None:
        """Close every client. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._side.shutdown(wait=True)
        clients = [self._writer]
        while not self._readers.empty():
            clients.append(self._readers.get_nowait())
        for client in clients:
            try:
                client.close()
            except Exception:  # closing during teardown: nothing left to save, log and go on
                log.exception("error while closing a store client")


def open_store(dsn: str | StoreSettings, *, readers: int = DEFAULT_READERS, migrate: bool = True) -> Store:
    """Open the store at ``dsn`` and (by default) apply pending migrations."""
    settings = parse_dsn(dsn) if isinstance(dsn, str) else dsn
    store = Store(settings, readers=readers)
    if migrate:
        from .migrate import apply_migrations

        try:
            apply_migrations(store)
        except Exception:
            store.close()
            raise
    return store
