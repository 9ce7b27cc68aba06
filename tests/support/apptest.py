"""Helpers of the AppTest page tests: the plain-text tables of ui/texttable.py, found by key."""

from __future__ import annotations

from typing import Any


def keyed_block(node: Any, key: str) -> Any:
    """The container made with ``key`` (its element id ends with the key), or None."""
    for child in getattr(node, "children", {}).values():
        if str(getattr(getattr(child, "proto", None), "id", "") or "").endswith(f"-{key}"):
            return child
        found = keyed_block(child, key)
        if found is not None:
            return found
    return None


def _leaves(node: Any) -> list[Any]:
    out = []
    for child in getattr(node, "children", {}).values():
        out += _leaves(child) if getattr(child, "children", None) else [child]
    return out


def text_rows(at: Any, key: str) -> list[list[str]]:
    """The rows of a plain-text table (ui/texttable.py): each row's cell values, in order."""
    block = keyed_block(at.main, key)
    assert block is not None, f"no table {key!r} on the page"
    return [[str(leaf.value) for leaf in _leaves(row)] for row in block.children.values()]
