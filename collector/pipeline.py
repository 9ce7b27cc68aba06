"""Decoded spans → storable rows: normalise, price, stamp. Pure apart from the clock."""

from __future__ import annotations

import time
from typing import Any

from . import mapping
from .pricing import PriceTable


def rows_from_spans(raw_spans: list[dict[str, Any]], *, project: str, prices: PriceTable) -> list[dict[str, Any]]:
    """One storable row per decoded span, in the key's project."""
    now_ms = time.time_ns() // 1_000_000
    rows = []
    for raw in raw_spans:
        row = mapping.normalise(raw, project=project)
        prices.price(row)
        row["IngestTime"] = now_ms
        rows.append(row)
    return rows
