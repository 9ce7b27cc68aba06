"""The Alerts page in a real headless Chromium against a real Streamlit and a real collector
evaluating every second (docs/alerts.md): rules with their state, firing first; a person signed
in with their own key (the alerts permission) silences and unsilences a firing rule; the history;
the link to Monitoring filtered to the rule's scope and window; names shown as text.

Every test saves screenshots under its ``tmp_path``.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from conftest import RunningCollector, start_collector, start_ui, wait_until
from support import control_ui as cu
from support.spans import Run, traces_request
from test_ui_control_browser import (  # noqa: F401  (browser, page, dialogs: fixtures)
    WAIT_MS, browser, dialogs, page, screenshot, settled, sign_in)

pytestmark = pytest.mark.browser
from playwright import sync_api  # installed by scripts/install-test-deps.sh: a missing one fails, never skips

expect = sync_api.expect
expect.set_options(timeout=WAIT_MS)  # a shared 2-core machine: the first run of a page can take seconds
HTML_NAME = "<b>bold</b> checkout latency"


@dataclass
class Stack:
    collector: RunningCollector
    ui_url: str
    oncall: str  # Ola On-call: engineer with the alerts permission
    engineer: str  # Eve Engineer: engineer without it
    loud: dict[str, Any]
    quiet: dict[str, Any]

    def rule(self, rule_id: str) -> dict[str, Any]:
        resp = httpx.get(f"{self.collector.url}/api/alerts/rules/{rule_id}", headers=cu.auth(self.collector.read_key),
                         timeout=30)
        assert resp.status_code == 200, resp.text
        return resp.json()


def _rule(collector: RunningCollector, **body: Any) -> dict[str, Any]:
    resp = httpx.post(f"{collector.url}/api/alerts/rules", headers=cu.auth(collector.admin_key), json=body, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    collector = start_collector(tmp_path_factory.mktemp("alerts-ui-collector"), env={"FLIGHTLOG_ALERT_INTERVAL_S": "1"})
    try:
        url, admin = collector.url, collector.admin_key
        quiet = _rule(collector, name=HTML_NAME, metric="latency_p95_ms", scope={"agent": "checkout-bot"},
                      window="1h", threshold=5000, min_samples=1)
        loud = _rule(collector, name="ui-bot errors", metric="error_rate", scope={"agent": "ui-bot"}, window="15m",
                     threshold=0.5, min_samples=2, description="Pause ui-bot on the Control page.")
        body = traces_request([Run(agent="ui-bot", failed=True), Run(agent="ui-bot", failed=True),
                               Run(agent="checkout-bot", duration_ms=300)])
        assert collector.post("/v1/traces", body, "application/x-protobuf").status_code == 200
        stack = Stack(collector, "", cu.new_key(url, admin, "engineer", "Ola On-call", ["alerts"]),
                      cu.new_key(url, admin, "engineer", "Eve Engineer"), loud, quiet)
        wait_until(lambda: stack.rule(loud["id"])["state"] == "firing", timeout=60, what="the loud rule to fire")
        wait_until(lambda: stack.rule(quiet["id"])["last_evaluation"], timeout=60, what="the quiet rule's evaluation")
        with start_ui(url, collector.read_key, tmp_path_factory.mktemp("alerts-ui")) as ui:
            stack.ui_url = ui.url
            yield stack
            log = ui.log()
        assert stack.oncall not in log, "a person's key reached the UI's log"
    finally:
        collector.stop()


def open_alerts(page, stack: Stack, rule_id: str = "") -> None:  # noqa: F811
    page.goto(f"{stack.ui_url}/alerts" + (f"?rule={rule_id}" if rule_id else ""))
    expect(page.get_by_role("heading", name="Alerts", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="History")).to_be_visible()
    settled(page)


def test_firing_rules_come_first_and_a_person_silences_and_unsilences_one(page, stack: Stack, tmp_path) -> None:  # noqa: F811
    with screenshot(page, tmp_path, "alerts-firing"):
        open_alerts(page, stack)
        metrics = page.locator('[data-testid="stMetric"]')
        expect(metrics.filter(has_text="Firing")).to_contain_text("1")
        # the firing rule is first and chosen
        expect(page.get_by_role("combobox", name="Rule")).to_have_value("FIRING · ui-bot errors")
        expect(page.get_by_text(re.compile(r"^ui-bot errors: FIRING since"))).to_be_visible()
        expect(page.get_by_text("Silencing needs your own key", exact=False)).to_be_visible()
        expect(page.get_by_role("button", name="Silence")).to_be_disabled()

    with screenshot(page, tmp_path, "alerts-engineer-refused"):
        sign_in(page, stack.engineer, "Eve Engineer")
        expect(page.get_by_text("which may not silence alerts", exact=False)).to_be_visible()
        expect(page.get_by_role("button", name="Silence")).to_be_disabled()
        page.get_by_role("button", name="Sign out").click()
        settled(page)

    with screenshot(page, tmp_path, "alerts-silenced"):
        sign_in(page, stack.oncall, "Ola On-call")
        form = page.locator('[data-testid="stForm"]').filter(has=page.get_by_role("button", name="Silence"))
        form.get_by_label("Reason (required)").fill("known: payment provider outage")
        form.get_by_role("button", name="Silence").click()
        expect(page.get_by_text(re.compile(r"^Silenced ui-bot errors until .* as Ola On-call"))).to_be_visible()
        rule = stack.rule(stack.loud["id"])
        assert rule["silenced"] and rule["silence"]["by"] == "Ola On-call"
        assert rule["silence"]["reason"] == "known: payment provider outage"
        expect(page.get_by_text(re.compile(r"Silenced until .* by Ola On-call: known: payment provider outage"))
               ).to_be_visible()
        expect(metrics.filter(has_text="Silenced")).to_contain_text("1")

    with screenshot(page, tmp_path, "alerts-unsilenced"):
        page.get_by_role("button", name="Unsilence").click()
        expect(page.get_by_text("ui-bot errors is no longer silenced", exact=False)).to_be_visible()
        assert not stack.rule(stack.loud["id"])["silenced"]
        resp = httpx.get(f"{stack.collector.url}/api/alerts/history", headers=cu.auth(stack.collector.read_key),
                         params={"rule_id": stack.loud["id"]}, timeout=30)
        assert [e["kind"] for e in resp.json()["events"]] == ["unsilenced", "silenced", "firing"]
        assert {e["actor"] for e in resp.json()["events"][:2]} == {"Ola On-call"}


def test_the_monitoring_link_carries_the_scope_and_window(page, stack: Stack, tmp_path) -> None:  # noqa: F811
    with screenshot(page, tmp_path, "alerts-to-monitoring"):
        open_alerts(page, stack, stack.loud["id"])
        page.get_by_role("link", name="Open Monitoring for this scope and window").click()
        page.wait_for_url(re.compile(r"/monitoring\?"))
        expect(page.get_by_role("heading", name="Monitoring")).to_be_visible()
        settled(page)
        assert "range=15m" in page.url and "agent=ui-bot" in page.url and "bucket=hour" in page.url
        expect(page.get_by_role("combobox", name="Agent", exact=True)).to_have_value("ui-bot")


def test_rule_names_are_shown_as_text_and_the_url_selects_a_rule(page, stack: Stack, tmp_path) -> None:  # noqa: F811
    with screenshot(page, tmp_path, "alerts-html-name"):
        open_alerts(page, stack, stack.quiet["id"])
        expect(page.get_by_text(f"{HTML_NAME}: ok", exact=False)).to_be_visible()
        assert page.locator('[data-testid="stMain"] b', has_text="bold").count() == 0
        expect(page.get_by_text(re.compile(r"Now: 300 from 1 samples"))).to_be_visible()
        assert f"rule={stack.quiet['id']}" in page.url


def test_the_monitoring_link_carries_every_filter_of_the_rule(page, stack: Stack, tmp_path) -> None:  # noqa: F811
    scope = {"agent": "ui-bot", "agent_version": "2.3.0", "prompt_id": "refund-policy", "prompt_version": "v7",
             "model": "gpt-4o"}
    rule = _rule(stack.collector, name="ui-bot v7 errors", metric="error_rate", scope=scope, window="1h",
                 threshold=0.5, min_samples=1)
    with screenshot(page, tmp_path, "alerts-to-monitoring-every-filter"):
        open_alerts(page, stack, rule["id"])
        page.get_by_role("link", name="Open Monitoring for this scope and window").click()
        page.wait_for_url(re.compile(r"/monitoring\?"))
        expect(page.get_by_role("heading", name="Monitoring")).to_be_visible()
        settled(page)
        for key, value in scope.items():
            assert f"{key}={value}" in page.url, (key, page.url)
        for label, value in (("Agent", "ui-bot"), ("Agent version", "2.3.0"), ("Prompt", "refund-policy"),
                             ("Prompt version", "v7"), ("Model", "gpt-4o")):
            expect(page.get_by_role("combobox", name=label, exact=True)).to_have_value(value)
        # the filters hold for the figures: no LLM call of that prompt version was sent
        expect(page.get_by_text("No LLM calls recorded in this time range")).to_be_visible()
        expect(page.get_by_text("Filters only LLM calls carry")).to_have_count(0)  # no stray page text
