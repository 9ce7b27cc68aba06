"""End-to-end tests of the UI in a real headless Chromium (Playwright, sync API), against
a running Streamlit (``ui_server``) pointed at the seeded collector (``seeded_stack``).

Every test saves a screenshot of each page it checks under its ``tmp_path``; assertion
messages carry the path. Waiting is done with Playwright's own deadline-based waits.
"""
from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from flightlog.ui.client import ApiClient
from support.browser import VEGA_MARKS, wait_idle

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
MARKER = "<script>alert(1)</script>"
WAIT_MS = 30_000
# st.dataframe draws on a canvas: a row's selection box sits this far into the grid.
GRID_HEADER_PX, GRID_ROW_PX, GRID_CHECKBOX_X_PX = 35, 35, 16

import playwright.sync_api as sync_api  # noqa: E402  (the dev extra; scripts/install-test-deps.sh installs Chromium)

assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run scripts/install-test-deps.sh (apt-get install chromium)"
expect = sync_api.expect
# Waits are deadline-based; on a busy machine a page can take longer than Playwright's 5 s default.
expect.set_options(timeout=WAIT_MS)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def dialogs() -> list[str]:
    """Messages of any JavaScript dialog (alert, confirm…) the page opened."""
    return []


@pytest.fixture
def page(browser, dialogs):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    context.close()


@contextlib.contextmanager
def screenshot(page, tmp_path: Path, name: str) -> Iterator[Path]:
    """Screenshot the page when the block ends (pass or fail); failures name the file."""
    path = tmp_path / f"{name}.png"
    try:
        yield path
    except AssertionError as exc:
        page.screenshot(path=str(path), full_page=True)
        raise AssertionError(f"{exc}\nscreenshot: {path}") from exc
    page.screenshot(path=str(path), full_page=True)


def _search(page, base_url: str, word: str) -> None:
    page.goto(base_url + "/search")
    box = page.get_by_role("textbox", name="Search text")
    expect(box).to_be_visible()
    # Typed only once the page has drawn: a run cut short while it registers the filters can
    # make Streamlit drop a filter's value (searchform.reseed_missing puts most back).
    wait_idle(page)
    box.fill(word)
    box.press("Enter")


def _marked_span_id(seeded_stack) -> str:
    with ApiClient(seeded_stack.api_url, seeded_stack.read_key) as api:
        spans = api.get_trace(seeded_stack.trace_id).spans
    return next(
        s["span_id"] for s in spans if MARKER in (s.get("input_text") or "") + (s.get("output_text") or "")
    )


def test_search_finds_seeded_word(page, ui_server, seeded_stack, tmp_path):
    with ApiClient(seeded_stack.api_url, seeded_stack.read_key) as api:
        total = api.search_spans(q=seeded_stack.search_word, limit=1).total
    with screenshot(page, tmp_path, "search") as shot:
        _search(page, ui_server.url, seeded_stack.search_word)
        expect(page.get_by_text(f"{total:,} matching span"), f"screenshot: {shot}").to_be_visible()
        expect(page.locator('[data-testid="stDataFrame"] canvas').first, f"screenshot: {shot}").to_be_visible()
        assert total >= 1, f"the seeded word matched nothing; screenshot: {shot}"
        assert f"q={seeded_stack.search_word}" in page.url, f"URL {page.url}; screenshot: {shot}"


def test_opening_a_result_shows_the_waterfall(page, ui_server, seeded_stack, tmp_path):
    with screenshot(page, tmp_path, "search-before-open") as shot:
        _search(page, ui_server.url, seeded_stack.search_word)
        expect(page.get_by_text(re.compile(r"[1-9][\d,]* matching spans?")), f"screenshot: {shot}").to_be_visible()
        grid = page.locator('[data-testid="stDataFrame"]').first
        expect(grid.locator("canvas").first, f"screenshot: {shot}").to_be_visible()
        wait_idle(page)  # a click that lands while the page still runs goes to a grid about to be replaced
        box = grid.bounding_box()
        assert box, f"results table has no box; screenshot: {shot}"
    page.mouse.click(box["x"] + GRID_CHECKBOX_X_PX, box["y"] + GRID_HEADER_PX + GRID_ROW_PX / 2)
    with screenshot(page, tmp_path, "trace-opened") as shot:
        expect(page, f"screenshot: {shot}").to_have_url(re.compile(r"/trace\?trace_id=[0-9a-f]{32}"))
        expect(page.locator(VEGA_MARKS).first, f"screenshot: {shot}").to_be_visible()
        expect(page.get_by_role("heading", name="Selected span"), f"screenshot: {shot}").to_be_visible()


