"""A pytest plugin: a skipped test fails. What a test needs (chDB, Chromium, playwright, mypy,
the docs builder) is installed by scripts/install-test-deps.sh, so a skip means something is
missing, and a green run must not hide that. tests/conftest.py loads it for the whole suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Turn a skip (in setup, the test or teardown) into a failure that says why it skipped."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped, and skips are failures in this suite: {report.longrepr}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    """The same for a whole module skipped at import (``pytest.importorskip``)."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped, and skips are failures in this suite: {report.longrepr}"
