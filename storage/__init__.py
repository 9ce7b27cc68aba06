"""Flightlog storage: the ClickHouse schema, migrations and queries.

Nothing outside this package imports clickhouse-connect or writes SQL.
"""

from .dsn import StoreSettings, parse_dsn
from .errors import InvalidQuery, QueryTimeout, StorageError, StorageUnavailable
from .store import Store, open_store

__all__ = [
    "InvalidQuery",
    "QueryTimeout",
    "StorageError",
    "StorageUnavailable",
    "Store",
    "StoreSettings",
    "open_store",
    "parse_dsn",
]
