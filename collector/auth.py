"""API-key authentication and role checks for every endpoint except health.

Keys arrive as ``Authorization: Bearer <key>`` or ``x-api-key: <key>`` (so
``OTEL_EXPORTER_OTLP_HEADERS=x-api-key=…`` works). Lookups are cached briefly so ingest
does not query the store per request; a revoked key stops working within the TTL.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import time
from datetime import datetime
from pathlib import Path
from collections.abc import Mapping

from flightlog.storage import Store, StorageError, StorageUnavailable
from flightlog.storage.keys import KeyRecord, find_key, hash_key, key_snapshot

from flightlog.collector.errors import Forbidden, Unauthorized

INGEST_ROLES = frozenset({"ingest", "admin"})
READ_ROLES = frozenset({"engineer", "auditor", "admin"})
AUDIT_ROLES = frozenset({"auditor", "admin"})  # audit views: access log, chain verification, exports
ADMIN_ROLES = frozenset({"admin"})  # keys, retention, legal holds, budgets, settings
ENGINEER_ROLES = frozenset({"engineer", "admin"})  # datasets and experiments: writes
CACHE_TTL_S = 30.0
_MAX_CACHE = 10_000
#: The data-dir file with the last known state of every key (hashes, roles, projects; no secrets).
KEY_SNAPSHOT_FILE = "keys-snapshot.json"


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
    """Resolves keys to :class:`KeyRecord` through a small TTL cache.

    While the store cannot be reached, keys are resolved from a snapshot of every key's last
    known state (``snapshot_path``, written after the store connects and refreshed by the audit
    jobs), so ingest keeps being accepted into the spool during an outage, even after a restart.
    """

    def __init__(self, store: Store, *, ttl_s: float = CACHE_TTL_S, snapshot_path: Path | None = None) -> None:
        self._store = store
        self._ttl = ttl_s
        self._cache: dict[str, tuple[float, KeyRecord | None]] = {}
        self._lock = threading.Lock()
        self._snapshot_path = snapshot_path
        self._snapshot: dict[str, KeyRecord] = _read_snapshot(snapshot_path)

    def save_snapshot(self) -> None:
        """Refresh the key snapshot from the store (no-op without a snapshot path)."""
        if self._snapshot_path is None:
            return
        snapshot = key_snapshot(self._store)
        self._snapshot = snapshot
        tmp = self._snapshot_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({h: {**dataclasses.asdict(r), "created_at": r.created_at.isoformat()}
                       for h, r in snapshot.items()}, fh)
        os.replace(tmp, self._snapshot_path)

    def lookup(self, secret: str) -> KeyRecord | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(secret)
        if hit and now - hit[0] < self._ttl:
            return hit[1]
        if len(secret) > 256:
            return None
        try:
            record = find_key(self._store, secret)
        except StorageUnavailable:
            if not self._snapshot:
                raise
            return self._snapshot.get(hash_key(secret))  # not cached: the store answers again soon
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
        """Drop cached lookups and refresh the snapshot (after a key changed in this process)."""
        with self._lock:
            self._cache.clear()
        try:
            self.save_snapshot()
        except (StorageError, OSError):
            logging.getLogger(__name__).exception("key snapshot not refreshed; the next change retries")


def _read_snapshot(path: Path | None) -> dict[str, KeyRecord]:
    if path is None or not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {h: KeyRecord(**{**r, "created_at": datetime.fromisoformat(r["created_at"]),
                                "permissions": tuple(r.get("permissions") or ())}) for h, r in data.items()}
    except (OSError, ValueError, TypeError, KeyError):
        logging.getLogger(__name__).exception("key snapshot %s is unreadable; ignored", path)
        return {}
