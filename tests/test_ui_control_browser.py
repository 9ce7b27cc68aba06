"""The control loop's pages in a real headless Chromium (Playwright, sync API), against a real
Streamlit started as ``flightlog ui`` starts it, reading a real collector with the UI's read key:
approvals proposed over HTTP as an agent would, decided on the Approvals page by a named person
signed in with their own key (and the agent's long-poll woken within seconds), what a read key
or an engineer without the approve permission sees, the kill switch from the Control and Trace
pages, the Policies page, approval text shown as text, and the key facts on one 1400×900 screen.

Every test saves screenshots under its ``tmp_path`` (assertion messages name them).
"""
from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import RunningCollector, start_collector, start_ui, wait_until
from support import control_ui as cu
from support.browser import assert_columns_fit, drawn_columns
from support.agents import Agent, checkpoint_span, pending_approval

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
WAIT_MS = 30_000
VIEWPORT = {"width": 1400, "height": 900}
DRAWN = """() => !document.querySelector('[data-testid="stSkeleton"], [data-testid="stSkeletonElement"]')
    && Array.from(document.querySelectorAll('[data-testid="stDataFrame"]')).every(d => d.querySelector('canvas'))"""
HTML_ACTION = "<script>alert(1)</script><b>bold</b> refund quokka"

import playwright.sync_api as sync_api  # the dev extra installs it: a missing browser stack fails, never skips

expect = sync_api.expect


@dataclass
class Stack:
    collector: RunningCollector
    ui_url: str
    run: cu.Run
    approver: str  # Dana Reviewer: engineer with the approve permission
    engineer: str  # Eve Engineer: engineer without it
    admin: str  # Ada Admin: a named admin
    policy_version: int

    def propose(self, arguments: Any, **extra: Any) -> dict[str, Any]:
        return cu.propose(self.collector.url, self.collector.ingest_key, self.run, arguments,
                          policy_version=self.policy_version, **extra)

    def approval(self, approval_id: str) -> dict[str, Any]:
        return cu.approval(self.collector.url, self.collector.read_key, approval_id)

    def state(self) -> dict[str, Any]:
        return cu.control_state(self.collector.url, self.collector.read_key)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A collector with one agent run, a policy and named keys, and the UI on its read key."""
    collector = start_collector(tmp_path_factory.mktemp("control-ui-collector"))
    try:
        url, admin = collector.url, collector.admin_key
        run = cu.send_run(url, collector.ingest_key)
        collector.wait_for_trace(run.trace_id, 4)
        policy = cu.put_policy(url, admin, cu.POLICY)
        stack = Stack(collector=collector, ui_url="", run=run, policy_version=policy["version"],
                      approver=cu.new_key(url, admin, "engineer", "Dana Reviewer", ["approve"]),
                      engineer=cu.new_key(url, admin, "engineer", "Eve Engineer"),
                      admin=cu.new_key(url, admin, "admin", "Ada Admin"))
        with start_ui(url, collector.read_key, tmp_path_factory.mktemp("control-ui")) as ui:
            stack.ui_url = ui.url
            yield stack
            log = ui.log()
        for secret in (stack.approver, stack.engineer, stack.admin):
            assert secret not in log, "a person's key reached the UI's log"
    finally:
        collector.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def dialogs() -> list[str]:
    return []


@pytest.fixture
def page(browser, dialogs):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    context.close()


def _whole_page(page, path: Path) -> None:
    """Streamlit scrolls inside its own container, so a full-page shot is the viewport: grow the
    viewport to the content's height for the shot (measured again once the tables are drawn),
    then restore it."""
    settled(page)
    size = page.viewport_size or VIEWPORT
    measure = """() => { const block = document.querySelector('[data-testid="stMainBlockContainer"]');
        return block.getBoundingClientRect().top + block.scrollHeight; }"""
    try:
        height = size["height"]
        for _ in range(3):
            wanted = max(size["height"], min(int(page.evaluate(measure)) + 40, 8000))
            if wanted <= height:
                break
            height = wanted
            page.set_viewport_size({"width": size["width"], "height": height})
            page.wait_for_function(DRAWN, timeout=WAIT_MS)  # the resize re-draws tables and widgets
        page.screenshot(path=str(path))
    finally:
        page.set_viewport_size(size)


@contextlib.contextmanager
def screenshot(page, tmp_path: Path, name: str) -> Iterator[Path]:
    """Screenshot the whole page when the block ends (pass or fail); failures name the file."""
    path = tmp_path / f"{name}.png"
    try:
        yield path
    except Exception as exc:  # Playwright's timeouts too
        _whole_page(page, path)
        raise AssertionError(f"{exc}\nscreenshot: {path}") from exc
    _whole_page(page, path)


def settled(page) -> None:
    """Wait until Streamlit has finished the current run (its status widget is gone)."""
    expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0)


def open_approval(page, stack: Stack, approval_id: str) -> None:
    page.goto(f"{stack.ui_url}/approvals?id={approval_id}")
    # the page's first load in a new UI process can take over expect's 5 s on a slow CPU
    expect(page.get_by_role("heading", name="The agent wants to")).to_be_visible(timeout=WAIT_MS)
    settled(page)


def sign_in(page, key: str, name: str) -> None:
    box = page.get_by_label("Your key", exact=True)
    expect(box).to_be_visible()
    assert box.get_attribute("type") == "password"
    box.fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text(re.compile(rf"^Signed in as {re.escape(name)}"))).to_be_visible()
    settled(page)
    assert key not in page.url


def decision_form(page):
    return page.locator('[data-testid="stForm"]').filter(has=page.get_by_role("button", name="Reject"))


class Waiter(threading.Thread):
    """The agent's long-poll (``GET /api/approvals/{id}/wait``) running while a person decides."""

    def __init__(self, stack: Stack, approval_id: str) -> None:
        super().__init__(daemon=True)
        self.stack, self.approval_id = stack, approval_id
        self.answer: dict[str, Any] = {}
        self.returned_at = 0.0

    def run(self) -> None:
        collector = self.stack.collector
        resp = httpx.get(f"{collector.url}/api/approvals/{self.approval_id}/wait", params={"timeout_s": 60},
                         headers=cu.auth(collector.ingest_key), timeout=90)
        self.returned_at = time.monotonic()
        self.answer = resp.json()


