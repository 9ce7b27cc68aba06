"""The Traces (landing) and Sessions pages, and what fits on screen, in a real headless Chromium
at 1400×900 (and 1280) against Streamlit on the seeded demo collector. Screenshots of every page
checked are saved under each test's ``tmp_path``."""
from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from flightlog.collector import demo
from flightlog.ui import format as fmt
from flightlog.ui.client import ApiClient
from flightlog.ui.views.search import _COLUMNS as SEARCH_COLUMNS
from flightlog.ui.views.traces import COLUMNS

from conftest import wait_until
from support.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    VEGA_MARKS,
    WAIT_MS,
    assert_columns_fit,
    assert_texts_fit,
    drawn_columns,
    grid_cells,
    screenshot,
    wait_idle,
)
from support.control_ui import new_key

pytestmark = pytest.mark.browser
from playwright import sync_api  # installed by scripts/install-test-deps.sh: a missing one fails, never skips

expect = sync_api.expect
expect.set_options(timeout=WAIT_MS)  # deadline-based waits; a busy machine can be slower than 5 s
# st.dataframe draws on a canvas: a row's selection box sits this far into the grid.
GRID_HEADER_PX, GRID_ROW_PX, GRID_CHECKBOX_X_PX = 35, 35, 16


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _page(browser, width: int = 1400):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    return context, page


@pytest.fixture
def page(browser):
    context, page = _page(browser)
    yield page
    context.close()


def _grid(page):
    grid = page.locator('[data-testid="stDataFrame"]').first
    expect(grid.locator("canvas").first).to_be_visible()
    expect(grid.locator("th[role=columnheader]").first).to_be_attached()
    wait_idle(page)
    return grid


def test_the_landing_page_lists_traces_one_row_each(page, ui_server, seeded_stack, tmp_path):
    with ApiClient(seeded_stack.api_url, seeded_stack.read_key) as api:
        listed = api.list_traces(limit=5)
    with screenshot(page, tmp_path, "traces-landing") as shot:
        page.goto(ui_server.url + "/")
        expect(page.get_by_role("heading", name="Traces"), f"screenshot: {shot}").to_be_visible()
        expect(page.get_by_text(f"{listed['total']:,} traces · showing 1–50"), f"screenshot: {shot}").to_be_visible()
        grid = _grid(page)
        columns = drawn_columns(grid)
        # Everything an engineer needs first is drawn without scrolling sideways: the column
        # after the link is drawn too, so the link column is wholly inside the grid.
        for name in ("started (UTC)", "status", "errors", "trace", "agent", "duration", "cost", "tokens", "spans",
                     "open", "user"):
            assert name in columns, f"{name!r} not drawn at 1400 px: {columns}; screenshot: {shot}"
        box = grid.bounding_box()
        assert box and box["x"] + box["width"] <= 1400, f"grid {box} runs past the viewport; screenshot: {shot}"
        started = grid_cells(grid, columns.index("started (UTC)"))[:5]
        assert started == [t["started"].replace("T", " ")[:19] for t in listed["items"]], (
            f"rows {started} are not the newest traces; screenshot: {shot}")
        assert box["height"] <= 38 + 35 * 20 + 5, f"grid taller than 20 rows: {box}; screenshot: {shot}"


def test_filters_sort_and_open_a_trace_from_the_list(page, ui_server, seeded_stack, tmp_path):
    with ApiClient(seeded_stack.api_url, seeded_stack.read_key) as api:
        slowest = api.list_traces(status="error", sort="duration", limit=3)
    with screenshot(page, tmp_path, "traces-errors-by-duration") as shot:
        page.goto(ui_server.url + "/?status=error&sort=duration")
        expect(page.get_by_text(f"{slowest['total']:,} trace"), f"screenshot: {shot}").to_be_visible()
        grid = _grid(page)
        columns = drawn_columns(grid)
        durations = [float(v) for v in grid_cells(grid, columns.index("duration"))[:3]]
        assert durations == pytest.approx([t["duration_ms"] / 1000 for t in slowest["items"]], abs=0.01), (
            f"the duration column does not show the sort order: {durations}; screenshot: {shot}")
        assert all("error" in s for s in grid_cells(grid, columns.index("status"))), f"screenshot: {shot}"
        assert_texts_fit(grid, {COLUMNS[k]["label"]: COLUMNS[k]["width"] for k in ("started", "status")},
                         f"screenshot: {shot}")
        box = grid.bounding_box()
    page.mouse.click(box["x"] + GRID_CHECKBOX_X_PX, box["y"] + GRID_HEADER_PX + GRID_ROW_PX / 2)
    with screenshot(page, tmp_path, "traces-opened") as shot:
        expect(page, f"screenshot: {shot}").to_have_url(re.compile(
            rf"/trace\?trace_id={slowest['items'][0]['trace_id']}"))
        expect(page.get_by_role("heading", name="Selected span"), f"screenshot: {shot}").to_be_visible()