def test_span_text_is_shown_as_text_never_as_html(page, dialogs, ui_server, seeded_stack, tmp_path):
    span_id = _marked_span_id(seeded_stack)
    with screenshot(page, tmp_path, "trace-marker") as shot:
        page.goto(f"{ui_server.url}/trace?trace_id={seeded_stack.trace_id}&span_id={span_id}")
        expect(page.locator(VEGA_MARKS).first, f"screenshot: {shot}").to_be_visible()
        shown = page.get_by_text(MARKER).first
        expect(shown, f"screenshot: {shot}").to_be_visible()
        shown.scroll_into_view_if_needed()
        bold = page.locator("b", has_text="bold").count()
        assert bold == 0, f"{bold} <b> element(s) made from span text; screenshot: {shot}"
        scripts = page.locator("script", has_text="alert(1)").count()
        assert scripts == 0, f"{scripts} <script> element(s) made from span text; screenshot: {shot}"
        assert dialogs == [], f"span text ran script: {dialogs}; screenshot: {shot}"


def test_clicking_a_waterfall_bar_selects_that_span(page, ui_server, seeded_stack, tmp_path):
    with ApiClient(seeded_stack.api_url, seeded_stack.read_key) as api:
        spans = api.get_trace(seeded_stack.trace_id).spans
    assert len(spans) >= 2, "the seeded trace needs a span beside its root"
    row = len(spans) - 1
    with screenshot(page, tmp_path, "trace-bar-clicked") as shot:
        page.goto(f"{ui_server.url}/trace?trace_id={seeded_stack.trace_id}")
        expect(page, f"screenshot: {shot}").to_have_url(re.compile(f"span_id={spans[0]['span_id']}"))
        # Each bar is an SVG path whose aria-label names its lane (row number and label).
        bar = page.locator(f'{VEGA_MARKS}[aria-roledescription="bar"][aria-label*="lane: {row:05d} "]')
        expect(bar, f"screenshot: {shot}").to_have_count(1)
        bar.click(force=True)  # force: a tooltip may sit over the bar
        expect(page, f"screenshot: {shot}").to_have_url(re.compile(f"span_id={spans[row]['span_id']}"))


def _drawn(chart, shot) -> None:
    """The Vega chart drew marks, and at a readable size."""
    expect(chart.locator("svg .role-mark path").first, f"no marks drawn; screenshot: {shot}").to_be_attached()
    expect(chart.locator("svg").first, f"chart not shown; screenshot: {shot}").to_be_visible()
    box = chart.locator("svg").first.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 150, f"chart drawn at {box}; screenshot: {shot}"


def test_cost_page_draws_a_chart(page, ui_server, tmp_path):
    with screenshot(page, tmp_path, "cost") as shot:
        page.goto(ui_server.url + "/cost")
        expect(page.get_by_role("heading", name="Cost per model per day"), f"screenshot: {shot}").to_be_visible()
        chart = page.locator('[data-testid="stVegaLiteChart"]').first
        _drawn(chart, shot)
        assert page.locator(".js-plotly-plot").count() == 0, f"Plotly on the Cost page; screenshot: {shot}"
        expect(page.get_by_role("button", name="Download CSV").first, f"screenshot: {shot}").to_be_visible()


def _incident_refund_span_id(seeded_stack) -> str:
    with ApiClient(seeded_stack.api_url, seeded_stack.read_key) as api:
        spans = api.get_trace(seeded_stack.incident_trace_id).spans
    return next(s["span_id"] for s in spans if s["span_name"] == "execute_tool issue_refund")


