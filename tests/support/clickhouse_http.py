"""A ClickHouse HTTP interface in front of the real engine (chDB), for tests.

Run it as its own process (chDB allows one process per data directory)::

    python -m tests.support.clickhouse_http --data-dir D [--host 127.0.0.1] [--port 0]
        [--port-file F] [--user U] [--password P]

from the repository root; it prints ``listening on http://HOST:PORT`` and writes the bound
port to ``--port-file`` once it answers. SIGTERM or SIGINT stop it cleanly; a SIGKILL loses
nothing that was acknowledged (every insert is a committed MergeTree part), and starting it
again on the same directory reopens the data. Tests start it through
:mod:`tests.support.harness`; README.md beside this file has the details and the chDB
facts the design rests on.

What it implements (the parts of the protocol clickhouse-connect's HTTP client uses):

- ``GET /ping``, ``GET /`` (``Ok.``), ``/replicas_status``; other paths are 404.
- Queries in the ``query`` URL parameter and/or the body (``query`` + newline + body, as
  the server does), or in a ``multipart/form-data`` body (fields ``query`` and ``param_*``;
  file parts are external tables, with ``<name>_structure`` / ``<name>_types`` /
  ``<name>_format``, loaded into query-scoped temporary tables).
- ``INSERT … FORMAT <fmt>`` with the rows inline after the statement, in any input format
  the engine reads (clickhouse-connect sends Native); ``INSERT … VALUES`` / ``… SELECT``.
- Server-side parameters ``param_<name>`` for ``{name:Type}`` placeholders; the engine
  substitutes them, parsing each value in ClickHouse's escaped text form.
- Settings as URL parameters, applied to the engine for that query only (``SET`` on a
  fresh connection, or on the session's connection and undone before its next query); an
  unknown one fails with UNKNOWN_SETTING as on a server. The HTTP-layer settings
  (``enable_http_compression``, ``default_format``, …) are settings too. GET requests run with
  ``readonly=2`` (in a session: only statements that readonly=2 allows are accepted).
  ``default_format`` (or the ``X-ClickHouse-Format`` request header) picks
  the output format of a statement without a FORMAT clause (TabSeparated otherwise).
- ``database`` (or ``X-ClickHouse-Database``), ``query_id`` (or ``X-ClickHouse-Query-Id``;
  a query id already running is refused), ``session_id`` / ``session_timeout`` /
  ``session_check``: a session is a connection of its own, so ``SET``, ``USE`` and
  temporary tables last across its queries; one query at a time per session
  (SESSION_IS_LOCKED otherwise); idle sessions expire after their timeout.
- Authentication: one configurable user and password, from Basic auth, the
  ``X-ClickHouse-User`` / ``X-ClickHouse-Key`` headers or ``user`` / ``password`` URL
  parameters; anything else is AUTHENTICATION_FAILED (516) with HTTP 403.
- Any output format of the engine; Native with ``client_protocol_version`` below 54454
  gets a BlockInfo header on every block, as from a server (clickhouse-connect asks for
  54405; a higher version is refused with NOT_IMPLEMENTED rather than answered wrongly).
- Request bodies compressed with ``Content-Encoding`` lz4 (concatenated frames), zstd,
  gzip, deflate, xz, bz2, and br when the ``brotli`` module is installed; responses
  compressed when ``enable_http_compression=1`` and ``Accept-Encoding`` offers a method,
  chosen in the server's order of preference (zstd, br, lz4, gzip, deflate, xz, bz2).
- Response headers ``X-ClickHouse-Query-Id``, ``X-ClickHouse-Format`` (statements with a
  result set), ``X-ClickHouse-Timezone``, ``X-ClickHouse-Server-Display-Name``,
  ``X-ClickHouse-Summary`` (read/written/result rows and bytes, elapsed_ns) and, on
  errors, ``X-ClickHouse-Exception-Code`` with a body ``Code: N. DB::Exception: ….
  (NAME) (version V)`` and the HTTP status the server gives that code (400 for parse and
  bad-argument errors, 404 for unknown tables/databases/settings/functions, 403 for
  authentication, 408 for TIMEOUT_EXCEEDED, 500 for the rest…). More than one statement
  in a request is refused (SYNTAX_ERROR), as on a server.
- Many clients at once (a thread per connection, HTTP/1.1 keep-alive, chunked request
  bodies); an engine exception becomes an error response, never a dead harness.

What it does NOT do: replication, ZooKeeper/Keeper, ``ON CLUSTER``, Distributed tables
(one node, one engine); users beyond the one configured, roles, grants, quotas, settings
profiles and constraints (``currentUser()`` is the engine's ``default``; ``role`` and
``quota_key`` are accepted and ignored); TLS; progress headers
(``send_progress_in_http_headers`` is accepted, nothing is sent before the end) — every
result is buffered whole, like ``wait_end_of_query=1``, so there are no mid-stream
exceptions; ClickHouse's internal block compression (``compress=1`` / ``decompress=1``
are refused); ``KILL QUERY`` / ``cancel_http_readonly_queries_on_client_close`` (a
query runs to its end even if the client goes away); asynchronous mutations behave as
the embedded engine runs them; the Native serialization info of protocol versions
≥ 54454; compressed error bodies (errors are sent uncompressed); the Prometheus, play,
dashboard and other handlers of a server; temporary tables outside a session are
allowed (they last one request), where a server may refuse them.
"""