def test_a_session_shows_its_runs_in_order_and_one_transcript(page, ui_server, seeded_stack, tmp_path):
    with ApiClient(seeded_stack.api_url, seeded_stack.read_key) as api:
        sessions = api.sessions(limit=500)["items"]
        chosen = max(sessions, key=lambda s: s["traces"])
        session = api.session(chosen["session_id"])
    assert len(session["runs"]) >= 2
    with screenshot(page, tmp_path, "sessions-list") as shot:
        page.goto(ui_server.url + "/sessions")
        expect(page.get_by_text(f"{len(sessions):,} sessions"), f"screenshot: {shot}").to_be_visible()
        _grid(page)
    with screenshot(page, tmp_path, "session") as shot:
        page.goto(f"{ui_server.url}/sessions?session_id={chosen['session_id']}")
        expect(page.get_by_role("heading", name="Transcript"), f"screenshot: {shot}").to_be_visible()
        wait_idle(page)
        messages = page.locator('[data-testid="stChatMessage"]')
        expect(messages, f"screenshot: {shot}").to_have_count(len(session["turns"]))
        for i, turn in enumerate(session["turns"]):
            expect(messages.nth(i), f"screenshot: {shot}").to_contain_text(turn["text"][:60])
        heads = page.get_by_text(re.compile(r"^Run \d+ · "))
        expect(heads, f"screenshot: {shot}").to_have_count(len(session["runs"]))
        expect(heads.first, f"screenshot: {shot}").to_contain_text(session["runs"][0]["name"])
        box = messages.first.bounding_box()
        assert box and box["width"] > 800, f"the transcript is squeezed to {box}; screenshot: {shot}"
    page.get_by_role("link", name="open trace").first.click()
    with screenshot(page, tmp_path, "session-run-opened") as shot:
        expect(page, f"screenshot: {shot}").to_have_url(re.compile(rf"trace_id={session['runs'][0]['trace_id']}"))


def _first_cell_is(grid, column: str, text: str, shot) -> None:
    """Wait until the grid's first row shows ``text`` in ``column`` (the grid redrawn)."""
    index = drawn_columns(grid).index(column)
    expect(grid.locator("tr").nth(1).locator("td").nth(index), f"screenshot: {shot}").to_have_text(text)


def _caption_count(page, shot) -> int:
    caption = page.get_by_text(re.compile(r"^[\d,]+ sessions · showing"))
    expect(caption, f"screenshot: {shot}").to_be_visible()
    return int(caption.inner_text().split(" ")[0].replace(",", ""))