def test_a_named_person_approves_and_the_waiting_agent_hears_within_seconds(page, stack, tmp_path):
    approval = stack.propose({"order_id": "88123", "amount": 4950})
    waiter = Waiter(stack, approval["id"])  # the agent starts waiting as soon as it asked
    waiter.start()
    with screenshot(page, tmp_path, "approvals-pending") as shot:
        open_approval(page, stack, approval["id"])
        expect(page.get_by_text("refund order 88123").filter(visible=True).first, f"screenshot: {shot}").to_be_visible()
        expect(page.get_by_text(cu.LLM_ANSWER).first, f"the deciding call's output; {shot}").to_be_attached()
        expect(page.get_by_text(cu.USER_ASK).first, f"the run so far; {shot}").to_be_attached()
    with screenshot(page, tmp_path, "approvals-approved") as shot:
        sign_in(page, stack.approver, "Dana Reviewer")
        form = decision_form(page)
        form.get_by_label("Reason (required)").fill("matches the order line")
        assert waiter.is_alive(), f"the agent's long-poll answered before any decision: {waiter.answer}"
        clicked = time.monotonic()
        form.get_by_role("button", name="Approve", exact=True).click()
        expect(page.get_by_text("Approved as Dana Reviewer"), f"screenshot: {shot}").to_be_visible()
        waiter.join(30)
        assert waiter.answer.get("status") == "approved", waiter.answer
        assert waiter.answer["approver"] == "Dana Reviewer"
        assert waiter.returned_at - clicked < 10, f"the agent heard after {waiter.returned_at - clicked:.1f}s"
    stored = wait_until(lambda: (a := stack.approval(approval["id"]))["status"] == "approved" and a,
                        timeout=30, what="the approval to be approved")
    assert stored["approver"] == "Dana Reviewer" and stored["reason"] == "matches the order line"
    assert stored["edited_arguments"] is None