from __future__ import annotations

import argparse
import base64
import bz2
import email.parser
import email.policy
import gzip
import hmac
import json
import logging
import lzma
import os
import re
import signal
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .native import UnsupportedType, split_blocks
from .sqlscan import RESULT_KEYWORDS, READONLY_KEYWORDS, first_keyword, insert_shape, output_format, \
    second_statement_at, use_target

log = logging.getLogger("clickhouse_http")

DISPLAY_NAME = "flightlog-harness"
DEFAULT_SESSION_TIMEOUT = 60
MAX_SESSION_TIMEOUT = 3600
# Native format: from this protocol version on, the server also sends per-column
# serialization info, which the harness cannot add to the engine's blocks.
REVISION_WITH_CUSTOM_SERIALIZATION = 54454
# BlockInfo as a server writes it: field 1 is_overflows = 0, field 2 bucket_num = -1, end.
BLOCK_INFO = b"\x01\x00\x02\xff\xff\xff\xff\x00"

# URL parameters that belong to the HTTP protocol, not to the engine's settings.
PROTOCOL_PARAMS = frozenset({
    "query", "database", "query_id", "session_id", "session_timeout", "session_check", "compress", "decompress",
    "user", "password", "quota_key", "role", "buffer_size", "wait_end_of_query", "client_protocol_version",
    "stacktrace",
})
# Settings of the HTTP layer. They are real settings (getSetting() sees them, a bad value
# fails), so they reach the engine like any other; the harness itself acts on
# enable_http_compression and default_format, and accepts the progress / cancel ones
# without acting on them (results are buffered whole, queries run to their end).
HTTP_SETTINGS = frozenset({
    "default_format", "enable_http_compression", "http_zlib_compression_level", "send_progress_in_http_headers",
    "http_headers_progress_interval_ms", "cancel_http_readonly_queries_on_client_close",
    "http_native_compression_disable_checksumming_on_decompress", "http_response_buffer_size",
    "http_wait_end_of_query", "add_http_cors_header",
})
# Names chDB's Python wrapper turns into Python objects; they are no ClickHouse formats.
_WRAPPER_FORMATS = frozenset({"dataframe", "datastore", "arrowtable"})

# HTTP status per exception name, as a ClickHouse server maps them.
_STATUS_BY_NAME: dict[str, int] = {"REQUIRED_PASSWORD": 401}
for _name in ("UNKNOWN_USER", "WRONG_PASSWORD", "AUTHENTICATION_FAILED", "SET_NON_GRANTED_ROLE", "ACCESS_DENIED"):
    _STATUS_BY_NAME[_name] = 403
for _name in ("BAD_ARGUMENTS", "CANNOT_COMPILE_REGEXP", "CANNOT_PARSE_TEXT", "CANNOT_PARSE_ESCAPE_SEQUENCE",
              "CANNOT_PARSE_QUOTED_STRING", "CANNOT_PARSE_DATE", "CANNOT_PARSE_DATETIME", "CANNOT_PARSE_NUMBER",
              "CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING", "CANNOT_PARSE_IPV4", "CANNOT_PARSE_IPV6",
              "CANNOT_PARSE_INPUT_ASSERTION_FAILED", "CANNOT_PARSE_UUID", "DUPLICATE_COLUMN", "ILLEGAL_COLUMN",
              "UNKNOWN_ELEMENT_IN_AST", "UNKNOWN_TYPE_OF_AST_NODE", "THERE_IS_NO_COLUMN", "TOO_DEEP_AST",
              "TOO_BIG_AST", "UNEXPECTED_AST_STRUCTURE", "SYNTAX_ERROR", "INCORRECT_DATA", "TYPE_MISMATCH",
              "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE"):
    _STATUS_BY_NAME[_name] = 400
for _name in ("UNKNOWN_TABLE", "UNKNOWN_FUNCTION", "UNKNOWN_IDENTIFIER", "UNKNOWN_TYPE", "UNKNOWN_STORAGE",
              "UNKNOWN_DATABASE", "UNKNOWN_SETTING", "UNKNOWN_DIRECTION_OF_SORTING", "UNKNOWN_AGGREGATE_FUNCTION",
              "UNKNOWN_FORMAT", "UNKNOWN_DATABASE_ENGINE", "UNKNOWN_TYPE_OF_QUERY", "UNKNOWN_ROLE"):
    _STATUS_BY_NAME[_name] = 404
_STATUS_BY_NAME.update({
    "QUERY_IS_TOO_LARGE": 413, "NOT_IMPLEMENTED": 501, "SOCKET_TIMEOUT": 503, "CANNOT_OPEN_FILE": 503,
    "HTTP_LENGTH_REQUIRED": 411, "TIMEOUT_EXCEEDED": 408, "CANNOT_SCHEDULE_TASK": 503,
    "UNSUPPORTED_MEDIA_TYPE": 415,
})

