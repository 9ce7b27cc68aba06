"""Versioned schema migrations, applied in file-name order by :mod:`flightlog.storage.migrate`."""
