"""A pytest plugin for evaluations in a test suite (docs/evaluation.md).

Enable it in a ``conftest.py`` with ``pytest_plugins = ["flightlog.pytest_plugin"]``; then the
``flightlog_eval`` fixture runs :func:`flightlog.evaluate` against the collector named by
``--flightlog-url`` (default ``FLIGHTLOG_ENDPOINT``, else http://127.0.0.1:4318) with the key
``--flightlog-key`` (default ``FLIGHTLOG_API_KEY``; spans sent with ``--flightlog-ingest-key``
or ``FLIGHTLOG_INGEST_KEY``), and fails the test with the summary table when a
gate fails::

    def test_refunds_do_not_regress(flightlog_eval):
        flightlog_eval("refund-regressions", "refund_bot:run", ["field_equals:amount"],
                       min_scores={"field_equals": 1.0}, baseline="last", max_drop=0.0)

Imports pytest only when pytest loads it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ._evaluate import EvalReport, evaluate

def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("flightlog", "flightlog evaluations")
    group.addoption("--flightlog-url", default=None, help="The collector's URL (default: FLIGHTLOG_ENDPOINT).")
    group.addoption("--flightlog-key", default=None, help="An engineer or admin key (default: FLIGHTLOG_API_KEY).")
    group.addoption("--flightlog-ingest-key", default=None, help="Key for the runs' spans (default: FLIGHTLOG_INGEST_KEY).")


@pytest.fixture
def flightlog_eval(request: Any) -> Callable[..., EvalReport]:
    """``flightlog_eval(dataset, task, evaluators, **options)``: :func:`flightlog.evaluate` with
    the collector and keys of the command line or environment; fails the test (showing the
    summary table) when a gate fails, else returns the report."""
    config = request.config
    url = config.getoption("flightlog_url")
    key = config.getoption("flightlog_key")
    ingest_key = config.getoption("flightlog_ingest_key")

    def run(dataset: Any, task: Any, evaluators: Any = (), **options: Any) -> EvalReport:
        options.setdefault("progress", False)
        report = evaluate(dataset, task, evaluators, url=url, key=key, ingest_key=ingest_key, **options)
        if not report.passed:
            pytest.fail("evaluation gate failed:\n" + report.table(), pytrace=False)
        return report

    return run