_ENGINE_ERROR = re.compile(r"Code: (\d+)\.\s*(?:DB::Exception:\s*)?(.*)", re.S)
_VERSION_TAIL = re.compile(r"\s*\(version [^()]*(?:\([^()]*\))?[^()]*\)\s*$")
_NAME_TAIL = re.compile(r"\.?\s*\(([A-Z][A-Z0-9_]*)\)\s*$")
_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ClickHouseError(Exception):
    """An exception as the server reports it: code, name and message."""

    def __init__(self, code: int, name: str, message: str) -> None:
        super().__init__(message)
        self.code, self.name, self.message = code, name, message

    @property
    def status(self) -> int:
        return _STATUS_BY_NAME.get(self.name, 500)

    def body(self, version: str) -> bytes:
        return f"Code: {self.code}. DB::Exception: {self.message}. ({self.name}) (version {version})\n".encode()


def engine_error(exc: BaseException) -> ClickHouseError:
    """The ClickHouse exception inside a chDB error (its text starts at ``Code: N.``)."""
    text = str(exc)
    at = text.find("Code: ")
    match = _ENGINE_ERROR.match(text, at) if at >= 0 else None
    if not match:
        return ClickHouseError(1001, "STD_EXCEPTION", f"{type(exc).__name__}: {text}".rstrip("."))
    message = _VERSION_TAIL.sub("", match.group(2).strip())
    name_match = _NAME_TAIL.search(message)
    name = name_match.group(1) if name_match else "UNKNOWN_EXCEPTION"
    if name_match:
        message = message[:name_match.start()]
    return ClickHouseError(int(match.group(1)), name, message)


def quote(value: str) -> str:
    """A ClickHouse string literal."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


# -- compression ------------------------------------------------------------------------

def _lz4_decompress(data: bytes) -> bytes:
    import lz4.frame

    out, rest = [], data
    while rest:
        decoder = lz4.frame.LZ4FrameDecompressor()
        out.append(decoder.decompress(rest))
        if not decoder.eof:
            raise ValueError("truncated lz4 frame")
        rest = decoder.unused_data
    return b"".join(out)


def _zstd():
    try:
        from backports import zstd  # type: ignore[import-not-found]
    except ImportError:  # Python 3.14+
        from compression import zstd  # type: ignore[import-not-found,no-redef]
    return zstd


def _brotli() -> Any | None:
    try:
        import brotli  # type: ignore[import-not-found]
    except ImportError:
        return None
    return brotli


def decompress_body(data: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if not encoding or encoding == "identity" or not data:
        return data
    if encoding == "lz4":
        return _lz4_decompress(data)
    if encoding == "zstd":
        return _zstd().decompress(data)
    if encoding in ("gzip", "x-gzip"):
        return gzip.decompress(data)
    if encoding == "deflate":
        return zlib.decompress(data)
    if encoding == "xz":
        return lzma.decompress(data)
    if encoding in ("bz2", "bzip2"):
        return bz2.decompress(data)
    if encoding == "br" and _brotli() is not None:
        return _brotli().decompress(data)
    raise LookupError(encoding)


def response_encodings() -> list[str]:
    """Response compression methods, in the server's order of preference."""
    order = ["zstd", "br", "lz4", "gzip", "deflate", "xz", "bz2"]
    return [m for m in order if m != "br" or _brotli() is not None]


def choose_encoding(accept: str) -> str | None:
    accept = accept.lower()
    return next((m for m in response_encodings() if m in accept), None)


def compress_body(data: bytes, method: str) -> bytes:
    if method == "zstd":
        return _zstd().compress(data)
    if method == "lz4":
        import lz4.frame

        return lz4.frame.compress(data)
    if method == "gzip":
        return gzip.compress(data, compresslevel=3)
    if method == "deflate":
        return zlib.compress(data, 3)
    if method == "xz":
        return lzma.compress(data)
    if method == "bz2":
        return bz2.compress(data)
    if method == "br":
        return _brotli().compress(data)
    raise LookupError(method)


# -- the engine -------------------------------------------------------------------------

