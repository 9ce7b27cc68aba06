"""API-key authentication and role checks for every endpoint except health.

Keys arrive as ``Authorization: Bearer <key>`` or ``x-api-key: <key>`` (so
``OTEL_EXPORTER_OTLP_HEADERS=x-api-key=…`` works). Lookups are cached briefly so ingest
does not query the store per request; a revoked key stops working within the TTL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

from flightlog.storage import Store
from flightlog.storage.keys import KeyRecord, find_key

from flightlog.collector.errors import Forbidden, Unauthorized

INGEST_ROLES = frozenset({"ingest", "admin"})
READ_ROLES = frozenset({"engineer", "auditor", "admin"})
AUDIT_ROLES = frozenset({"auditor", "admin"})  # audit views: access log, chain verification, exports
ADMIN_ROLES = frozenset({"admin"})  # keys, retention, legal holds, budgets, settings
CACHE_TTL_S = 30.0
_MAX_CACHE = 10_000


def key_from_headers(headers: Mapping[str, str]) -> str:
    """The API key sent with a request, or raise Unauthorized saying how to send one."""
    auth = headers.get("authorization", "")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Authorization header must be 'Bearer <api key>'")
        return token.strip()
    key = headers.get("x-api-key", "").strip()
    if key:
        return key
    raise Unauthorized("missing API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'")


class Authenticator:
    """Resolves keys to :class:`KeyRecord` through a small TTL cache."""

    def __init__(self, store: Store, *, ttl_s: float = CACHE_TTL_S) -> None:
        self._store = store
        self._ttl = ttl_s
        self._cache: dict[str, tuple[float, KeyRecord | None]] = {}
        self._lock = threading.Lock()

    def lookup(self, secret: str) -> KeyRecord | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(secret)
        if hit and now - hit[0] < self._ttl:
            return hit[1]
        record = find_key(self._store, secret) if len(secret) <= 256 else None
        with self._lock:
            if len(self._cache) >= _MAX_CACHE:
                self._cache.clear()
            self._cache[secret] = (now, record)
        return record

    def require(self, headers: Mapping[str, str], roles: frozenset[str]) -> KeyRecord:
        """The caller's key record if it may use an endpoint open to ``roles``."""
        record = self.lookup(key_from_headers(headers))
        if record is None or record.revoked:
            raise Unauthorized("unknown or revoked API key")
        if record.role not in roles:
            raise Forbidden(
                f"a key with role {record.role!r} may not use this endpoint (needs one of: {', '.join(sorted(roles))})"
            )
        return record

    def forget(self) -> None:
        """Drop cached lookups (after a revoke in this process)."""
        with self._lock:
            self._cache.clear()