@pytest.mark.parametrize("width", [1280, 1440])
def test_sessions_filter_like_traces_and_open_a_transcript(browser, ui_server, seeded_stack, tmp_path, width):
    context, page = _page(browser, width)
    with ApiClient(seeded_stack.api_url, seeded_stack.read_key) as api:
        everything = api.sessions(limit=500)
        failing = api.sessions(errors_only=True, limit=500)
        target = next(s for s in everything["items"] if len(s["first_input"].split()) >= 3)
        word = max(target["first_input"].split(), key=len).strip(".,?!:;\"'()")
        by_word = api.sessions(q=word, limit=500)
        agent = target["agents"][0]
        by_agent = api.sessions(agent=agent, limit=500)
    assert 0 < failing["total"] <= 20 and 0 < by_word["total"] < everything["total"]
    try:
        with screenshot(page, tmp_path, f"sessions-{width}") as shot:
            page.goto(ui_server.url + "/sessions")
            assert _caption_count(page, shot) == everything["total"]
            grid = _grid(page)
            columns = drawn_columns(grid)
            for name in ("last activity (UTC)", "session", "runs", "errors", "user", "agents", "duration", "cost",
                         "first input"):
                assert name in columns, f"{name!r} not drawn at {width} px: {columns}; screenshot: {shot}"
            box = grid.bounding_box()
            assert box and box["x"] + box["width"] <= width, f"grid {box}; screenshot: {shot}"
            assert_columns_fit(grid, f"at {width} px; screenshot: {shot}")
            for label in ("Search text", "Time range", "Agent", "Agent version", "User"):
                field = page.get_by_label(label, exact=True).first
                expect(field, f"{label}; screenshot: {shot}").to_be_attached()
            toggle = page.get_by_text("Errors only", exact=True)
            expect(toggle, f"screenshot: {shot}").to_be_visible()
            assert toggle.evaluate("e => e.scrollWidth <= e.clientWidth"), f"the toggle's label is cut; screenshot: {shot}"
        assert everything["total"] > 50, "the demo has more than a page of sessions"
        with screenshot(page, tmp_path, f"sessions-page-2-{width}") as shot:
            page.get_by_role("button", name="Next →").click()
            expect(page.get_by_text(re.compile(r"sessions · showing 51–")), f"screenshot: {shot}").to_be_visible()
            expect(page, f"screenshot: {shot}").to_have_url(re.compile(r"page=2"))
            grid = _grid(page)
            _first_cell_is(grid, "last activity (UTC)",
                           fmt.format_time(everything["items"][50]["last_activity"])[:19], shot)
            page.get_by_role("button", name="← Previous").click()
            expect(page.get_by_text(re.compile(r"sessions · showing 1–50")), f"screenshot: {shot}").to_be_visible()
        with screenshot(page, tmp_path, f"sessions-errors-{width}") as shot:
            page.get_by_text("Errors only", exact=True).click()
            expect(page, f"screenshot: {shot}").to_have_url(re.compile(r"errors=1"))
            expect(page.get_by_text(f"{failing['total']:,} sessions · showing"), f"screenshot: {shot}").to_be_visible()
            grid = _grid(page)
            first_failing = fmt.format_time(failing["items"][0]["last_activity"])[:19]

            def drawn_failing() -> list[str] | None:  # the grid is redrawn after the caption
                columns = drawn_columns(grid)
                first = grid_cells(grid, columns.index("last activity (UTC)"))[:1]
                errors = grid_cells(grid, columns.index("errors"))
                return errors if first == [first_failing] and errors else None

            errors = wait_until(drawn_failing, timeout=WAIT_MS / 1000,
                                what=f"the sessions with errors in the grid; screenshot: {shot}")
            assert len(errors) <= failing["total"] and all(int(e) > 0 for e in errors), f"{errors}; screenshot: {shot}"
            page.get_by_text("Errors only", exact=True).click()
            expect(page, f"screenshot: {shot}").not_to_have_url(re.compile(r"errors=1"))
        with screenshot(page, tmp_path, f"sessions-search-{width}") as shot:
            box = page.get_by_label("Search text", exact=True)
            box.fill(word)
            box.press("Enter")
            expect(page, f"screenshot: {shot}").to_have_url(re.compile(r"q="))
            expect(page.get_by_text(f"{by_word['total']:,} sessions · showing"), f"screenshot: {shot}").to_be_visible()
            grid = _grid(page)
            _first_cell_is(grid, "last activity (UTC)", fmt.format_time(by_word["items"][0]["last_activity"])[:19], shot)
            wanted = [fmt.format_time(s["last_activity"])[:19] for s in by_word["items"]]

            def drawn_sessions() -> list[str] | None:  # the grid is redrawn after the caption
                last = grid_cells(grid, drawn_columns(grid).index("last activity (UTC)"))
                return last if last and last == wanted[:len(last)] else None

            wait_until(drawn_sessions, timeout=WAIT_MS / 1000, what=f"the matching sessions in the grid; screenshot: {shot}")
        with screenshot(page, tmp_path, f"sessions-agent-{width}") as shot:
            page.goto(f"{ui_server.url}/sessions?agent={agent}")
            expect(page.get_by_text(f"{by_agent['total']:,} sessions · showing"), f"screenshot: {shot}").to_be_visible()
            grid = _grid(page)
            _first_cell_is(grid, "last activity (UTC)", fmt.format_time(by_agent["items"][0]["last_activity"])[:19], shot)
            agents = grid_cells(grid, drawn_columns(grid).index("agents"))
            assert agents and all(agent in a for a in agents), f"{agents}; screenshot: {shot}"
            box = grid.bounding_box()
        # Selecting a row opens that session's transcript.
        page.mouse.click(box["x"] + GRID_CHECKBOX_X_PX, box["y"] + GRID_HEADER_PX + GRID_ROW_PX / 2)
        with screenshot(page, tmp_path, f"sessions-opened-{width}") as shot:
            expect(page, f"screenshot: {shot}").to_have_url(
                re.compile(rf"session_id={re.escape(by_agent['items'][0]['session_id'])}"))
            expect(page.get_by_role("heading", name="Transcript"), f"screenshot: {shot}").to_be_visible()
            page.get_by_role("link", name="All sessions").click()
            expect(page, f"screenshot: {shot}").to_have_url(re.compile(rf"agent={re.escape(agent)}"))
            expect(page.get_by_text(f"{by_agent['total']:,} sessions · showing"),
                   f"back to the list keeps its filters; screenshot: {shot}").to_be_visible()
    finally:
        context.close()