class Handle:
    """One chDB connection: its own settings, current database and temporary tables."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.database = "default"
        # Session connections only: settings this harness changed for the last query
        # (name → value) and what to put back (name → SQL literal or DEFAULT).
        self.overrides: dict[str, str] = {}
        self.baseline: dict[str, str] = {}
        self.timezone: str | None = None

    def run(self, sql: str | bytes, fmt: str = "TabSeparated", params: dict[str, str] | None = None) -> Any:
        try:
            return self.conn.query(sql, fmt, params=params or {})
        except Exception as exc:  # chDB raises RuntimeError subclasses with the server's text
            raise engine_error(exc) from exc

    def use(self, database: str) -> None:
        if database and database != self.database:
            self.run(f"USE `{database.replace('`', '``')}`")
            self.database = database

    def set_all(self, settings: dict[str, str]) -> None:
        """SET every setting in one statement (a fresh connection: nothing to undo)."""
        if settings:
            self.run("SET " + ", ".join(f"{k} = {quote(v)}" for k, v in settings.items()))

    def override(self, wanted: dict[str, str]) -> None:
        """Make this query's settings exactly ``wanted`` on top of the session's own."""
        stale = [k for k in self.overrides if k not in wanted]
        changes = {k: v for k, v in wanted.items() if self.overrides.get(k) != v}
        missing = [k for k in changes if k not in self.baseline]
        if missing:
            rows = self.run(
                "SELECT name, value, changed FROM system.settings WHERE name IN ("
                + ", ".join(quote(k) for k in missing) + ")", "JSONEachRow").bytes()
            known = {r["name"]: r for r in map(json.loads, rows.splitlines())}
            for k in missing:
                row = known.get(k)
                self.baseline[k] = quote(row["value"]) if row and row["changed"] else "DEFAULT"
        assignments = [f"{k} = {self.baseline[k]}" for k in stale]
        assignments += [f"{k} = {quote(v)}" for k, v in changes.items()]
        if not assignments:
            return
        try:
            self.run("SET " + ", ".join(assignments))
        except ClickHouseError:
            self.restore()  # leave the session as it was, then report the error
            raise
        for k in stale:
            del self.overrides[k]
        self.overrides.update(changes)

    def restore(self) -> None:
        """Put back every setting :meth:`override` changed."""
        for k in list(self.overrides):
            try:
                self.run(f"SET {k} = {self.baseline.get(k, 'DEFAULT')}")
            except ClickHouseError:
                log.warning("could not restore setting %s", k)
            del self.overrides[k]

    def current_timezone(self) -> str:
        if self.timezone is None:
            self.timezone = self.run("SELECT timezone()").bytes().decode().strip()
        return self.timezone

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:  # closing a connection the engine already dropped
            log.exception("error closing a chDB connection")


@dataclass
class Session:
    session_id: str
    handle: Handle
    timeout: int
    database: str = "default"  # what its queries use when a request names none (set by USE)
    last_used: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Engine:
    """The chDB engine of one data directory and the connections opened on it."""

    def __init__(self, data_dir: str) -> None:
        import chdb

        os.makedirs(data_dir, exist_ok=True)
        self._chdb = chdb
        self.path = data_dir
        self._connect_lock = threading.Lock()
        # Held for the engine's lifetime, so closing the last request connection never
        # shuts the engine down between requests.
        self._root = Handle(chdb.connect(data_dir))
        version, tz = self._root.run("SELECT version(), timezone()").bytes().decode().rstrip("\n").split("\t")
        self.version, self.timezone = version, tz
        rows = self._root.run("SELECT number, errorCodeToName(number) FROM numbers(2000)"
                              " WHERE errorCodeToName(number) != ''").bytes().decode()
        self.codes = {name: int(code) for code, name in (line.split("\t") for line in rows.splitlines())}

    def error(self, name: str, message: str) -> ClickHouseError:
        return ClickHouseError(self.codes.get(name, 1002), name, message)

    def open(self) -> Handle:
        with self._connect_lock:
            return Handle(self._chdb.connect(self.path))

    def close_handle(self, handle: Handle) -> None:
        with self._connect_lock:
            handle.close()

    def close(self) -> None:
        self.close_handle(self._root)


# -- requests ---------------------------------------------------------------------------

@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Outcome:
    body: bytes = b""
    fmt: str | None = None  # the result set's format, None for statements without one
    summary: dict[str, int] = field(default_factory=dict)
    timezone: str | None = None


_CONTENT_TYPES = {
    "TabSeparated": "text/tab-separated-values; charset=UTF-8",
    "TSV": "text/tab-separated-values; charset=UTF-8",
    "CSV": "text/csv; charset=UTF-8; header=absent",
    "CSVWithNames": "text/csv; charset=UTF-8; header=present",
    "CSVWithNamesAndTypes": "text/csv; charset=UTF-8; header=present",
    "XML": "application/xml; charset=UTF-8",
}
_BINARY_FORMATS = ("Native", "RowBinary", "Parquet", "Arrow", "ArrowStream", "ORC", "Avro", "Protobuf",
                   "CapnProto", "MsgPack", "BSONEachRow", "Npy", "RawBLOB")


def content_type(fmt: str | None) -> str:
    if fmt is None:
        return "text/plain; charset=UTF-8"
    if fmt in _CONTENT_TYPES:
        return _CONTENT_TYPES[fmt]
    if fmt.startswith("TabSeparated") or fmt.startswith("TSV"):
        return "text/tab-separated-values; charset=UTF-8"
    if fmt.startswith("JSON"):
        return "application/json; charset=UTF-8"
    if fmt.startswith(_BINARY_FORMATS):
        return "application/octet-stream"
    return "text/plain; charset=UTF-8"


def parse_multipart(ctype: str, body: bytes) -> tuple[dict[str, str], dict[str, bytes]]:
    """Form fields and file parts of a multipart/form-data body."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + ctype.encode("latin-1") + b"\r\nMIME-Version: 1.0\r\n\r\n" + body)
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            files[name] = payload
        else:
            fields[name] = payload.decode("utf-8")
    return fields, files


