"""Apply the versioned ``migrations/NNNN_name.sql`` files once each, in order.

Applied versions are recorded in ``schema_migrations`` so a restart only runs new files.
Files are single-node SQL; :mod:`.ddl` renders them for a cluster or another text index
kind, following the store's DSN options.
"""

from __future__ import annotations

import re
import uuid
from importlib import resources

from .ddl import DdlOptions, render_all, render_statement
from .store import Store

_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migration_files() -> list[tuple[int, str, str]]:
    """(version, file name, SQL text) for every shipped migration, in version order."""
    found = []
    for entry in resources.files("flightlog.storage.migrations").iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def split_statements(sql: str) -> list[str]:
    """Split a migration file on ``;`` at line ends, dropping ``--`` comment lines."""
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    statements, current = [], []
    for line in lines:
        current.append(line)
        if line.rstrip().endswith(";"):
            statements.append("\n".join(current).rstrip().rstrip(";").strip())
            current = []
    tail = "\n".join(current).strip()
    if tail:
        statements.append(tail)
    return [s for s in statements if s]


MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(Version UInt32, Name String, AppliedAt DateTime64(3) DEFAULT now64(3)) "
    "ENGINE = ReplacingMergeTree ORDER BY Version"
)


def ddl_options(store: Store) -> DdlOptions:
    """The rendering options of this store (from its DSN)."""
    return DdlOptions(cluster=store.settings.cluster, text_index=store.settings.text_index)


def rendered_migrations(options: DdlOptions) -> list[tuple[int, str, list[str]]]:
    """(version, file name, statements as they would be sent) for every migration."""
    return [(v, name, render_all(split_statements(sql), options)) for v, name, sql in migration_files()]


MIGRATION_LEASE_TTL_S = 300.0


def apply_migrations(store: Store) -> list[int]:
    """Apply pending migrations; return the versions applied by this call.

    Collectors starting together on one server take turns (the ``migrations`` lease), so a
    backfill never runs twice."""
    from .leases import LEASES_TABLE, Lease

    options = ddl_options(store)
    for statement in [*render_statement(MIGRATIONS_TABLE, options), *render_statement(LEASES_TABLE, options)]:
        store.command(statement)
    lease = Lease(store, "migrations", f"migrate-{uuid.uuid4().hex}", ttl_s=MIGRATION_LEASE_TTL_S)
    with lease.hold(timeout=MIGRATION_LEASE_TTL_S):
        return _apply_pending(store, options)


def _apply_pending(store: Store, options: DdlOptions) -> list[int]:
    done = {row[0] for row in store.query_rows("SELECT Version FROM schema_migrations")}
    applied = []
    for version, name, sql in migration_files():
        if version in done:
            continue
        for statement in render_all(split_statements(sql), options):
            store.command(statement)
        store.insert("schema_migrations", [[version, name]], ["Version", "Name"])
        applied.append(version)
    return applied
