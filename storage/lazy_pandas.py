"""clickhouse-connect without importing pandas for plain row inserts.

clickhouse-connect asks ``options.pd`` on every insert ("is the data a DataFrame?"), and the
first ask imports pandas: ~0.6 s of a collector's or CLI command's start, for a process whose
rows are lists. A DataFrame can only exist once pandas is imported, so the answer is the same
without it: :func:`install` puts a stand-in at ``options.pd`` that is false while pandas is not
imported, and is pandas itself (every attribute) once it is. Nothing changes for a process
that has imported pandas; one that has not would be told by clickhouse-connect's DataFrame
queries that pandas is missing, so only the collector's own processes install it
(docs/decisions/0046-no-pandas-import-for-row-inserts.md).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from clickhouse_connect.driver import options

_NAME = "pandas"


class _PandasWhenImported:
    """False until pandas is imported; then it stands for pandas."""

    def __bool__(self) -> bool:
        return _NAME in sys.modules

    def __getattr__(self, name: str) -> Any:
        return getattr(importlib.import_module(_NAME), name)


def install() -> None:
    """Put the stand-in in place, unless clickhouse-connect has looked pandas up already."""
    if "pd" in vars(options):
        return
    options.pd = _PandasWhenImported()

    def time_test(arr_or_dtype: Any) -> bool:
        kind = getattr(arr_or_dtype, "kind", None)
        if kind is None:
            kind = getattr(getattr(arr_or_dtype, "dtype", None), "kind", None)
        return kind in ("M", "m")

    options.pd_time_test = time_test