class App:
    """The HTTP interface: turns one request into one :class:`Reply`."""

    def __init__(self, engine: Engine, *, user: str = "default", password: str = "",
                 display_name: str = DISPLAY_NAME) -> None:
        self.engine = engine
        self.user, self.password = user, password
        self.display_name = display_name
        self._sessions: dict[str, Session] = {}
        self._sessions_lock = threading.Lock()
        self._running: set[str] = set()
        self._running_lock = threading.Lock()
        self._inflight = 0
        self._idle = threading.Condition()

    # -- plumbing ---------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: Any, body: bytes) -> Reply:
        with self._idle:
            self._inflight += 1
        try:
            return self._handle(method, target, headers, body)
        finally:
            with self._idle:
                self._inflight -= 1
                self._idle.notify_all()

    def _handle(self, method: str, target: str, headers: Any, body: bytes) -> Reply:
        parts = urlsplit(target)
        path = parts.path.rstrip("/") or "/"
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        if path in ("/ping", "/replicas_status") or (path == "/" and method in ("GET", "HEAD")
                                                      and "query" not in params and not body):
            return Reply(200, b"Ok.\n", {"Content-Type": "text/html; charset=UTF-8"})
        if path != "/":
            return Reply(404, f"There is no handle {parts.path}\n\nUse / or /ping for health checks.\n".encode(),
                         {"Content-Type": "text/plain; charset=UTF-8"})
        return self.handle_query(method, params, headers, body)

    def handle_query(self, method: str, params: dict[str, str], headers: Any, body: bytes) -> Reply:
        started = time.monotonic_ns()
        query_id = params.get("query_id") or headers.get("X-ClickHouse-Query-Id") or str(uuid.uuid4())
        base = {"X-ClickHouse-Query-Id": query_id, "X-ClickHouse-Server-Display-Name": self.display_name}
        sql_preview = ""
        try:
            self.authenticate(params, headers)
            fields: dict[str, str] = {}
            files: dict[str, bytes] = {}
            try:
                body = decompress_body(body, headers.get("Content-Encoding", ""))
            except LookupError as exc:
                raise self.engine.error("UNKNOWN_COMPRESSION_METHOD", f"Unknown Content-Encoding {exc}") from exc
            except Exception as exc:
                raise self.engine.error("CANNOT_DECOMPRESS", f"Cannot decompress the request body: {exc}") from exc
            if headers.get("Content-Type", "").lower().startswith("multipart/form-data"):
                fields, files = parse_multipart(headers["Content-Type"], body)
                body = b""
            params = {**params, **fields}
            sql = params.get("query", "").encode()
            if body:
                sql = sql + b"\n" + body if sql else body
            sql_preview = "".join(c if c.isprintable() else " " for c in sql[:160].decode("utf-8", "replace"))
            outcome = self.run_request(method, params, headers, sql, files, query_id)
        except ClickHouseError as exc:
            log.info("%s %s -> %s %s", query_id, sql_preview, exc.code, exc.message[:200])
            return Reply(exc.status, exc.body(self.engine.version),
                         {**base, "X-ClickHouse-Exception-Code": str(exc.code),
                          "Content-Type": "text/plain; charset=UTF-8"})
        except Exception as exc:  # a harness bug must still answer, and the harness live on
            log.exception("request failed")
            err = self.engine.error("STD_EXCEPTION", f"harness: {type(exc).__name__}: {exc}")
            return Reply(500, err.body(self.engine.version),
                         {**base, "X-ClickHouse-Exception-Code": str(err.code),
                          "Content-Type": "text/plain; charset=UTF-8"})
        summary = {"read_rows": 0, "read_bytes": 0, "written_rows": 0, "written_bytes": 0,
                   "total_rows_to_read": 0, "result_rows": 0, "result_bytes": 0, **outcome.summary,
                   "elapsed_ns": time.monotonic_ns() - started}
        reply_headers = {**base, "Content-Type": content_type(outcome.fmt),
                         "X-ClickHouse-Timezone": outcome.timezone or self.engine.timezone,
                         "X-ClickHouse-Summary": json.dumps({k: str(v) for k, v in summary.items()})}
        if outcome.fmt is not None:
            reply_headers["X-ClickHouse-Format"] = outcome.fmt
        body = outcome.body
        if params.get("enable_http_compression", "0").lower() in ("1", "true"):
            method_name = choose_encoding(headers.get("Accept-Encoding", ""))
            if method_name:
                body = compress_body(body, method_name)
                reply_headers["Content-Encoding"] = method_name
        log.info("%s %s -> ok %d bytes", query_id, sql_preview, len(body))
        return Reply(200, body, reply_headers)

    def authenticate(self, params: dict[str, str], headers: Any) -> None:
        user, password = "default", ""
        auth = headers.get("Authorization", "")
        if headers.get("X-ClickHouse-User") is not None:
            user, password = headers.get("X-ClickHouse-User"), headers.get("X-ClickHouse-Key", "")
        elif auth.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(auth[6:].strip()).decode("utf-8").partition(":")
            except ValueError:
                user, password = "", ""
        elif "user" in params or "password" in params:
            user, password = params.get("user", "default"), params.get("password", "")
        if not (hmac.compare_digest(user.encode(), self.user.encode())
                and hmac.compare_digest(password.encode(), self.password.encode())):
            raise self.engine.error(
                "AUTHENTICATION_FAILED",
                f"{user}: Authentication failed: password is incorrect, or there is no user with such name")

    @contextmanager
    def _query_id(self, query_id: str) -> Iterator[None]:
        with self._running_lock:
            if query_id in self._running:
                raise self.engine.error("QUERY_WITH_SAME_ID_IS_ALREADY_RUNNING",
                                        f"Query with id = {query_id} is already running")
            self._running.add(query_id)
        try:
            yield
        finally:
            with self._running_lock:
                self._running.discard(query_id)

    @contextmanager
    def _connection(self, params: dict[str, str]) -> Iterator[tuple[Handle, Session | None]]:
        session_id = params.get("session_id", "")
        if not session_id:
            handle = self.engine.open()
            try:
                yield handle, None
            finally:
                self.engine.close_handle(handle)
            return
        try:
            timeout = int(params.get("session_timeout", DEFAULT_SESSION_TIMEOUT))
        except ValueError:
            timeout = -1
        if not 0 <= timeout <= MAX_SESSION_TIMEOUT:
            raise self.engine.error("INVALID_SESSION_TIMEOUT",
                                    f"Invalid session timeout: '{params.get('session_timeout')}'")
        with self._sessions_lock:
            self._expire_sessions()
            session = self._sessions.get(session_id)
            if session is None:
                if params.get("session_check", "0") in ("1", "true"):
                    raise self.engine.error("SESSION_NOT_FOUND", f"Session {session_id} not found")
                session = Session(session_id, self.engine.open(), timeout)
                self._sessions[session_id] = session
            if not session.lock.acquire(blocking=False):
                raise self.engine.error("SESSION_IS_LOCKED", f"Session {session_id} is locked by a concurrent client")
            session.timeout = timeout
        try:
            yield session.handle, session
        finally:
            session.last_used = time.monotonic()
            session.lock.release()

    def _expire_sessions(self) -> None:
        now = time.monotonic()
        for sid, session in list(self._sessions.items()):
            if now - session.last_used > session.timeout and session.lock.acquire(blocking=False):
                del self._sessions[sid]
                self.engine.close_handle(session.handle)

    def close(self, grace: float = 30.0) -> None:
        """Wait (up to ``grace`` seconds) for requests in flight, then close every connection."""
        with self._idle:
            self._idle.wait_for(lambda: self._inflight == 0, timeout=grace)
        with self._sessions_lock:
            for session in self._sessions.values():
                self.engine.close_handle(session.handle)
            self._sessions.clear()
        self.engine.close()

    # -- one query --------------------------------------------------------------------
    def run_request(self, method: str, params: dict[str, str], headers: Any, sql: bytes,
                    files: dict[str, bytes], query_id: str) -> Outcome:
        for flag in ("compress", "decompress"):
            if params.get(flag, "0").lower() in ("1", "true"):
                raise self.engine.error("NOT_IMPLEMENTED",
                                        f"{flag}=1 (ClickHouse's internal block compression) is not supported "
                                        "by this harness; use HTTP compression")
        try:
            protocol = int(params.get("client_protocol_version", "0") or 0)
        except ValueError as exc:
            raise self.engine.error("CANNOT_PARSE_NUMBER", "client_protocol_version is not a number") from exc
        external = {name: (data, params.get(f"{name}_structure"), params.get(f"{name}_types"),
                           params.get(f"{name}_format", "TabSeparated")) for name, data in files.items()}
        external_keys = {f"{n}_{s}" for n in external for s in ("structure", "types", "format")}
        settings: dict[str, str] = {}
        query_params: dict[str, str] = {}
        for key, value in params.items():
            if key.startswith("param_"):
                query_params[key[6:]] = value
            elif key not in PROTOCOL_PARAMS and key not in external_keys:
                if not _SETTING_NAME.match(key):
                    raise self.engine.error("UNKNOWN_SETTING", f"Unknown setting '{key}'")
                settings[key] = value
        default_format = params.get("default_format") or headers.get("X-ClickHouse-Format") or "TabSeparated"
        database = params.get("database") or headers.get("X-ClickHouse-Database") or ""

        if not sql.strip():
            raise self.engine.error("SYNTAX_ERROR", "Empty query")
        keyword = first_keyword(sql)
        shape = insert_shape(sql) if keyword == "INSERT" else None
        if shape is None or shape.kind != "format":
            at = second_statement_at(sql)
            if at is not None:
                tail = sql[at:at + 60].decode("utf-8", "replace")
                raise self.engine.error(
                    "SYNTAX_ERROR",
                    f"Syntax error (Multi-statements are not allowed): failed at position {at + 1} (end of query):"
                    f" {tail}.")

        with self._query_id(query_id), self._connection(params) as (handle, session):
            if session is None:
                handle.use(database)
                if method == "GET" and "readonly" not in settings:
                    settings["readonly"] = "2"
                if "readonly" in settings:  # last, so the other SETs are still allowed
                    settings["readonly"] = settings.pop("readonly")
                handle.set_all(settings)
            else:
                readonly = settings.pop("readonly", "2" if method == "GET" else "0")
                if readonly not in ("0", "") and keyword not in READONLY_KEYWORDS:
                    raise self.engine.error("READONLY", "Cannot execute query in readonly mode")
                handle.use(database or session.database)
                if keyword == "SET":
                    handle.restore()  # the session's own SET applies to its own settings
                else:
                    handle.override(settings)
            tables = self._load_external(handle, external)
            try:
                outcome = self._execute(handle, sql, keyword, shape, query_params, default_format, protocol)
            finally:
                for name in tables:
                    try:
                        handle.run(f"DROP TEMPORARY TABLE IF EXISTS `{name}`")
                    except ClickHouseError:
                        log.warning("could not drop external table %s", name)
            if session is not None:
                if keyword == "USE":
                    session.database = handle.database = use_target(sql) or handle.database
                if keyword == "SET":
                    handle.baseline.clear()
                    handle.timezone = None
            if "session_timezone" in settings:
                outcome.timezone = settings["session_timezone"] or self.engine.timezone
            elif session is not None:
                try:
                    outcome.timezone = handle.current_timezone() or self.engine.timezone
                except ClickHouseError:  # the statement itself succeeded: report it so
                    outcome.timezone = self.engine.timezone
            return outcome

    def _load_external(self, handle: Handle, external: dict[str, tuple]) -> list[str]:
        """External tables of a multipart request, as temporary tables for this query."""
        created = []
        for name, (data, structure, types, fmt) in external.items():
            if structure:
                columns = structure
            elif types:
                columns = ", ".join(f"_{i + 1} {t.strip()}" for i, t in enumerate(types.split(",")))
            else:
                raise self.engine.error("BAD_ARGUMENTS", f"Neither structure nor types were given for external table {name}")
            handle.run(f"CREATE TEMPORARY TABLE `{name}` ({columns}) ENGINE = Memory")
            created.append(name)
            self._insert(handle, f"INSERT INTO `{name}`".encode(), fmt, data)
        return created

    def _insert(self, handle: Handle, head: bytes, fmt: str, data: bytes) -> dict[str, int]:
        """Stream ``data`` (in ``fmt``) into the INSERT ``head`` (chDB's send_insert)."""
        try:
            inserter = handle.conn.send_insert(head.decode("utf-8"), fmt)
        except Exception as exc:
            raise engine_error(exc) from exc
        try:
            if data:
                inserter.append(data)
            result = inserter.finish()
        except Exception as exc:
            try:
                inserter.cancel()  # an open insert would block the connection's next query
            except Exception:  # already finished or failed inside the engine
                log.debug("cancelling a failed insert", exc_info=True)
            raise engine_error(exc) from exc
        return {"written_rows": result.rows_written, "written_bytes": result.bytes_written}

    def _execute(self, handle: Handle, sql: bytes, keyword: str, shape: Any, query_params: dict[str, str],
                 default_format: str, protocol: int) -> Outcome:
        if shape is not None and shape.kind == "format":
            written = self._insert(handle, shape.head, shape.fmt, sql[shape.data_start:])
            return Outcome(summary=written)
        clause = output_format(sql)
        returns_rows = keyword in RESULT_KEYWORDS or clause is not None
        fmt = clause or default_format
        if fmt.lower() in _WRAPPER_FORMATS:
            raise self.engine.error("UNKNOWN_FORMAT", f"Unknown format {fmt}")
        try:
            text: str | bytes = sql.decode("utf-8")
        except UnicodeDecodeError:
            text = sql
        if returns_rows and fmt == "Native" and protocol:
            if protocol >= REVISION_WITH_CUSTOM_SERIALIZATION:
                raise self.engine.error(
                    "NOT_IMPLEMENTED", f"Native output for client_protocol_version {protocol} (custom serialization"
                    f" info) is not supported by this harness; use a version below {REVISION_WITH_CUSTOM_SERIALIZATION}")
            return self._native_blocks(handle, text, query_params)
        result = handle.run(text, fmt, query_params)
        body = result.bytes() or b""
        summary = {"read_rows": result.storage_rows_read(), "read_bytes": result.storage_bytes_read(),
                   "written_rows": result.rows_written(), "written_bytes": result.bytes_written(),
                   "result_rows": result.rows_read() if returns_rows else 0,
                   "result_bytes": result.bytes_read() if returns_rows else 0}
        return Outcome(body=body, fmt=fmt if returns_rows else None, summary=summary)

    def _native_blocks(self, handle: Handle, text: str | bytes, query_params: dict[str, str]) -> Outcome:
        """Native output with a BlockInfo before every block.

        chDB streams a SELECT one block per chunk; statements it cannot stream (DESCRIBE,
        SHOW, EXISTS, …) come back whole and are cut into blocks by :mod:`.native`.
        """
        summary = {"read_rows": 0, "read_bytes": 0, "result_rows": 0, "result_bytes": 0}
        chunks: list[bytes] = []
        try:
            stream = handle.conn.send_query(text, "Native", params=query_params)
        except Exception as exc:
            err = engine_error(exc)
            if not (err.name == "BAD_ARGUMENTS" and "Streaming query is not supported" in err.message):
                raise err from exc
            result = handle.run(text, "Native", query_params)
            data = result.bytes() or b""
            try:
                blocks = split_blocks(data)
            except UnsupportedType:
                blocks = [data] if data else []  # these statements answer in one block
            summary = {"read_rows": result.storage_rows_read(), "read_bytes": result.storage_bytes_read(),
                       "result_rows": result.rows_read(), "result_bytes": result.bytes_read()}
            return Outcome(body=b"".join(BLOCK_INFO + b for b in blocks), fmt="Native", summary=summary)
        try:
            for chunk in stream:
                data = chunk.bytes()
                if not data:
                    continue
                chunks.append(BLOCK_INFO)
                chunks.append(data)
                summary["read_rows"] += chunk.storage_rows_read()
                summary["read_bytes"] += chunk.storage_bytes_read()
                summary["result_rows"] += chunk.rows_read()
                summary["result_bytes"] += chunk.bytes_read()
        except Exception as exc:  # an error while the query runs
            raise engine_error(exc) from exc
        finally:
            try:
                stream.close()
            except Exception:  # a stream the engine already ended
                log.debug("closing a query stream", exc_info=True)
        return Outcome(body=b"".join(chunks), fmt="Native", summary=summary)


