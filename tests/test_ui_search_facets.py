"""Tests for the Search page's facets added for issue 6 (agent version, prompt id, tool,
custom date range) and its links from the URL, with AppTest against the seeded collector."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from flightlog.collector import demo
from flightlog.ui.client import ApiClient

APP = str(Path(__file__).resolve().parents[1] / "ui" / "app.py")
TIMEOUT = 60


@pytest.fixture
def collector_env(seeded_stack, monkeypatch):
    monkeypatch.setenv("FLIGHTLOG_API_URL", seeded_stack.api_url)
    monkeypatch.setenv("FLIGHTLOG_API_KEY", seeded_stack.read_key)
    return seeded_stack


def _search_app() -> AppTest:
    """The app at the Search page (the landing page is Traces)."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.switch_page("views/search.py")
    return at


def _caption_total(at: AppTest) -> str:
    return next((str(c.value) for c in at.caption if "matching span" in str(c.value)), "")


def test_tool_and_agent_version_in_url_filter_the_results(collector_env):
    at = _search_app()
    at.query_params.update(tool="issue_refund", agent_version=demo.INCIDENT_AGENT_VERSION)
    at.run()
    assert not at.exception, at.exception
    with ApiClient(collector_env.api_url, collector_env.read_key) as api:
        total = api.search_spans(tool="issue_refund", agent_version=demo.INCIDENT_AGENT_VERSION, limit=1).total
    assert total == 1  # the incident's refund is the only one issued while 2.3.0 was live
    assert "1 matching span" in _caption_total(at)
    assert at.selectbox(key="search.tool").value == "issue_refund"


def test_facet_choices_include_prompt_ids_tools_and_agent_versions(collector_env):
    at = _search_app().run()
    assert demo.INCIDENT_PROMPT_ID in at.selectbox(key="search.prompt_id").options
    assert "issue_refund" in at.selectbox(key="search.tool").options
    assert demo.INCIDENT_AGENT_VERSION in at.selectbox(key="search.agent_version").options


def test_custom_range_shows_date_inputs_and_writes_dates_to_url(collector_env):
    at = _search_app()
    at.query_params.update(range="custom", **{"from": "2020-01-01", "to": "2020-01-02"})
    at.run()
    assert not at.exception, at.exception
    assert len(at.date_input) == 2
    assert at.query_params["from"] == "2020-01-01" and at.query_params["to"] == "2020-01-02"
    assert any("No spans match" in str(i.value) for i in at.info)


def test_custom_range_does_not_break_the_cost_page(collector_env):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update(range="custom")
    at.run()
    at.switch_page("views/cost.py")
    at.query_params.clear()
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="cost.range").value == "all"