def test_an_agent_process_waits_until_a_person_clicks_approve_in_the_browser(page, stack, tmp_path):
    """Three processes: the agent (real SDK, tier-3 inbox checkpoint), the collector, the UI."""
    arguments = {"order_id": "88177", "amount": 4950}
    agent = Agent(stack.collector, tmp_path, AGENT_NAME="refund-e2e", AGENT_TIMEOUT_S="180",
                  AGENT_ARGUMENTS=json.dumps(arguments))
    try:
        started = agent.wait("started")
        approval = pending_approval(stack.collector, started["trace_id"])
        with screenshot(page, tmp_path, "approvals-agent-process") as shot:
            open_approval(page, stack, approval["id"])
            expect(page.get_by_text("88177").filter(visible=True).first, f"screenshot: {shot}").to_be_visible()
            sign_in(page, stack.approver, "Dana Reviewer")
            form = decision_form(page)
            form.get_by_label("Reason (required)").fill("the customer's order line says 4950")
            assert not agent.find("decision"), "the agent went on before anyone decided"
            clicked = time.time()
            form.get_by_role("button", name="Approve", exact=True).click()
            expect(page.get_by_text("Approved as Dana Reviewer"), f"screenshot: {shot}").to_be_visible()
        decision = agent.wait("decision", timeout=60)
        assert (decision["decision"], decision["approver"]) == ("approved", "Dana Reviewer"), decision
        assert decision["received"] - clicked < 10, f"the agent heard after {decision['received'] - clicked:.1f}s"
        assert agent.wait("tool")["arguments"] == arguments
        agent.finish()
    finally:
        agent.kill()
    trace = stack.collector.wait_for_trace(started["trace_id"], 7)
    span = checkpoint_span(trace)
    assert (span["approver"], span["checkpoint_decision"]) == ("Dana Reviewer", "approved")
    assert span["span_attributes"]["flightlog.checkpoint.reason"] == "the customer's order line says 4950"


def test_a_named_person_rejects_and_the_waiting_agent_hears_within_seconds(page, stack, tmp_path):
    approval = stack.propose({"order_id": "88200", "amount": 9900})
    waiter = Waiter(stack, approval["id"])
    waiter.start()
    with screenshot(page, tmp_path, "approvals-rejected") as shot:
        open_approval(page, stack, approval["id"])
        sign_in(page, stack.approver, "Dana Reviewer")
        form = decision_form(page)
        form.get_by_label("Reason (required)").fill("9900 is the total in cents, not dollars")
        assert waiter.is_alive(), f"the agent's long-poll answered before any decision: {waiter.answer}"
        clicked = time.monotonic()
        form.get_by_role("button", name="Reject", exact=True).click()
        expect(page.get_by_text("Rejected as Dana Reviewer"), f"screenshot: {shot}").to_be_visible()
        waiter.join(30)
        assert waiter.answer.get("status") == "rejected", waiter.answer
        assert waiter.returned_at - clicked < 10, f"the agent heard after {waiter.returned_at - clicked:.1f}s"
    stored = wait_until(lambda: (a := stack.approval(approval["id"]))["status"] == "rejected" and a,
                        timeout=30, what="the approval to be rejected")
    assert stored["approver"] == "Dana Reviewer" and stored["reason"] == "9900 is the total in cents, not dollars"


def test_approve_with_edited_arguments_checks_the_json_and_stores_them(page, stack, tmp_path):
    approval = stack.propose({"order_id": "88300", "amount": 4950})
    with screenshot(page, tmp_path, "approvals-edit-invalid") as shot:
        open_approval(page, stack, approval["id"])
        sign_in(page, stack.approver, "Dana Reviewer")
        form = decision_form(page)
        form.get_by_label("Reason (required)").fill("the amount is in cents: refund 49.50")
        form.get_by_text("Approve with edited arguments").click()
        editor = form.get_by_label("Arguments the agent should use instead (JSON)")
        expect(editor, f"screenshot: {shot}").to_be_visible()
        editor.fill('{"order_id": "88300", "amount": 49.5')
        form.get_by_role("button", name="Approve with these arguments").click()
        expect(page.get_by_text("The edited arguments are not valid JSON"), f"screenshot: {shot}").to_be_visible()
        settled(page)
        assert stack.approval(approval["id"])["status"] == "pending", "an invalid edit decided nothing"
    with screenshot(page, tmp_path, "approvals-edit-approved") as shot:
        editor.fill('{"order_id": "88300", "amount": 49.5}')
        form.get_by_role("button", name="Approve with these arguments").click()
        expect(page.get_by_text("Approved as Dana Reviewer"), f"screenshot: {shot}").to_be_visible()
    stored = wait_until(lambda: (a := stack.approval(approval["id"]))["status"] == "approved" and a,
                        timeout=30, what="the approval to be approved")
    assert stored["edited_arguments"] == {"order_id": "88300", "amount": 49.5}
    assert stored["arguments"] == {"order_id": "88300", "amount": 4950}, "the agent's own arguments are kept"


