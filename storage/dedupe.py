"""Rows stored once across collectors: drop the rows of a batch that are already stored
(docs/decisions/0041-logs-metrics-and-facts-stored-once.md).

Spans have :meth:`.store.Store.unseen_spans`; log records, metric points and trace facts use
:func:`unseen` with the key that names one of their rows and a lookup of the keys the store
holds. The writer runs the check and the insert under the store's ``spans`` lease, so a row
re-sent to another collector is stored by one of them (docs/decisions/0030).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

LOOKUP_CHUNK = 2000
"""Values per ``IN`` list of a lookup (bounded query size)."""

Key = tuple[Any, ...]


def unseen(rows: Sequence[Sequence[Any]], key: Callable[[Sequence[Any]], Key],
           stored: Callable[[str, list[Key]], set[Key]], project_index: int = 0) -> list[list[Any]]:
    """The rows whose ``key`` is neither earlier in the batch nor stored (``stored(project,
    keys)`` → the keys of that project the store holds), in their order."""
    fresh: list[list[Any]] = []
    keys: list[Key] = []
    seen: set[Key] = set()
    for row in rows:
        k = key(row)
        if k in seen:
            continue
        seen.add(k)
        fresh.append(list(row))
        keys.append(k)
    by_project: dict[str, list[Key]] = {}
    for row, k in zip(fresh, keys, strict=True):
        by_project.setdefault(str(row[project_index]), []).append(k)
    found: set[Key] = set()
    for project, members in by_project.items():
        found |= stored(project, members)
    if not found:
        return fresh
    return [row for row, k in zip(fresh, keys, strict=True) if k not in found]


def chunks(values: Sequence[Any], size: int = LOOKUP_CHUNK) -> list[list[Any]]:
    """``values`` sorted and distinct, in lists of at most ``size``."""
    ordered = sorted(set(values))
    return [ordered[i:i + size] for i in range(0, len(ordered), size)]
