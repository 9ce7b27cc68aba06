"""Parse a storage DSN once into a typed settings object.

``chdb:///abs/path`` opens the embedded engine in that directory (one process per
directory, DESIGN §7); ``chdb://memory`` is an in-memory store; ``http(s)://user:pass@host:port/db``
is a ClickHouse server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

DEFAULT_DATABASE = "flightlog"


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


def parse_dsn(dsn: str) -> StoreSettings:
    """Turn a DSN string into :class:`StoreSettings`, raising ``ValueError`` with the reason."""
    parts = urlsplit(dsn)
    if parts.scheme == "chdb":
        if parts.netloc == "memory":
            return StoreSettings(kind="chdb", path="memory")
        if parts.netloc or not parts.path.startswith("/"):
            raise ValueError(
                f"chdb DSN must be chdb:///absolute/path or chdb://memory, got {dsn!r}"
            )
        return StoreSettings(kind="chdb", path=parts.path)
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
        )
    raise ValueError(f"unsupported storage DSN scheme {parts.scheme!r} in {dsn!r}: use chdb:// or http(s)://")