def test_without_the_approve_permission_the_page_says_what_is_missing(page, stack, tmp_path):
    approval = stack.propose({"order_id": "88400", "amount": 10})
    with screenshot(page, tmp_path, "approvals-read-key") as shot:
        open_approval(page, stack, approval["id"])
        form = decision_form(page)
        expect(form.get_by_role("button", name="Approve", exact=True), f"screenshot: {shot}").to_be_disabled()
        expect(form.get_by_role("button", name="Reject", exact=True), f"screenshot: {shot}").to_be_disabled()
        expect(page.get_by_text("Deciding needs your own key with the approve permission"),
               f"screenshot: {shot}").to_be_visible()
    with screenshot(page, tmp_path, "approvals-engineer-key") as shot:
        sign_in(page, stack.engineer, "Eve Engineer")
        form = decision_form(page)
        expect(form.get_by_role("button", name="Approve", exact=True), f"screenshot: {shot}").to_be_disabled()
        expect(page.get_by_text(re.compile(r"Eve Engineer \(engineer\), which may not decide approvals")),
               f"screenshot: {shot}").to_be_visible()
    assert stack.approval(approval["id"])["status"] == "pending"


def test_the_key_facts_and_the_buttons_fit_on_one_1400x900_screen(page, stack, tmp_path):
    arguments = {"order_id": "88500", "amount": 4950, "currency": "USD", "customer": {"id": "c-77", "tier": "gold"}}
    approval = stack.propose(arguments, action="refund order 88500 in full")
    with screenshot(page, tmp_path, "approvals-viewport") as shot:
        open_approval(page, stack, approval["id"])
        sign_in(page, stack.approver, "Dana Reviewer")
        form = decision_form(page)
        facts = {
            "action": page.locator('[data-testid="stCode"]').filter(has_text="refund order 88500 in full").first,
            "arguments": page.locator('[data-testid="stJson"]').filter(has_text="c-77").first,
            "agent version": page.locator('[data-testid="stText"]').filter(
                has_text=re.compile(rf"^{re.escape(cu.VERSION)}$")).first,
            "tool": page.locator('[data-testid="stText"]').filter(has_text=re.compile(r"^issue_refund$")).first,
            "reason box": form.get_by_label("Reason (required)"),
            "Approve": form.get_by_role("button", name="Approve", exact=True),
            "Reject": form.get_by_role("button", name="Reject", exact=True),
        }
        outside = {}
        for what, element in facts.items():
            expect(element, f"{what}; screenshot: {shot}").to_be_visible()
            box = element.bounding_box()
            assert box, f"{what} has no box; screenshot: {shot}"
            if box["x"] < 0 or box["y"] < 0 or box["x"] + box["width"] > VIEWPORT["width"] \
                    or box["y"] + box["height"] > VIEWPORT["height"]:
                outside[what] = box
        assert not outside, f"outside the 1400×900 viewport: {outside}; screenshot: {shot}"
    page.screenshot(path=str(tmp_path / "approvals-viewport-as-seen.png"))