def test_traceback_of_the_incident_lists_v7_and_healthy_runs_show_v6(page, ui_server, seeded_stack, tmp_path):
    span_id = _incident_refund_span_id(seeded_stack)
    caused_by = f"refund-policy@{seeded_stack.incident_prompt_version}"
    with screenshot(page, tmp_path, "traceback") as shot:
        page.goto(f"{ui_server.url}/traceback?trace_id={seeded_stack.incident_trace_id}&span_id={span_id}")
        expect(page.get_by_role("heading", name="Incident trace-back"), f"screenshot: {shot}").to_be_visible()
        expect(page.get_by_text(caused_by).first, f"screenshot: {shot}").to_be_visible()
        differed = page.locator('.st-key-traceback-differences [data-testid="stHorizontalBlock"]',
                                has_text="prompts").filter(has_text="refund-policy@v7").filter(has_text="refund-policy@v6")
        expect(differed.first, f"screenshot: {shot}").to_be_attached()
        differed.first.scroll_into_view_if_needed()
        expect(page.get_by_role("button", name="Export Markdown"), f"screenshot: {shot}").to_be_visible()
        expect(page.get_by_role("button", name="Export JSON"), f"screenshot: {shot}").to_be_visible()


def test_traceback_markdown_export_downloads_the_report(page, ui_server, seeded_stack, tmp_path):
    span_id = _incident_refund_span_id(seeded_stack)
    with screenshot(page, tmp_path, "traceback-export") as shot:
        page.goto(f"{ui_server.url}/traceback?trace_id={seeded_stack.incident_trace_id}&span_id={span_id}")
        button = page.get_by_role("button", name="Export Markdown")
        expect(button, f"screenshot: {shot}").to_be_visible()
        with page.expect_download() as info:
            button.click()
        report = Path(info.value.path()).read_text()
        assert "refund-policy@v7" in report and "refund-policy@v6" in report, f"report: {report[:500]}; screenshot: {shot}"


def test_trace_page_button_opens_the_traceback(page, ui_server, seeded_stack, tmp_path):
    span_id = _incident_refund_span_id(seeded_stack)
    with screenshot(page, tmp_path, "trace-to-traceback") as shot:
        page.goto(f"{ui_server.url}/trace?trace_id={seeded_stack.incident_trace_id}&span_id={span_id}")
        page.get_by_role("button", name="Trace back from this span").click()
        expect(page, f"screenshot: {shot}").to_have_url(re.compile(rf"/traceback\?.*span_id={span_id}"))
        expect(page.get_by_role("heading", name="Incident trace-back"), f"screenshot: {shot}").to_be_visible()


def test_monitoring_page_draws_charts(page, ui_server, tmp_path):
    with screenshot(page, tmp_path, "monitoring") as shot:
        page.goto(ui_server.url + "/monitoring?by=prompt_version")
        expect(page.get_by_role("heading", name="Success rate"), f"screenshot: {shot}").to_be_visible()
        chart = page.locator('[data-testid="stVegaLiteChart"]').first
        _drawn(chart, shot)
        assert page.locator(".js-plotly-plot").count() == 0, f"Plotly on the Monitoring page; screenshot: {shot}"
        # The other tabs' charts are drawn only when their tab is opened.
        escalations = page.get_by_role("heading", name="Checkpoint escalation rate")
        expect(escalations, f"built before its tab was opened; screenshot: {shot}").to_have_count(0)
        page.get_by_role("tab", name="Checkpoints").click()
        expect(escalations, f"screenshot: {shot}").to_be_visible()
        _drawn(page.locator('[data-testid="stVegaLiteChart"]').last, shot)


def test_traceback_shows_span_text_as_text(page, dialogs, ui_server, seeded_stack, tmp_path):
    span_id = _marked_span_id(seeded_stack)
    with screenshot(page, tmp_path, "traceback-marker") as shot:
        page.goto(f"{ui_server.url}/traceback?trace_id={seeded_stack.trace_id}&span_id={span_id}")
        expect(page.get_by_role("heading", name="Incident trace-back"), f"screenshot: {shot}").to_be_visible()
        shown = page.get_by_text(MARKER).first
        expect(shown, f"screenshot: {shot}").to_be_attached()
        shown.scroll_into_view_if_needed()
        assert page.locator("b", has_text="bold").count() == 0, f"<b> made from span text; screenshot: {shot}"
        assert page.locator("script", has_text="alert(1)").count() == 0, f"<script> made; screenshot: {shot}"
        assert dialogs == [], f"span text ran script: {dialogs}; screenshot: {shot}"
