"""Generations of shared state that collectors cache (migration 0032): a change bumps its
name's generation; each collector polls :func:`current` (one tiny query) and drops its cached
copy when a generation moved, so a key revoked through one collector or the CLI stops working
on every collector within the poll interval (docs/scale-out.md)."""

from __future__ import annotations

import time

from .store import Store

KEYS = "keys"


def bump(store: Store, name: str) -> None:
    """Record that ``name`` changed now."""
    store.insert("store_generations", [[name, time.time_ns()]], ("Name", "Generation"))


def current(store: Store) -> dict[str, int]:
    """Name → latest generation."""
    return {name: int(gen) for name, gen in
            store.query_rows("SELECT Name, max(Generation) FROM store_generations GROUP BY Name")}