def test_the_inbox_and_the_decision_buttons_fit_beside_the_approval_at_1280_and_1400_px(page, stack, tmp_path):
    # The inbox shares the width with the approval beside it: its deadline and "agent: action"
    # wrap in their columns instead of running past the grid's edge.
    action = "refund order 88501 in full after the customer reported a damaged parcel twice"
    approval = stack.propose({"order_id": "88501", "amount": 12}, action=action)
    for width in (1280, 1400):
        page.set_viewport_size({"width": width, "height": 900})
        with screenshot(page, tmp_path, f"approvals-inbox-{width}") as shot:
            open_approval(page, stack, approval["id"])
            inbox_grid = page.locator('[data-testid="stDataFrame"]').first
            expect(inbox_grid.locator("canvas").first).to_be_visible()
            expect(inbox_grid.locator("th[role=columnheader]").first).to_be_attached()
            assert {"time left", "agent: action"} <= set(drawn_columns(inbox_grid)), f"screenshot: {shot}"
            assert_columns_fit(inbox_grid, f"the inbox at {width} px; screenshot: {shot}")
            cells = inbox_grid.evaluate("g => [...g.querySelectorAll('td')].map(td => td.textContent)")
            assert any(cu.AGENT in c and action[:60] in c for c in cells), f"{cells}; screenshot: {shot}"
            form = decision_form(page)
            for name in ("Approve", "Reject"):
                label = form.get_by_role("button", name=name, exact=True).locator("p").first
                needed, shown = label.evaluate("p => [p.scrollWidth, p.clientWidth]")
                assert needed <= shown, f"{name!r} needs {needed} px in {shown}: cut at {width} px; screenshot: {shot}"
    page.set_viewport_size(VIEWPORT)


def test_approval_text_is_shown_as_text_never_as_html(page, dialogs, stack, tmp_path):
    approval = stack.propose({"note": "<b>bold</b>", "html": "<script>alert(2)</script>"}, action=HTML_ACTION)
    with screenshot(page, tmp_path, "approvals-html") as shot:
        open_approval(page, stack, approval["id"])
        expect(page.locator('[data-testid="stCode"]').filter(has_text=HTML_ACTION).first,
               f"screenshot: {shot}").to_be_visible()
        expect(page.locator('[data-testid="stJson"]').filter(has_text="<b>bold</b>").first,
               f"screenshot: {shot}").to_be_visible()
        assert page.locator("b", has_text="bold").count() == 0, f"<b> made from approval text; screenshot: {shot}"
        assert page.locator("script", has_text="alert").count() == 0, f"<script> made; screenshot: {shot}"
        assert dialogs == [], f"approval text ran script: {dialogs}; screenshot: {shot}"


def test_an_admin_pauses_and_resumes_from_the_trace_and_control_pages(page, stack, tmp_path):
    target = (cu.AGENT, cu.VERSION, "")
    scopes = lambda: [(p["agent"], p["agent_version"], p["tool"]) for p in stack.state()["pauses"]]  # noqa: E731

    def form_with(button: str):
        return page.locator('[data-testid="stForm"]').filter(has=page.get_by_role("button", name=button, exact=True))

    try:
        with screenshot(page, tmp_path, "trace-kill-switch") as shot:
            page.goto(f"{stack.ui_url}/trace?trace_id={stack.run.trace_id}")
            switch = page.get_by_text("Kill switch: pause this trace's agent")
            expect(switch, f"screenshot: {shot}").to_be_visible()
            settled(page)
            sign_in(page, stack.admin, "Ada Admin")
            if not form_with("Pause").is_visible():
                page.get_by_text("Kill switch: pause this trace's agent").click()
            form_with("Pause").get_by_label("Reason (required)").fill("refunds 100x too large")
            form_with("Pause").get_by_role("button", name="Pause", exact=True).click()
            expect(page.get_by_text(f"Paused agent {cu.AGENT} {cu.VERSION} as Ada Admin"),
                   f"screenshot: {shot}").to_be_visible()
            expect(page.get_by_text("Kill switch: this trace's agent is paused"), f"screenshot: {shot}").to_be_visible()
            wait_until(lambda: target in scopes(), timeout=30, what="the pause in GET /api/control/state")
            pause = next(p for p in stack.state()["pauses"] if (p["agent"], p["agent_version"]) == target[:2])
            assert pause["by"] == "Ada Admin" and pause["reason"] == "refunds 100x too large"
        with screenshot(page, tmp_path, "control-paused") as shot:
            page.get_by_role("link", name="All pauses").click()  # in-app navigation: still signed in
            expect(page.get_by_role("heading", name="Active pauses (1)"), f"screenshot: {shot}").to_be_visible()
            settled(page)
            form_with("Resume").get_by_label("Reason (required)").fill("fixed in 2.3.1")
            form_with("Resume").get_by_role("button", name="Resume", exact=True).click()
            expect(page.get_by_text(f"Resumed agent {cu.AGENT} {cu.VERSION} as Ada Admin"),
                   f"screenshot: {shot}").to_be_visible()
            wait_until(lambda: target not in scopes(), timeout=30, what="the pause to be lifted")
        with screenshot(page, tmp_path, "control-paused-again") as shot:
            expect(page.get_by_role("heading", name="Active pauses (0)"), f"screenshot: {shot}").to_be_visible()
            settled(page)
            form_with("Pause").get_by_label("Reason (required)").fill("stop it again")
            form_with("Pause").get_by_role("button", name="Pause", exact=True).click()
            expect(page.get_by_text(f"Paused agent {cu.AGENT} {cu.VERSION} as Ada Admin"),
                   f"screenshot: {shot}").to_be_visible()
            wait_until(lambda: target in scopes(), timeout=30, what="the pause from the Control page")
            expect(page.get_by_role("heading", name="Active pauses (1)"), f"screenshot: {shot}").to_be_visible()
    finally:
        httpx.post(f"{stack.collector.url}/api/control/resume", headers=cu.auth(stack.collector.admin_key),
                   json={"agent": cu.AGENT, "agent_version": cu.VERSION, "reason": "test cleanup"}, timeout=30)


