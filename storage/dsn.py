"""Parse a storage DSN once into a typed settings object.

``chdb:///abs/path`` opens the embedded engine in that directory (one process per
directory, docs/decisions/0001-the-collector-owns-the-store.md); ``chdb://memory`` is an in-memory store; ``http(s)://user:pass@host:port/db``
is a ClickHouse server.

Two options ride in the DSN's query string, so one setting (``FLIGHTLOG_DSN``) says where
and how the store lives:

- ``cluster=NAME``: a ClickHouse cluster from the server's ``remote_servers``; migrations
  then emit ``ON CLUSTER NAME``, Replicated* engines on ``<table>_local`` tables and
  Distributed tables under the plain names (see :mod:`.ddl`).
- ``text_index=text|tokenbf|none``: the full-text skip index. ``text`` (default) is
  ClickHouse's own inverted index; ``tokenbf`` is the token bloom-filter fallback for
  servers without it; ``none`` leaves search to a scan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TypedDict
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_DATABASE = "flightlog"
TEXT_INDEX_KINDS = ("text", "tokenbf", "none")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class StoreSettings:
    """Where the store lives. ``repr`` never shows the password."""

    kind: str  # "chdb" or "http"
    path: str = ""  # chdb data directory, or ":memory:"
    host: str = ""
    port: int = 0
    secure: bool = False
    username: str = "default"
    password: str = field(default="", repr=False)
    database: str = DEFAULT_DATABASE
    cluster: str = ""  # "" = single node
    text_index: str = "text"

    @property
    def embedded(self) -> bool:
        return self.kind == "chdb"

    def display(self) -> str:
        """The DSN with the password masked, for logs and ``flightlog up``."""
        if self.embedded:
            return f"chdb://{self.path}" if self.path == "memory" else f"chdb://{self.path}"
        scheme = "https" if self.secure else "http"
        auth = f"{self.username}:***@" if self.password else f"{self.username}@"
        return f"{scheme}://{auth}{self.host}:{self.port}/{self.database}"


class _Options(TypedDict, total=False):
    cluster: str
    text_index: str


def _options(query: str, dsn: str) -> _Options:
    """The ``?cluster=…&text_index=…`` options, validated."""
    raw = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    unknown = sorted(set(raw) - {"cluster", "text_index"})
    if unknown:
        raise ValueError(f"unknown DSN option(s) {unknown} in {dsn!r}; allowed: cluster, text_index")
    out: _Options = {}
    if raw.get("cluster"):
        if not _NAME.match(raw["cluster"]):
            raise ValueError(f"cluster name must be letters, digits and _: {raw['cluster']!r}")
        out["cluster"] = raw["cluster"]
    if "text_index" in raw:
        if raw["text_index"] not in TEXT_INDEX_KINDS:
            raise ValueError(f"text_index must be one of {', '.join(TEXT_INDEX_KINDS)}, got {raw['text_index']!r}")
        out["text_index"] = raw["text_index"]
    return out


def parse_dsn(dsn: str) -> StoreSettings:
    """Turn a DSN string into :class:`StoreSettings`, raising ``ValueError`` with the reason."""
    parts = urlsplit(dsn)
    options = _options(parts.query, dsn)
    if parts.scheme == "chdb":
        if parts.netloc == "memory":
            return StoreSettings(kind="chdb", path="memory", **options)
        if parts.netloc or not parts.path.startswith("/"):
            raise ValueError(
                f"chdb DSN must be chdb:///absolute/path or chdb://memory, got {dsn!r}"
            )
        if options.get("cluster"):
            raise ValueError("cluster= needs a ClickHouse server DSN (http(s)://…), not chdb://")
        return StoreSettings(kind="chdb", path=parts.path, **options)
    if parts.scheme in ("http", "https"):
        if not parts.hostname:
            raise ValueError(f"ClickHouse DSN has no host: {dsn!r}")
        database = parts.path.strip("/") or DEFAULT_DATABASE
        if not database.replace("_", "").isalnum():
            raise ValueError(f"database name must be letters, digits and _: {database!r}")
        secure = parts.scheme == "https"
        return StoreSettings(
            kind="http",
            host=parts.hostname,
            port=parts.port or (8443 if secure else 8123),
            secure=secure,
            username=unquote(parts.username or "default"),
            password=unquote(parts.password or ""),
            database=database,
            **options,
        )
    raise ValueError(f"unsupported storage DSN scheme {parts.scheme!r} in {dsn!r}: use chdb:// or http(s)://")
