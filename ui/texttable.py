"""Streamlit glue: a small table of plain text that wraps.

``st.dataframe`` cuts long cells, and ``st.table`` renders its cells as Markdown, which span
data must never be (docs/ui.md, "Safety"). This lays a table out as rows of columns whose
cells are ``st.text`` (plain text, wrapped to the column), under a header of the page's own
words. Each table sits in a container keyed ``key`` (class ``st-key-<key>`` in the page), each
row in a horizontal block.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st


def text_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, key: str,
               widths: Sequence[float] | None = None, header: bool = True) -> None:
    """``rows`` (dicts) as a bordered table of ``columns``; values shown as plain text."""
    spec = list(widths) if widths else [1.0] * len(columns)
    with st.container(border=True, key=key):
        if header:
            for cell, name in zip(st.columns(spec), columns, strict=True):
                cell.caption(name)  # the page's own words
        for row in rows:
            for cell, name in zip(st.columns(spec), columns, strict=True):
                value = row.get(name)
                cell.text("" if value is None else str(value))


def field_list(pairs: Sequence[tuple[str, str]], *, key: str) -> None:
    """``(field, value)`` pairs: the field as a caption (our words), the value as wrapped text."""
    with st.container(border=True, key=key):
        for field, value in pairs:
            name, text = st.columns([1, 3])
            name.caption(field)
            text.text(value)
