"""The documentation site: it builds with ``mkdocs build --strict`` (broken links and anchors
fail), and its reference pages are what the code says."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _gen_reference():
    spec = importlib.util.spec_from_file_location("gen_reference", ROOT / "scripts" / "gen_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_site_builds_strict_without_warnings(tmp_path: Path) -> None:
    import mkdocs  # noqa: F401  (the dev extra has it: missing, the test fails, never skips)
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
         "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    assert "WARNING" not in log, log
    assert (tmp_path / "site" / "index.html").exists()
    assert (tmp_path / "site" / "reference" / "api" / "index.html").exists()


@pytest.mark.parametrize("name", ["settings.md", "cli.md", "api.md"])
def test_reference_pages_match_the_code(name: str) -> None:
    expected = _gen_reference().generate()[name]
    committed = (ROOT / "docs" / "reference" / name).read_text()
    assert committed == expected, (
        f"docs/reference/{name} is not what the code says: run python scripts/gen_reference.py and commit the result")


def test_every_page_is_in_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = sorted(str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md"))
    assert [p for p in pages if p not in nav] == []
