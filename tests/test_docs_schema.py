"""The schema page lists every migration the store applies, so an auditor reading it sees every
table and change (docs/storage/schema.md)."""

from __future__ import annotations

import re
from pathlib import Path

from flightlog.storage.migrate import migration_files

SCHEMA_PAGE = Path(__file__).resolve().parents[1] / "docs" / "storage" / "schema.md"


def test_the_schema_page_names_every_migration_file() -> None:
    page = SCHEMA_PAGE.read_text()
    listed = set(re.findall(r"^\| (\d{4})[_,]", page, re.M)) | set(re.findall(r"^\| \d{4}, (\d{4})", page, re.M))
    shipped = {f"{version:04d}" for version, _, _ in migration_files()}
    assert shipped - listed == set(), "migrations missing from docs/storage/schema.md"
    assert listed - shipped == set(), "the schema page lists migrations that do not exist"