def test_a_read_key_cannot_pause(page, stack, tmp_path):
    with screenshot(page, tmp_path, "control-read-key") as shot:
        page.goto(f"{stack.ui_url}/control")
        expect(page.get_by_text("Pausing and resuming need an admin key"), f"screenshot: {shot}").to_be_visible()
        form = page.locator('[data-testid="stForm"]').filter(has=page.get_by_role("button", name="Pause"))
        expect(form.get_by_role("button", name="Pause"), f"screenshot: {shot}").to_be_disabled()


def test_the_policies_page_spells_out_the_rules(page, stack, tmp_path):
    with screenshot(page, tmp_path, "policies") as shot:
        page.goto(f"{stack.ui_url}/policies?agent={cu.AGENT}")
        expect(page.get_by_role("heading", name="In short"), f"screenshot: {shot}").to_be_visible()
        expect(page.get_by_text("Never calls (denied): delete_account.", exact=False).first,
               f"screenshot: {shot}").to_be_visible()
        expect(page.get_by_text(
            "When the agent calls issue_refund and the argument amount is above 200, the call waits for a "
            "person's approval — tier 3.", exact=False).first, f"screenshot: {shot}").to_be_visible()
        expect(page.get_by_text("refuses work (fail-closed)", exact=False).first, f"screenshot: {shot}").to_be_visible()
        expect(page.get_by_role("heading", name="History"), f"screenshot: {shot}").to_be_attached()


def test_an_approval_that_arrives_while_the_page_is_open_is_announced(page, stack, tmp_path):
    def waiting() -> int:
        resp = httpx.get(f"{stack.collector.url}/api/approvals", params={"status": "pending", "limit": 1},
                         headers=cu.auth(stack.collector.read_key), timeout=30)
        return int(resp.json()["total"])

    with screenshot(page, tmp_path, "approvals-new-arrival") as shot:
        page.goto(f"{stack.ui_url}/approvals")
        before = waiting()
        expect(page.get_by_role("heading", name=f"Waiting for a decision ({before})"),
               f"screenshot: {shot}").to_be_visible()
        settled(page)
        stack.propose({"order_id": "88600", "amount": 1})
        notice = page.get_by_text("The inbox has changed since this page was drawn.")
        expect(notice, f"screenshot: {shot}").to_be_visible(timeout=WAIT_MS)
        page.get_by_role("button", name="Refresh").click()
        expect(page.get_by_role("heading", name=f"Waiting for a decision ({before + 1})"),
               f"screenshot: {shot}").to_be_visible()
