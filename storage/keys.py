"""Projects and API keys. Only SHA-256 hashes of keys are stored.

A key looks like ``fl_<role>_<random>``; the role in the prefix is for humans only, the
stored row is what counts.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

from .errors import InvalidQuery
from .generations import KEYS, bump
from .store import Store

ROLES = ("ingest", "engineer", "auditor", "admin")
#: Permissions a key may hold beyond its role. "approve": decide approvals (docs/control.md);
#: "alerts": create, delete and silence alert rules (docs/alerts.md).
PERMISSIONS = ("alerts", "approve")


@dataclass(frozen=True)
class KeyRecord:
    """A stored key, without its secret."""

    key_id: str
    project: str
    role: str
    name: str
    revoked: bool
    created_at: datetime
    permissions: tuple[str, ...] = ()

    @property
    def display_name(self) -> str:
        """Who acted, for records a person reads: the key's name, else its id."""
        return self.name or f"key {self.key_id}"


def hash_key(secret: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def ensure_project(store: Store, project: str) -> None:
    """Create the project if it does not exist (idempotent)."""
    validate_project(project)
    if not store.query_rows("SELECT 1 FROM projects WHERE Name = {p:String} LIMIT 1", {"p": project}):
        store.insert("projects", [[project]], ["Name"])


def validate_project(project: str) -> None:
    if not project or len(project) > 64 or not all(c.isalnum() or c in "-_." for c in project):
        raise InvalidQuery(f"project name must be 1-64 letters, digits, '-', '_' or '.', got {project!r}")


def create_key(store: Store, project: str, role: str, name: str = "",
               permissions: tuple[str, ...] | list[str] = ()) -> tuple[KeyRecord, str]:
    """Create a key; returns the record and the secret (shown once, never stored)."""
    if role not in ROLES:
        raise InvalidQuery(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    permissions = tuple(sorted(set(permissions)))
    unknown = [p for p in permissions if p not in PERMISSIONS]
    if unknown:
        raise InvalidQuery(f"unknown permission(s) {unknown}; allowed: {', '.join(PERMISSIONS)}")
    if permissions and role == "ingest":
        raise InvalidQuery("an ingest key cannot hold permissions: agents never decide for themselves")
    if "approve" in permissions and not name.strip():
        raise InvalidQuery("a key with the approve permission needs a name: decisions are made by a named person")
    if "alerts" in permissions and not name.strip():
        raise InvalidQuery("a key with the alerts permission needs a name: rule changes and silences are "
                           "recorded under it")
    ensure_project(store, project)
    secret = f"fl_{role}_{secrets.token_urlsafe(24)}"
    key_id = hash_key(secret)[:12]
    now = datetime.now(timezone.utc)
    store.insert(
        "api_keys",
        [[key_id, hash_key(secret), project, role, name, 0, now, now, list(permissions)]],
        ["KeyId", "KeyHash", "Project", "Role", "Name", "Revoked", "CreatedAt", "UpdatedAt", "Permissions"],
    )
    bump(store, KEYS)
    return KeyRecord(key_id, project, role, name, False, now, permissions), secret


_FIELDS = "KeyId, Project, Role, Name, Revoked, CreatedAt, Permissions"
_SELECT = f"SELECT {_FIELDS} FROM api_keys ORDER BY UpdatedAt DESC LIMIT 1 BY KeyId"


def _record(row: tuple) -> KeyRecord:
    created = row[5] if row[5].tzinfo else row[5].replace(tzinfo=timezone.utc)
    return KeyRecord(row[0], row[1], row[2], row[3], bool(row[4]), created, tuple(row[6]))


def find_key(store: Store, secret: str) -> KeyRecord | None:
    """The latest state of the key with this secret, or None."""
    rows = store.query_rows(
        f"SELECT {_FIELDS} FROM api_keys WHERE KeyHash = {{h:String}} ORDER BY UpdatedAt DESC LIMIT 1",
        {"h": hash_key(secret)},
    )
    return _record(rows[0]) if rows else None


def key_snapshot(store: Store) -> dict[str, KeyRecord]:
    """The latest state of every key by its hash (for resolving keys while the store is away)."""
    rows = store.query_rows(
        f"SELECT KeyHash, {_FIELDS} FROM api_keys ORDER BY UpdatedAt DESC LIMIT 1 BY KeyId LIMIT 100000")
    return {r[0]: _record(r[1:]) for r in rows}


def list_keys(store: Store, project: str | None = None) -> list[KeyRecord]:
    """Every key (latest state), optionally of one project, oldest first."""
    records = [_record(r) for r in store.query_rows(_SELECT)]
    if project:
        records = [r for r in records if r.project == project]
    return sorted(records, key=lambda r: r.created_at)


def revoke_key(store: Store, key_id: str) -> KeyRecord:
    """Mark a key revoked (a newer row); raises InvalidQuery for an unknown id."""
    rows = store.query_rows(
        "SELECT KeyId, KeyHash, Project, Role, Name, CreatedAt, Permissions FROM api_keys"
        " WHERE KeyId = {k:String} ORDER BY UpdatedAt DESC LIMIT 1",
        {"k": key_id},
    )
    if not rows:
        raise InvalidQuery(f"no key with id {key_id!r}")
    kid, khash, project, role, name, created, permissions = rows[0]
    store.insert(
        "api_keys",
        [[kid, khash, project, role, name, 1, created, datetime.now(timezone.utc), list(permissions)]],
        ["KeyId", "KeyHash", "Project", "Role", "Name", "Revoked", "CreatedAt", "UpdatedAt", "Permissions"],
    )
    bump(store, KEYS)  # other collectors drop their cached lookups (storage/generations.py)
    created = created if created.tzinfo else created.replace(tzinfo=timezone.utc)
    return KeyRecord(kid, project, role, name, True, created, tuple(permissions))
