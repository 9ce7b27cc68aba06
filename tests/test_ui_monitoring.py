"""Tests for the Monitoring page (ui/views/monitoring.py), its helpers (ui/monitor.py,
ui/charts.py monitoring figures) and the Cost page's per-run and top-trace sections, with
Streamlit's AppTest against the seeded collector."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from flightlog.collector import demo
from flightlog.ui import charts, monitor

APP = str(Path(__file__).resolve().parents[1] / "ui" / "app.py")
TIMEOUT = 60
HTML = "<b>x</b>"


@pytest.fixture
def collector_env(seeded_stack, monkeypatch):
    monkeypatch.setenv("FLIGHTLOG_API_URL", seeded_stack.api_url)
    monkeypatch.setenv("FLIGHTLOG_API_KEY", seeded_stack.read_key)
    return seeded_stack


def _open(page: str, **query_params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page(page)
    at.query_params.clear()
    at.query_params.update(query_params)
    return at.run()


# -- pure helpers ---------------------------------------------------------------------


def test_totals_add_units_and_errors():
    rows = [{"units": 3, "errors": 1, "tokens": 30, "latency_p95_ms": 5.0},
            {"units": 1, "errors": 0, "tokens": 10, "latency_p95_ms": None}]
    assert monitor.totals(rows) == {"units": 4, "errors": 1, "success_rate": 0.75, "tokens_per_unit": 10.0,
                                    "worst_p95_ms": 5.0}
    assert monitor.totals([])["success_rate"] is None


def test_tool_error_series_adds_error_types_per_tool_and_time():
    rows = [{"time": "t1", "tool": "a", "error_type": "x", "errors": 2},
            {"time": "t1", "tool": "a", "error_type": "y", "errors": 1},
            {"time": "t2", "tool": "b", "error_type": "x", "errors": 1}]
    assert monitor.tool_error_series(rows) == [{"time": "t1", "group": "a", "errors": 3},
                                               {"time": "t2", "group": "b", "errors": 1}]


def test_escalation_total():
    assert monitor.escalation_total([{"checkpoints": 4, "escalated": 1}]) == 0.25
    assert monitor.escalation_total([]) is None


def test_series_figure_draws_a_line_per_group_with_names_as_text():
    rows = [{"time": "t1", "group": HTML, "success_rate": 1.0}, {"time": "t1", "group": "v2", "success_rate": 0.5}]
    chart = charts.series_figure(rows, "success_rate", y_title="s", percent=True)
    assert sorted(chart.data["series"]) == [HTML, "v2"], "Vega draws names as text: no escaping to show"
    assert chart.to_dict()["mark"]["type"] == "line"


def test_latency_figure_ungrouped_has_three_quantiles():
    rows = [{"time": "t1", "group": "", "latency_p50_ms": 1, "latency_p95_ms": 2, "latency_p99_ms": 3}]
    assert list(charts.latency_figure(rows).data["series"]) == ["p50", "p95", "p99"]


def test_tool_errors_figure_stacks_error_types():
    rows = [{"tool": "a", "error_type": "Timeout", "errors": 2}, {"tool": "b", "error_type": HTML, "errors": 1}]
    chart = charts.tool_errors_figure(rows)
    assert chart.to_dict()["encoding"]["y"]["stack"] == "zero"
    assert set(chart.data["error_type"]) == {"Timeout", HTML}


# -- pages ----------------------------------------------------------------------------


def test_monitoring_page_draws_charts_by_prompt_version(collector_env):
    at = _open("views/monitoring.py", by="prompt_version")
    assert not at.exception, at.exception
    assert at.selectbox(key="monitoring.by").value == "prompt_version"
    # The first tab's charts only (success rate, latency); the others are built when opened.
    assert [t.label for t in at.tabs] == ["Success and latency", "Tokens", "Tool errors", "Checkpoints"]
    assert [str(h.value) for h in at.subheader][:2] == ["Success rate", "Latency p50 / p95 / p99"]
    assert len(list(at.get("vega_lite_chart"))) == 2
    assert any("LLM calls" in str(c.value) for c in at.caption)
    metric_labels = [m.label for m in at.metric]
    assert "Success rate" in metric_labels and "Checkpoint escalation rate" in metric_labels


def test_charts_without_a_breakdown_name_their_legend_series_not_none(collector_env):
    import json

    at = _open("views/monitoring.py")  # no breakdown chosen: the picker says "None"
    assert not at.exception, at.exception
    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    assert specs
    titles = [json.dumps(spec) for spec in specs]
    assert all('"title": "None"' not in t for t in titles), "a legend titled None"
    assert monitor.legend_title("") == "series" and monitor.legend_title("agent_version") == "agent version"


def test_monitoring_breakdown_and_agent_go_to_url(collector_env):
    at = _open("views/monitoring.py")
    at.selectbox(key="monitoring.by").set_value("agent_version").run()
    at.selectbox(key="monitoring.agent").set_value(demo.INCIDENT_AGENT).run()
    assert not at.exception
    assert at.query_params["by"] == "agent_version" and at.query_params["agent"] == demo.INCIDENT_AGENT


def test_monitoring_agent_is_remembered_on_search(collector_env):
    at = _open("views/monitoring.py", agent=demo.INCIDENT_AGENT, range="30d")
    at.switch_page("views/search.py")
    at.query_params.clear()
    at.run()
    assert not at.exception
    assert at.query_params.get("agent") == demo.INCIDENT_AGENT and at.query_params.get("range") == "30d"


def test_cost_page_shows_cost_per_successful_run_and_costliest_traces(collector_env):
    at = _open("views/cost.py")
    assert not at.exception, at.exception
    at.session_state["cost.tab"] = "Cost per successful run"
    at.run()
    assert "Cost per successful run" in [str(h.value) for h in at.subheader]
    at.session_state["cost.tab"] = "Costliest traces"
    at.run()
    assert not at.exception, at.exception
    assert "Costliest traces" in [str(h.value) for h in at.subheader]
    top = at.dataframe[-1].value  # the last table on the page
    assert len(top) >= 1 and all(str(link).startswith("trace?trace_id=") for link in top["trace"])
    costs = list(top["cost_usd"])
    assert costs == sorted(costs, reverse=True)


def test_monitoring_breakdown_is_remembered_after_visiting_another_page(collector_env):
    at = _open("views/monitoring.py", by="agent_version", bucket="hour")
    at.switch_page("views/cost.py")
    at.query_params.clear()
    at.run()
    at.switch_page("views/monitoring.py")
    at.query_params.clear()
    at.run()
    assert not at.exception
    assert at.selectbox(key="monitoring.by").value == "agent_version"
    assert at.selectbox(key="monitoring.bucket").value == "hour"


def test_monitoring_widgets_whose_state_was_dropped_come_back_from_the_url(collector_env):
    """After a run cut short by the next, Streamlit may keep some widgets' values and drop
    others (see the Search page test); the page must refill the dropped ones, not fail."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page("views/monitoring.py")
    at.query_params.clear()
    at.query_params.update(range="30d", agent=demo.INCIDENT_AGENT)
    at.session_state["monitoring.range"] = "30d"  # kept; bucket, breakdown and agent dropped
    at.run()
    assert not at.exception
    assert at.selectbox(key="monitoring.agent").value == demo.INCIDENT_AGENT
    assert at.selectbox(key="monitoring.range").value == "30d"
