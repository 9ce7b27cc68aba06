"""The suite's own rules: a skipped test fails the run (tests/support/no_skips.py)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_a_test_that_skips_fails_the_run_and_says_why(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_needs_a_tool="""
        import pytest

        def test_needs_chromium():
            pytest.skip("chromium is not installed")

        def test_fine():
            assert True

        @pytest.mark.xfail(reason="known", strict=True)
        def test_known_failure():
            assert False
    """)
    result = pytester.runpytest_inprocess("-p", "support.no_skips", "-p", "no:randomly", "-p", "no:xdist")
    result.assert_outcomes(passed=1, failed=1, xfailed=1)
    result.stdout.fnmatch_lines(["*skips are failures in this suite*chromium is not installed*"])


def test_a_missing_module_at_import_fails_rather_than_skips(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_browser="""
        import pytest

        sync_api = pytest.importorskip("playwright_that_is_not_there")

        def test_page():
            assert sync_api
    """, test_other="""
        def test_fine():
            assert True
    """)
    result = pytester.runpytest_inprocess("-p", "support.no_skips", "-p", "no:randomly", "-p", "no:xdist")
    assert result.ret in (pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.INTERRUPTED), "a module skipped at import fails"
    result.stdout.fnmatch_lines(["*skips are failures in this suite*playwright_that_is_not_there*"])