@pytest.mark.parametrize("width", [1280, 1400])
def test_search_shows_status_duration_link_at_laptop_widths(browser, ui_server, seeded_stack, tmp_path, width):
    context, page = _page(browser, width)
    try:
        with screenshot(page, tmp_path, f"search-{width}") as shot:
            page.goto(f"{ui_server.url}/search?q={demo.INCIDENT_SEARCH_WORD}&sort=duration")
            grid = _grid(page)
            columns = drawn_columns(grid)
            for name in ("time (UTC)", "status", "name", "duration", "cost", "tokens", "trace", "input"):
                assert name in columns, f"{name!r} not drawn at {width} px: {columns}; screenshot: {shot}"
            durations = [float(v) for v in grid_cells(grid, columns.index("duration"))]
            assert durations == sorted(durations, reverse=True), f"{durations}; screenshot: {shot}"
            assert_texts_fit(grid, {SEARCH_COLUMNS[k]["label"]: SEARCH_COLUMNS[k]["width"] for k in ("time", "status")},
                             f"screenshot: {shot}")
            box = grid.bounding_box()
            assert box and box["x"] + box["width"] <= width, f"grid {box}; screenshot: {shot}"
    finally:
        context.close()


def test_bad_urls_get_a_message_and_a_way_back(page, ui_server, tmp_path):
    with screenshot(page, tmp_path, "traces-page-9999") as shot:
        page.goto(ui_server.url + "/?page=9999")
        expect(page.get_by_text(re.compile("Page 9,999 is beyond the first 100,000 results")),
               f"screenshot: {shot}").to_be_visible()
        assert page.get_by_text("400").count() == 0, f"a raw 400 is shown; screenshot: {shot}"
        page.get_by_role("button", name="Back to page 1").click()
        expect(page.get_by_text(re.compile(r"traces · showing 1–")), f"screenshot: {shot}").to_be_visible()
    with screenshot(page, tmp_path, "search-long-query") as shot:
        page.goto(ui_server.url + "/search?q=" + "word " * 250)
        expect(page.get_by_text(re.compile("The search text has 1,2[0-9]{2} characters")),
               f"screenshot: {shot}").to_be_visible()
        page.get_by_role("button", name="Clear the search text").click()
        expect(page.get_by_text(re.compile(r"matching spans · showing 1–")), f"screenshot: {shot}").to_be_visible()
    with screenshot(page, tmp_path, "traces-past-the-end") as shot:
        page.goto(ui_server.url + "/?status=error&page=50")
        expect(page.get_by_text(re.compile(r"Page 50 is past the last page")), f"screenshot: {shot}").to_be_visible()
        page.get_by_role("button", name=re.compile(r"Go to page \d+")).click()
        expect(page.get_by_text(re.compile(r"traces? · showing 1–")), f"screenshot: {shot}").to_be_visible()


def _incident_spans(seeded_stack) -> list[dict]:
    with ApiClient(seeded_stack.api_url, seeded_stack.read_key) as api:
        return api.get_trace(seeded_stack.incident_trace_id).spans


@pytest.mark.parametrize("width", [1280, 1440])
def test_the_selected_span_is_marked_in_the_waterfall_and_the_tree(browser, ui_server, seeded_stack, tmp_path, width):
    context, page = _page(browser, width)
    try:
        _selected_span_marked(page, ui_server, seeded_stack, tmp_path, width)
    finally:
        context.close()