# -- HTTP server ------------------------------------------------------------------------

class BadRequest(Exception):
    def __init__(self, status: int, name: str, message: str) -> None:
        super().__init__(message)
        self.status, self.name, self.message = status, name, message


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ClickHouseHarness"
    timeout = 300  # idle keep-alive connections are dropped after this many seconds

    def version_string(self) -> str:
        return self.server_version

    @property
    def app(self) -> App:
        return self.server.app  # type: ignore[attr-defined]

    def log_message(self, fmt: str, *args: Any) -> None:  # the App logs queries itself
        log.debug("%s " + fmt, self.address_string(), *args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def _read_body(self, method: str) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise BadRequest(400, "CANNOT_READ_ALL_DATA", "connection closed inside a chunked body")
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline(3)
        length = self.headers.get("Content-Length")
        if length is not None:
            return self.rfile.read(int(length))
        if method == "POST":
            raise BadRequest(411, "HTTP_LENGTH_REQUIRED",
                             "The Transfer-Encoding is not chunked and there is no Content-Length header for POST request")
        return b""

    def _dispatch(self, method: str) -> None:
        try:
            body = self._read_body(method)
        except (BadRequest, ValueError) as exc:
            self.close_connection = True
            if isinstance(exc, BadRequest):
                err = self.app.engine.error(exc.name, exc.message)
                status = exc.status
            else:
                err = self.app.engine.error("CANNOT_PARSE_INPUT_ASSERTION_FAILED", f"bad request body framing: {exc}")
                status = 400
            self._send(Reply(status, err.body(self.app.engine.version),
                             {"X-ClickHouse-Exception-Code": str(err.code), "Content-Type": "text/plain; charset=UTF-8"}),
                       method)
            return
        reply = self.app.handle(method, self.path, self.headers, body)
        self._send(reply, method)

    def _send(self, reply: Reply, method: str) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Keep-Alive", f"timeout={self.timeout}")
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(reply.body)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], app: App) -> None:
        super().__init__(address, Handler)
        self.app = app


def serve(data_dir: str, host: str = "127.0.0.1", port: int = 0, *, user: str = "default", password: str = "",
          port_file: str | None = None, display_name: str = DISPLAY_NAME) -> None:
    """Open the engine, answer HTTP until SIGTERM/SIGINT, then close everything."""
    engine = Engine(data_dir)
    app = App(engine, user=user, password=password, display_name=display_name)
    server = Server((host, port), app)
    bound = server.server_address[1]

    def stop(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping", signum)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if port_file:
        tmp = f"{port_file}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(str(bound))
        os.replace(tmp, port_file)
    print(f"listening on http://{host}:{bound} (engine {engine.version}, data {data_dir})", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        app.close()
        log.info("stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data-dir", required=True, help="chDB data directory (created if missing, reopened if not)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = any free port")
    parser.add_argument("--port-file", help="write the bound port here once listening")
    parser.add_argument("--user", default="default")
    parser.add_argument("--password", default=os.environ.get("CLICKHOUSE_HARNESS_PASSWORD", ""))
    parser.add_argument("--display-name", default=DISPLAY_NAME)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(args.data_dir, args.host, args.port, user=args.user, password=args.password,
          port_file=args.port_file, display_name=args.display_name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
