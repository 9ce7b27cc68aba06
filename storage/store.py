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
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError

from .dsn import StoreSettings, parse_dsn
from .errors import QueryTimeout, StorageError, StorageUnavailable
from .schema import SPAN_COLUMNS, pad_span_values
from .timewindow import to_ns

log = logging.getLogger(__name__)

DEFAULT_READERS = 2
CONNECT_BACKOFF_S = 0.5
MAX_CONNECT_BACKOFF_S = 15.0
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


def _dedup_settings(token: str) -> dict[str, Any]:
    """Insert settings that name a batch ``token`` for the table and its materialized views."""
    if not token:
        return {}
    return {"insert_deduplication_token": token, "deduplicate_blocks_in_dependent_materialized_views": 1}


class Store:
    """A ClickHouse store: one writer client plus a pool of reader clients.

    Use :func:`open_store` to build one; call :meth:`close` (idempotent) when done, because an
    embedded data directory can be opened by one process at a time.
    """

    def __init__(self, settings: StoreSettings, *, readers: int = DEFAULT_READERS, migrate: bool = False,
                 lazy: bool = False) -> None:
        """Connect now, or with ``lazy`` on first use: a server that does not answer yet makes
        every call raise :class:`StorageUnavailable` (retried with backoff, at most one attempt
        per backoff step) until it answers; then the clients are made and, with ``migrate``,
        pending migrations applied, before the ``on_connect`` callbacks run."""
        self.settings = settings
        self._reader_count = max(1, readers)
        self._migrate = migrate
        self._writer: Any = None
        self._write_lock = threading.Lock()
        self._readers: queue.Queue[Any] = queue.Queue()
        # Side queries (a search's total count) run on this pool while the caller reads a page.
        self._side = ThreadPoolExecutor(max_workers=self._reader_count, thread_name_prefix="flightlog-read")
        self._closed = False
        self._connected = False
        self._connect_lock = threading.Lock()
        self._retry_at = 0.0
        self._backoff = CONNECT_BACKOFF_S
        self.last_connect_error = ""
        self._on_connect: list[Callable[[Store], None]] = []
        self.read_settings: dict[str, Any] = {
            "max_execution_time": DEFAULT_MAX_EXECUTION_TIME,
            "max_memory_usage": DEFAULT_MAX_MEMORY_USAGE,
        }
        if not lazy:
            self._connect()

    @property
    def connected(self) -> bool:
        return self._connected

    def on_connect(self, callback: Callable[[Store], None]) -> None:
        """Run ``callback(store)`` once the store is connected (now, if it already is)."""
        self._on_connect.append(callback)
        if self._connected:
            callback(self)

    def _connect(self) -> None:
        admin = _connect(self.settings, None)
        try:
            with _translated("create database"):
                admin.command(f"CREATE DATABASE IF NOT EXISTS `{self.settings.database}`")
        finally:
            admin.close()
        self._writer = _connect(self.settings, self.settings.database)
        for _ in range(self._reader_count):
            self._readers.put(_connect(self.settings, self.settings.database))
        self._connected = True
        if self._migrate:
            from .migrate import apply_migrations

            try:
                apply_migrations(self)
            except Exception:
                self._disconnect()
                raise
        for callback in self._on_connect:
            callback(self)

    def _disconnect(self) -> None:
        self._connected = False
        clients = [self._writer] if self._writer is not None else []
        while not self._readers.empty():
            clients.append(self._readers.get_nowait())
        self._writer = None
        for client in clients:
            try:
                client.close()
            except Exception:  # closing a client that never worked: nothing to save, log and go on
                log.exception("error while closing a store client")

    def _ensure(self) -> None:
        """Connect a lazy store on first use (see ``__init__``)."""
        if self._connected:
            return
        with self._connect_lock:
            if self._connected:
                return
            if self._closed:
                raise StorageUnavailable("store is closed")
            now = time.monotonic()
            if now < self._retry_at:
                raise StorageUnavailable(f"store {self.settings.display()} not reachable: {self.last_connect_error}")
            try:
                self._connect()
            except StorageError as exc:
                self.last_connect_error = str(exc)
                self._retry_at = now + self._backoff
                self._backoff = min(self._backoff * 2, MAX_CONNECT_BACKOFF_S)
                log.warning("store %s not reachable yet (next try in %.1fs): %s", self.settings.display(),
                            self._retry_at - now, exc)
                raise StorageUnavailable(f"store {self.settings.display()} not reachable: {exc}") from exc
            self._backoff = CONNECT_BACKOFF_S
            self.last_connect_error = ""
            log.info("store %s connected", self.settings.display())

    def __repr__(self) -> str:
        return f"Store({self.settings.display()})"

    # -- writes -------------------------------------------------------------------------
    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> None:
        """Run DDL or a mutation on the writer client."""
        self._ensure()
        with self._write_lock, _translated("command"):
            self._writer.command(sql, parameters=parameters or {})

    def command_rendered(self, sql: str, parameters: dict[str, Any] | None = None,
                         settings: dict[str, Any] | None = None) -> None:
        """Run a DDL or mutation written for one node, rendered for this deployment (:mod:`.ddl`)."""
        from .ddl import DdlOptions, render_statement

        self._ensure()
        options = DdlOptions(cluster=self.settings.cluster, text_index=self.settings.text_index)
        for statement in render_statement(sql, options):
            with self._write_lock, _translated("command"):
                self._writer.command(statement, parameters=parameters or {}, settings=settings or {})

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str], *,
               dedup_token: str = "") -> None:
        """Insert rows (already in column order) as one part; callers batch
        (docs/decisions/0003-batch-every-insert.md).

        ``dedup_token`` names the batch: inserting the same token again into the same table is
        a no-op (ClickHouse insert deduplication; tables opt in with a deduplication window,
        migration 0015), so a retried spool segment is never stored twice. The materialized views
        fed by the table check the token for their own copy (their tables keep a window too,
        migration 0039): an insert that landed in the table but failed in a view is completed
        by its retry, and a view it did reach is not counted twice.
        """
        if not rows:
            return
        settings = _dedup_settings(dedup_token) or None
        self._ensure()
        with self._write_lock, _translated(f"insert into {table}"):
            self._writer.insert(table, list(rows), column_names=list(columns), settings=settings)

    def insert_native(self, table: str, columns: Sequence[str], data: bytes, *, dedup_token: str = "") -> None:
        """Insert rows given as a Native-format byte block (what :meth:`raw_select` returns), as
        they are: rows of one key in the block are not collapsed (``optimize_on_insert=0``)."""
        if not data:
            return
        settings: dict[str, Any] = {"optimize_on_insert": 0, **_dedup_settings(dedup_token)}
        self._ensure()
        with self._write_lock, _translated(f"insert into {table}"):
            self._writer.raw_insert(table, list(columns), insert_block=data, settings=settings, fmt="Native")

    def insert_spans(self, rows: Sequence[Sequence[Any]], columns: Sequence[str] = SPAN_COLUMNS) -> int:
        """Insert the span rows that are not stored yet (:meth:`unseen_spans`); returns how many."""
        fresh = self.unseen_spans(rows, columns)
        self.insert("spans", fresh, columns)
        return len(fresh)

    def unseen_spans(self, rows: Sequence[Sequence[Any]], columns: Sequence[str] = SPAN_COLUMNS) -> list[list[Any]]:
        """The span rows whose (project, trace id, span id) is neither stored nor earlier in the batch.

        A retried export or a replayed spool segment must not be counted twice by the rollup
        materialized views, which see every inserted row (ReplacingMergeTree only dedupes the
        table itself, and only at merge time), and the audit chain must record exactly what is
        stored (docs/decisions/0006-dedupe-at-insert.md). A span is the same span whatever its
        timestamp: the lookup covers the stored time range of the batch's traces (from
        ``trace_index``), so a re-send with another start time is found too. Traces the store
        has never seen need no lookup at all.
        """
        columns = list(columns)
        if columns == list(SPAN_COLUMNS) and any(len(r) < len(columns) for r in rows):
            rows = [pad_span_values(list(r)) for r in rows]  # spooled before a column was added
        ip, its, itr, isp = (columns.index(c) for c in ("Project", "Timestamp", "TraceId", "SpanId"))
        fresh: list[list[Any]] = []
        seen: set[tuple[str, str, str]] = set()
        by_project: dict[str, list[list[Any]]] = {}
        for row in rows:
            key = (row[ip], row[itr], row[isp])
            if key in seen:
                continue
            seen.add(key)
            fresh.append(list(row))
            by_project.setdefault(row[ip], []).append(fresh[-1])
        stored = self._lookup(by_project, its, itr, isp)
        return [r for r in fresh if (r[ip], r[itr], r[isp]) not in stored] if stored else fresh

    def stored_chain_hashes(self, rows: Sequence[Sequence[Any]],
                            columns: Sequence[str] = SPAN_COLUMNS) -> dict[tuple[str, str, str], str]:
        """(project, trace id, span id) → stored chain hash, for the rows' spans that are stored
        (found as :meth:`unseen_spans` finds them)."""
        columns = list(columns)
        ip, its, itr, isp = (columns.index(c) for c in ("Project", "Timestamp", "TraceId", "SpanId"))
        by_project: dict[str, list[Sequence[Any]]] = {}
        for row in rows:
            by_project.setdefault(row[ip], []).append(row)
        return self._lookup(by_project, its, itr, isp)

    def _lookup(self, by_project: Mapping[str, Sequence[Sequence[Any]]], its: int, itr: int,
                isp: int) -> dict[tuple[str, str, str], str]:
        stored: dict[tuple[str, str, str], str] = {}
        self._ensure()
        with self._write_lock, _translated("span dedupe lookup"):
            for project, members in by_project.items():
                stored.update(self._stored_spans(project, members, its, itr, isp))
        return stored

    def _stored_spans(self, project: str, members: Sequence[Sequence[Any]], its: int, itr: int,
                      isp: int) -> dict[tuple[str, str, str], str]:
        traces = sorted({r[itr] for r in members})
        known = self._writer.query(
            "SELECT TraceId, toUnixTimestamp64Nano(min(Start)), toUnixTimestamp64Nano(max(End)) FROM trace_index"
            " WHERE Project = {p:String} AND TraceId IN {traces:Array(String)} GROUP BY TraceId",
            parameters={"p": project, "traces": traces}, settings=self.read_settings,
        ).result_rows
        if not known:
            return {}
        known_traces = {t for t, _, _ in known}
        candidates = [r for r in members if r[itr] in known_traces]
        times = [int(to_ns(r[its]) or 0) for r in candidates]
        lo = min([int(lo_) for _, lo_, _ in known] + times)
        hi = max([int(hi_) for _, _, hi_ in known] + times)
        span_ids = [r[isp] for r in candidates]
        found: dict[tuple[str, str, str], str] = {}
        for i in range(0, len(span_ids), DEDUPE_CHUNK):
            result = self._writer.query(
                "SELECT TraceId, SpanId, ChainHash FROM spans WHERE Project = {p:String}"
                " AND Timestamp >= fromUnixTimestamp64Nano({lo:Int64})"
                " AND Timestamp <= fromUnixTimestamp64Nano({hi:Int64})"
                " AND TraceId IN {traces:Array(String)} AND SpanId IN {ids:Array(String)}",
                parameters={"p": project, "lo": lo, "hi": hi, "traces": sorted(known_traces),
                            "ids": span_ids[i:i + DEDUPE_CHUNK]},
                settings=self.read_settings,
            )
            found.update(((project, t, s), h) for t, s, h in result.result_rows)
        return found

    # -- reads --------------------------------------------------------------------------
    @contextlib.contextmanager
    def _reader(self) -> Iterator[Any]:
        self._ensure()
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
        return [dict(zip(names, row, strict=True)) for row in result.result_rows]

    def query_rows(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Like :meth:`query` but returns plain tuples (for scalar lookups)."""
        with self._reader() as client, _translated("query"):
            return list(client.query(sql, parameters=parameters or {}, settings=self.read_settings).result_rows)

    def raw_select(self, sql: str, parameters: dict[str, Any] | None = None,
                   settings: dict[str, Any] | None = None) -> bytes:
        """A read's result as Native-format bytes (for copying rows between stores unchanged)."""
        with self._reader() as client, _translated("query"):
            return bytes(client.raw_query(sql, parameters=parameters or {},
                                          settings={**self.read_settings, **(settings or {})}, fmt="Native"))

    def query_rows_later(self, sql: str, parameters: dict[str, Any] | None = None) -> Future[list[tuple[Any, ...]]]:
        """:meth:`query_rows` on another reader while the caller goes on; ``.result()`` waits."""
        return self._side.submit(self.query_rows, sql, parameters)

    def close(self) -> None:
        """Close every client. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._side.shutdown(wait=True)
        self._disconnect()


def open_store(dsn: str | StoreSettings, *, readers: int = DEFAULT_READERS, migrate: bool = True,
               lazy: bool = False) -> Store:
    """Open the store at ``dsn`` and (by default) apply pending migrations.

    ``lazy`` (for a server DSN) returns at once and connects on first use, so a collector can
    start, spool and say why it is not ready while its store is down (see :class:`Store`).
    """
    settings = parse_dsn(dsn) if isinstance(dsn, str) else dsn
    return Store(settings, readers=readers, migrate=migrate, lazy=lazy)