def _selected_span_marked(page, ui_server, seeded_stack, tmp_path, width):
    spans = _incident_spans(seeded_stack)
    refund = next(s for s in spans if s["span_name"] == "execute_tool issue_refund")
    with screenshot(page, tmp_path, f"trace-selected-{width}") as shot:
        page.goto(f"{ui_server.url}/trace?trace_id={seeded_stack.incident_trace_id}&span_id={refund['span_id']}")
        expect(page.get_by_role("heading", name="Selected span"), f"screenshot: {shot}").to_be_visible()
        wait_idle(page)
        # The waterfall is SVG: the selected row's label starts with ▶, and the yellow band
        # (a rect mark) lies on the refund's lane only.
        marked = page.locator('[data-testid="stVegaLiteChart"] svg text', has_text="▶")
        expect(marked, f"screenshot: {shot}").to_have_count(1)
        expect(marked, f"screenshot: {shot}").to_contain_text("execute_tool issue_refund")
        row = spans.index(refund)
        band = page.locator(f'{VEGA_MARKS}[aria-roledescription="rect mark"]')
        expect(band, f"no band; screenshot: {shot}").to_have_count(1)
        expect(band, f"screenshot: {shot}").to_have_attribute("aria-label", re.compile(rf"lane: {row:05d} ▶"))
        tree = page.locator('[data-testid="stDataFrame"]').first
        tree.scroll_into_view_if_needed()  # the grid draws (and lists) its rows once on screen
        expect(tree.locator("td").first, f"screenshot: {shot}").to_be_attached()
        cells = grid_cells(tree, 0)
        assert len(cells) == len(spans), f"{cells}; screenshot: {shot}"
        assert [c for c in cells if c.startswith("▶")] == [cells[spans.index(refund)]], f"{cells}; screenshot: {shot}"
        columns = drawn_columns(tree)
        for name in ("span", "status", "duration", "cost", "start", "type"):
            assert name in columns, f"tree column {name!r} not drawn at {width} px: {columns}; screenshot: {shot}"
        assert_columns_fit(tree, f"the span tree at {width} px; screenshot: {shot}")
        fields = page.locator(".st-key-trace-fields")
        expect(fields, f"screenshot: {shot}").to_contain_text("refund-policy@v7")
        decided = fields.locator('[data-testid="stHorizontalBlock"]', has_text="decided by").locator(
            '[data-testid="stText"]')
        decided.scroll_into_view_if_needed()
        decider = refund["span_attributes"]["flightlog.decided_by.span_id"]
        expect(decided, f"screenshot: {shot}").to_contain_text(f"refund-policy@v7 · span {decider}")
        assert decided.evaluate("e => e.scrollWidth <= e.clientWidth"), f"the decided-by value is cut; screenshot: {shot}"
        box = fields.bounding_box()
        assert box and box["x"] + box["width"] <= width, f"the fields list runs off screen: {box}; screenshot: {shot}"
    with screenshot(page, tmp_path, "trace-unknown-span") as shot:
        page.goto(f"{ui_server.url}/trace?trace_id={seeded_stack.incident_trace_id}&span_id={'0' * 16}")
        expect(page.get_by_text(f"There is no span {'0' * 16} in this trace"), f"screenshot: {shot}").to_be_visible()


def test_traceback_names_the_decider_and_the_checkpoint_in_its_own_words(page, ui_server, seeded_stack, tmp_path):
    spans = _incident_spans(seeded_stack)
    refund = next(s for s in spans if s["span_name"] == "execute_tool issue_refund")
    deciding = next(s for s in spans if s["span_id"] == refund["span_attributes"]["flightlog.decided_by.span_id"])
    with screenshot(page, tmp_path, "traceback-evidence") as shot:
        page.goto(f"{ui_server.url}/traceback?trace_id={seeded_stack.incident_trace_id}&span_id={refund['span_id']}")
        expect(page.get_by_role("heading", name="Why it went through"), f"screenshot: {shot}").to_be_visible()
        wait_idle(page)
        said = page.get_by_text("The checkpoint said", exact=True).locator("xpath=following::code[1]")
        did = page.get_by_text("The step did", exact=True).locator("xpath=following::code[1]")
        expect(said, f"screenshot: {shot}").to_contain_text("$49.50")
        expect(did, f"screenshot: {shot}").to_contain_text('"amount": 4950')
        evidence = page.locator(".st-key-traceback-evidence")
        expect(evidence, f"screenshot: {shot}").to_contain_text(deciding["span_name"])
        expect(evidence, f"screenshot: {shot}").to_contain_text(f"{demo.INCIDENT_PROMPT_ID}@{demo.INCIDENT_PROMPT_VERSION}")
        expect(evidence, f"screenshot: {shot}").to_contain_text("checkpoint issue_refund")
        for label in ("Include failed runs", "Export Markdown", "Export JSON"):
            element = page.get_by_text(label, exact=True).first
            assert element.evaluate("e => e.scrollWidth <= e.clientWidth"), f"{label!r} is cut; screenshot: {shot}"
    with screenshot(page, tmp_path, "traceback-differences") as shot:
        first = page.locator('.st-key-traceback-differences [data-testid="stHorizontalBlock"]').nth(1)
        first.scroll_into_view_if_needed()
        expect(first, f"screenshot: {shot}").to_contain_text("input amount")
        expect(first, f"screenshot: {shot}").to_contain_text("4950")
        diff = page.locator("code", has_text=f"+++ {demo.INCIDENT_PROMPT_ID}@{demo.INCIDENT_PROMPT_VERSION}")
        expect(diff, f"screenshot: {shot}").to_contain_text(f"--- {demo.INCIDENT_PROMPT_ID}@v6")
        diff.scroll_into_view_if_needed()
        assert "+" in diff.inner_text() and "minor units" in diff.inner_text(), f"screenshot: {shot}"


