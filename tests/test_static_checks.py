"""The linters CI runs: ruff (pyproject.toml ``[tool.ruff]``) and mypy (``[tool.mypy]``, through
scripts/typecheck.py, which lays the packages out as Python imports them) over the SDK, storage
and the collector. A finding fails the suite with the tool's own report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing_in_sdk_storage_and_collector() -> None:
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "sdk", "storage", "collector"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_finds_nothing_in_sdk_storage_and_collector() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "typecheck.py"), "sdk", "storage", "collector"],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success: no issues found" in done.stdout
