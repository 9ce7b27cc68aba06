"""First start: create the default project with an ingest, a read and an admin key.

Keys are stored hashed, so the secrets of these development keys are also written to
``<data dir>/dev-keys.json`` (mode 0600). They are logged (INFO) and printed by ``flightlog up``
once, on the start that creates them; later starts say where they are. Keys created later
with ``flightlog keys create`` are shown once and never written down.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from flightlog.storage import Store
from flightlog.storage.keys import create_key, ensure_project, list_keys

DEV_KEYS_FILE = "dev-keys.json"
log = logging.getLogger(__name__)


def dev_keys_path(data_dir: str) -> Path:
    return Path(data_dir) / DEV_KEYS_FILE


class DevKeys(dict[str, str]):
    """``{"project", "ingest_key", "read_key", "admin_key"}``; ``created`` on the start that made them."""

    created: bool = False


def bootstrap(store: Store, data_dir: str, project: str) -> DevKeys:
    """Ensure the default project exists; on an empty key table create and record dev keys.

    Returns ``{"project", "ingest_key", "read_key", "admin_key"}`` when known, else {}.
    """
    ensure_project(store, project)
    path = dev_keys_path(data_dir)
    if not list_keys(store):
        _, ingest = create_key(store, project, "ingest", "dev ingest key (flightlog up)")
        _, read = create_key(store, project, "engineer", "dev read key (flightlog up)")
        _, admin = create_key(store, project, "admin", "instance admin key (flightlog up)")
        keys = {"project": project, "ingest_key": ingest, "read_key": read, "admin_key": admin}
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(keys, fh, indent=2)
        # Logged once, so a server deployment (docker compose logs) can pick the first keys up;
        # a normal first start, not a problem: INFO.
        log.info("created project %r with ingest key %s, read key %s and admin key %s (kept in %s)",
                 project, ingest, read, admin, path)
        fresh = DevKeys(keys)
        fresh.created = True
        return fresh
    if path.exists():
        return DevKeys(json.loads(path.read_text(encoding="utf-8")))
    return DevKeys()