def _admin(stack, method: str, path: str, body=None, **params):
    resp = httpx.request(method, stack.api_url + path, json=body, params=params, timeout=60,
                         headers={"Authorization": f"Bearer {stack.collector.admin_key}"})
    assert resp.status_code == 200, f"{path}: {resp.status_code} {resp.text}"
    return resp.json()


def test_a_named_reviewer_scores_a_run_and_the_trend_by_prompt_version_draws(page, ui_server, seeded_stack,
                                                                              tmp_path):
    spans = _incident_spans(seeded_stack)
    day = spans[0]["timestamp"][:10]
    _admin(seeded_stack, "PUT", "/api/admin/reviews/settings", {"agent": demo.INCIDENT_AGENT, "rate": 1.0})
    _admin(seeded_stack, "POST", "/api/admin/reviews/sample", day=day)
    reviewer = new_key(seeded_stack.api_url, seeded_stack.collector.admin_key, "engineer", "Rita Reviewer")
    with screenshot(page, tmp_path, "reviews-form") as shot:
        page.goto(ui_server.url + "/reviews")
        expect(page.get_by_role("heading", name=re.compile(r"Waiting for review \(\d+\)")),
               f"screenshot: {shot}").to_be_visible()
        expect(page.get_by_role("button", name="Save score"), f"screenshot: {shot}").to_be_disabled()
        box = page.get_by_label("Your key", exact=True)
        box.fill(reviewer)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_text("Signed in as Rita Reviewer"), f"screenshot: {shot}").to_be_visible()
        wait_idle(page)
        run = page.get_by_label("Run to score")
        run.click()
        page.get_by_role("option", name=re.compile(demo.INCIDENT_TRACE_ID[:12])).click()
        wait_idle(page)
        expect(page.get_by_text("The user asked"), f"screenshot: {shot}").to_be_visible()
        expect(page.get_by_role("link", name="Open the whole run"), f"screenshot: {shot}").to_be_visible()
        asked = page.get_by_text("The user asked").locator("xpath=following::code[1]")
        expect(asked, f"screenshot: {shot}").to_contain_text(spans[0]["input_text"][:40])
        page.get_by_role("button", name="Save score").click()
        expect(page.get_by_text("Saved as Rita Reviewer"), f"screenshot: {shot}").to_be_visible()
    scores = httpx.get(seeded_stack.api_url + "/api/audit/reviews/scores", params={"trace_id": demo.INCIDENT_TRACE_ID},
                       headers={"Authorization": f"Bearer {seeded_stack.read_key}"}, timeout=30).json()["scores"]
    whoami = httpx.get(seeded_stack.api_url + "/api/whoami", headers={"Authorization": f"Bearer {reviewer}"},
                       timeout=30).json()
    assert [s["reviewer"] for s in scores] == [whoami["key_id"]], "the score is the reviewer's, not the UI key's"
    assert f"{demo.INCIDENT_PROMPT_ID}@{demo.INCIDENT_PROMPT_VERSION}" in scores[0]["prompt_version"]
    with screenshot(page, tmp_path, "reviews-trend-by-prompt") as shot:
        page.get_by_text("prompt version", exact=True).click()
        wait_idle(page)
        assert page.locator('[data-testid="stException"]').count() == 0, f"a traceback is shown; screenshot: {shot}"
        expect(page.locator('[data-testid="stVegaLiteChart"]').first, f"screenshot: {shot}").to_be_visible()
