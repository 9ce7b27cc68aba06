"""What the Alerts page shows, from API answers (ui/alerts.py): conditions in words, rows with
the state first, history rows, the Monitoring link's parameters, who may silence."""

from __future__ import annotations

from typing import Any

import pytest

from flightlog.ui import alerts


def rule(**extra: Any) -> dict[str, Any]:
    base = {"id": "r1", "name": "refund-bot errors", "metric": "error_rate", "scope": {"agent": "refund-bot"},
            "window": "15m", "op": "above", "threshold": 0.2, "compare": "value", "baseline": None,
            "baseline_window": None, "min_samples": 10, "state": "ok", "since": None, "silenced": False,
            "silence": None, "last_evaluation": None, "tool": None, "argument": None}
    return {**base, **extra}


@pytest.mark.parametrize(("extra", "text"), [
    ({}, "error rate above 20.0% over 15m (at least 10 samples)"),
    ({"metric": "latency_p95_ms", "threshold": 2500.0, "op": "below"},
     "p95 latency (ms) below 2,500 over 15m (at least 10 samples)"),
    ({"compare": "previous_window", "threshold": 0.5}, "error rate changes above +50% against the previous window"),
    ({"compare": "baseline", "threshold": 1.0, "baseline": {"agent_version": "2.2.5"}, "baseline_window": "7d"},
     "error rate changes above +100% against agent version 2.2.5 over 7d"),
    ({"metric": "tool_argument_max", "tool": "issue_refund", "argument": "amount", "threshold": 1000.0},
     "largest issue_refund amount above 1,000 over 15m"),
])
def test_a_condition_reads_as_a_sentence(extra: dict[str, Any], text: str) -> None:
    assert alerts.condition_text(rule(**extra)).startswith(text)


def test_rows_show_state_silence_value_and_samples() -> None:
    rows = alerts.rule_rows([
        rule(state="firing", since="2026-12-01T12:00:00+00:00", silenced=True,
             silence={"until": "2026-12-01T14:00:00+00:00", "reason": "deploy", "by": "Olu"},
             last_evaluation={"at": "2026-12-01T12:01:00+00:00", "value": 0.3125, "reference": None, "samples": 32,
                              "breached": True}),
        rule(id="r2", name="quiet", scope={}),
    ])
    assert [(r["state"], r["now"], r["samples"], r["scope"]) for r in rows] == [
        ("FIRING", "31.2%", 32, "agent refund-bot"), ("ok", "—", 0, "the whole project")]
    assert rows[0]["silenced"].startswith("until 2026-12-01 14:00") and rows[1]["evaluated"] == "not yet"


def test_history_rows_say_what_was_sent() -> None:
    base = {"at": "2026-12-01T12:00:00+00:00", "name": "r", "metric": "error_rate", "value": 0.5, "reference": 0.1,
            "threshold": 0.2, "samples": 12, "actor": "collector-1", "reason": ""}
    rows = alerts.history_rows([{**base, "kind": "firing", "silenced": True, "notified": False},
                                {**base, "kind": "resolved", "silenced": False, "notified": True},
                                {**base, "kind": "silenced", "silenced": False, "notified": False,
                                 "reason": "deploy", "actor": "Olu"}])
    assert [(r["event"], r["sent"], r["samples"]) for r in rows] == [
        ("firing", "no (silenced)", "12"), ("resolved", "yes", "12"), ("silenced", "", "")]
    assert rows[0]["detail"] == "50.0% vs 20.0% (reference 10.0%)" and rows[2]["detail"] == "deploy"


def test_the_monitoring_link_parameters_and_who_may_silence() -> None:
    assert alerts.monitoring_params("/monitoring?range=1h&bucket=hour&by=agent_version&agent=refund-bot") == {
        "range": "1h", "bucket": "hour", "by": "agent_version", "agent": "refund-bot"}
    assert alerts.why_not_manage({"role": "admin", "permissions": []}) == ""
    assert alerts.why_not_manage({"role": "engineer", "permissions": ["alerts"], "name": "Olu"}) == ""
    assert "which may not silence" in alerts.why_not_manage({"role": "engineer", "permissions": ["approve"],
                                                             "name": "Dana"})
    assert "enter it under" in alerts.why_not_manage(None)


@pytest.mark.parametrize(("window", "scope", "expected"), [
    ("5m", {"agent": "a"}, {"range": "15m", "bucket": "hour", "agent": "a"}),
    ("1h", {"agent": "a", "agent_version": "2.3.0"}, {"range": "1h", "bucket": "hour", "agent": "a",
                                                      "agent_version": "2.3.0"}),
    ("1h", {"agent_version": "2.3.0"}, {"range": "1h", "bucket": "hour", "agent_version": "2.3.0"}),
    ("6h", {"prompt_version": "v7"}, {"range": "24h", "bucket": "hour", "prompt_version": "v7"}),
    ("3d", {"model": "gpt-4o"}, {"range": "7d", "model": "gpt-4o"}),
    ("1h", {"agent": "a", "agent_version": "2.3.0", "prompt_id": "refund-policy", "prompt_version": "v7",
            "model": "gpt-4o"}, {"range": "1h", "bucket": "hour", "agent": "a", "agent_version": "2.3.0",
                                 "prompt_id": "refund-policy", "prompt_version": "v7", "model": "gpt-4o"}),
    ("30d", {}, {"range": "30d"}),
])
def test_the_collectors_monitoring_link_uses_what_the_monitoring_page_reads(window, scope, expected) -> None:
    from flightlog.collector.control.alerts import monitoring_link
    from flightlog.ui import monitor
    from flightlog.ui.filters import TIME_RANGES

    params = alerts.monitoring_params(monitoring_link({"window": window, "scope": scope}))
    assert params == expected
    assert params["range"] in TIME_RANGES and params.get("by", "") in monitor.BREAKDOWNS
    assert params.get("bucket", "day") in monitor.BUCKETS
    from flightlog.ui.views.monitoring import LLM_FILTERS  # every filter is one the Monitoring page reads

    assert set(params) - {"range", "bucket", "by"} <= {"agent", "agent_version", *LLM_FILTERS}
