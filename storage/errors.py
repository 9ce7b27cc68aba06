"""Storage errors, translated from clickhouse-connect at the boundary (docs/decisions/0010-errors-translated-at-each-boundary.md).

    StorageError                 the store could not do what was asked
    ├── StorageUnavailable       the engine cannot be reached or opened (retry later)
    ├── QueryTimeout             a read ran past its time or memory limit
    └── InvalidQuery             a caller passed a value the query layer rejects
"""

from __future__ import annotations


class StorageError(Exception):
    """Base class of every error raised by :mod:`flightlog.storage`."""


class StorageUnavailable(StorageError):
    """The engine could not be opened or reached; the caller may retry later."""


class QueryTimeout(StorageError):
    """A read query exceeded ``max_execution_time`` or ``max_memory_usage``."""


class InvalidQuery(StorageError):
    """A filter or sort value is outside what the query layer allows."""
