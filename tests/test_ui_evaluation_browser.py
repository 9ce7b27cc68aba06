"""The evaluation pages in a real headless Chromium against a real Streamlit and collector: the
Datasets page (items of a version, exports), the Compare page (prompt v6 against v7: the
regression first, with the output diff) and "Add to dataset" on the Trace page, which acts with
the signed-in person's own key (an engineer's item is recorded as theirs; an auditor may not).

Experiments are made by ``flightlog.evaluate`` running a real task (tests/support/eval_tasks.py).
Every test saves screenshots under its ``tmp_path``.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

import flightlog
from conftest import RunningCollector, start_collector, start_ui, wait_until
from support import control_ui as cu
from support import eval_tasks
from support.browser import drawn_columns, grid_cells
from test_ui_control_browser import browser, page, dialogs, screenshot, settled, sign_in  # noqa: F401

pytestmark = pytest.mark.browser

from playwright import sync_api  # installed by scripts/install-test-deps.sh: a missing one fails, never skips

expect = sync_api.expect
expect.set_options(timeout=30_000)  # a shared 2-core machine: the first run of a page can take seconds
DATASET = "ui-refunds"


@dataclass
class Stack:
    collector: RunningCollector
    ui_url: str
    run: cu.Run
    engineer: str
    auditor: str
    v6: str
    v7: str

    def api(self, method: str, path: str, **kw: Any) -> Any:
        resp = httpx.request(method, self.collector.url + path, timeout=60,
                             headers={"Authorization": f"Bearer {self.collector.admin_key}"}, **kw)
        assert resp.status_code < 300, resp.text
        return resp.json()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    collector = start_collector(tmp_path_factory.mktemp("eval-ui-collector"))
    try:
        url, admin = collector.url, collector.admin_key
        resp = httpx.post(f"{url}/api/evaluation/rules", timeout=30, headers={"Authorization": f"Bearer {admin}"},
                          json={"agent": cu.AGENT, "evaluator": "contains:refund", "sample_rate": 1.0})
        assert resp.status_code == 200, resp.text
        run = cu.send_run(url, collector.ingest_key)
        collector.wait_for_trace(run.trace_id, 4)
        stack = Stack(collector, "", run, cu.new_key(url, admin, "engineer", "Eve Engineer"),
                      cu.new_key(url, admin, "auditor", "Aud Itor"), "", "")
        stack.api("POST", "/api/datasets", json={"name": DATASET, "description": "amounts"})
        stack.api("POST", f"/api/datasets/{DATASET}/items", json={"items": [
            {"input": {"order_id": "A1", "price": 49.5}, "expected": {"amount": 49.5}},
            {"input": {"order_id": "A2", "price": 12.0}, "expected": {"amount": 12.0}}]})
        ids = []
        for task, name in ((eval_tasks.refund_bot, "prompt v6"), (eval_tasks.refund_bot_v7, "prompt v7")):
            report = flightlog.evaluate(DATASET, task, ["field_equals:amount", "tool_called:issue_refund"], url=url,
                                        key=admin, name=name, progress=False, concurrency=1)
            ids.append(report.experiment_id)
        stack.v6, stack.v7 = ids
        with start_ui(url, collector.read_key, tmp_path_factory.mktemp("eval-ui")) as ui:
            stack.ui_url = ui.url
            yield stack
            log = ui.log()
        assert stack.engineer not in log and stack.auditor not in log, "a person's key reached the UI's log"
    finally:
        collector.stop()


def test_datasets_page_shows_a_version_and_exports_it(page, stack: Stack, tmp_path: Path) -> None:  # noqa: F811
    with screenshot(page, tmp_path, "datasets"):
        page.goto(f"{stack.ui_url}/datasets?dataset={DATASET}&version=1")
        expect(page.get_by_role("heading", name="Items of version 1")).to_be_visible()
        settled(page)
        with page.expect_download() as download:
            page.get_by_role("button", name="Export JSONL").click()
        text = Path(download.value.path()).read_text()
        assert [line for line in text.splitlines() if line] and '"order_id": "A1"' in text and "A2" not in text
        assert download.value.suggested_filename == f"{DATASET}-v1.jsonl"
        expect(page.get_by_role("heading", name="Experiments on this dataset")).to_be_visible()
        expect(page.get_by_role("link", name="Compare the latest two")).to_be_visible()


def test_compare_page_puts_the_regression_first_with_its_diff(page, stack: Stack, tmp_path: Path) -> None:  # noqa: F811
    with screenshot(page, tmp_path, "compare"):
        page.goto(f"{stack.ui_url}/compare?ids={stack.v6},{stack.v7}")
        expect(page.get_by_role("heading", name="Items: 2 regressed")).to_be_visible()
        settled(page)
        first = page.locator('[data-testid="stExpander"]').first
        expect(first).to_contain_text("Item 1: output diff")
        expect(first).to_contain_text('"amount": 4950')
        expect(first).to_contain_text('"amount": 49.5')
        expect(page.get_by_text("#1 against the baseline").first).to_be_visible()


def test_monitoring_shows_online_scores_per_agent_version(page, stack: Stack, tmp_path: Path) -> None:  # noqa: F811
    wait_until(lambda: stack.api("GET", "/api/evaluation/summary")["rows"], timeout=60, what="the run's online score")
    page.goto(f"{stack.ui_url}/monitoring?range=24h&by=agent_version")
    heading = page.get_by_role("heading", name="Evaluation scores by Agent version")
    shot = tmp_path / "monitoring-scores.png"
    try:  # a viewport shot at the section: the page's many charts make a whole-page shot slow
        expect(heading).to_be_visible()
        settled(page)
        expect(page.get_by_text("No scores of live runs")).to_have_count(0)
        expect(page.locator('[data-testid="stDataFrame"]').last).to_be_visible()
    finally:
        heading.scroll_into_view_if_needed()
        page.screenshot(path=str(shot))
    # The page's filters go to the scores too (tests/test_online_eval.py: they narrow them):
    # the scored run's own version keeps its score.
    page.goto(f"{stack.ui_url}/monitoring?range=24h&by=agent_version&agent_version={cu.VERSION}")
    with screenshot(page, tmp_path, "monitoring-scores-filtered"):
        expect(heading).to_be_visible()
        settled(page)
        expect(page.get_by_text("No scores of live runs")).to_have_count(0)


def _expander(page) -> Any:  # noqa: F811
    """The Add to dataset expander of the selected span, opened (its form is built only when it
    is open, so look at it once the page's run is over: a click while it opens would close it)."""
    settled(page)
    expander = page.locator('[data-testid="stExpander"]').filter(has_text="Add to dataset")
    details = expander.locator("details")
    if details.count() and details.first.get_attribute("open") is None:
        expander.get_by_text("Add to dataset").first.click()
    return expander


def test_add_to_dataset_acts_with_the_signed_in_persons_key(page, stack: Stack, tmp_path: Path) -> None:  # noqa: F811
    """Sign-ins last as long as the browser session: everything happens on one loaded page."""
    before = stack.api("GET", f"/api/datasets/{DATASET}")["version"]
    with screenshot(page, tmp_path, "add-to-dataset-signed-out"):
        page.goto(f"{stack.ui_url}/trace?trace_id={stack.run.trace_id}")
        expect(page.get_by_role("heading", name="Selected span")).to_be_visible()
        settled(page)
        expect(_expander(page)).to_contain_text("Sign in with your own engineer or admin key")
    with screenshot(page, tmp_path, "add-to-dataset-auditor"):
        sign_in(page, stack.auditor, "Aud Itor")
        expect(_expander(page)).to_contain_text("needs an engineer or admin key")
        page.get_by_role("button", name="Sign out").click()
        settled(page)
    with screenshot(page, tmp_path, "add-to-dataset-engineer"):
        sign_in(page, stack.engineer, "Eve Engineer")
        expander = _expander(page)
        expander.get_by_label("Note (kept in the item's metadata)").fill("refund in cents")
        expander.get_by_role("button", name="Add to dataset").click()
        expect(page.get_by_text(re.compile(rf"^Added to {DATASET} as item [0-9a-f]{{20}} \(version {before + 1}\)"))
               ).to_be_visible()
    items = stack.api("GET", f"/api/datasets/{DATASET}/items")["items"]
    added = items[-1]
    assert len(items) == before + 1
    assert (added["created_by"], added["source_trace_id"], added["metadata"]["note"]) == \
        ("Eve Engineer", stack.run.trace_id, "refund in cents")
    assert added["input"] == cu.USER_ASK  # the selected span is the run: its input
    assert stack.engineer not in page.url


# st.dataframe draws on a canvas: a row's selection box sits this far into the grid.
GRID_HEADER_PX, GRID_ROW_PX, GRID_CHECKBOX_X_PX = 35, 35, 16


def _offers_our_dataset(page, expander) -> None:  # noqa: F811
    """The form offers the module's dataset (the only one until the last test makes another)."""
    expect(expander.get_by_role("combobox", name="Dataset")).to_have_value(DATASET)


def _items_since(stack: Stack, before: int) -> list[dict[str, Any]]:
    items = stack.api("GET", f"/api/datasets/{DATASET}/items")["items"]
    return items[before:]


def test_add_to_dataset_on_the_traceback_page_takes_the_traced_step(page, stack: Stack,  # noqa: F811
                                                                    tmp_path: Path) -> None:
    before = stack.api("GET", f"/api/datasets/{DATASET}")["version"]
    shot = tmp_path / "traceback-add-to-dataset.png"
    try:  # a viewport shot at the form: the page's many tables make a whole-page shot slow
        page.goto(f"{stack.ui_url}/traceback?trace_id={stack.run.trace_id}&span_id={stack.run.llm_span_id}")
        expect(page.get_by_role("heading", name="The step")).to_be_visible()
        settled(page)
        expect(_expander(page)).to_contain_text("Sign in with your own engineer or admin key")
        sign_in(page, stack.engineer, "Eve Engineer")
        expander = _expander(page)
        expect(expander).to_contain_text(stack.run.llm_span_id)
        _offers_our_dataset(page, expander)
        expander.get_by_role("button", name="Add to dataset").click()
        expect(page.get_by_text(re.compile(rf"^Added to {DATASET} as item [0-9a-f]{{20}} \(version {before + 1}\)"))
               ).to_be_visible()
    finally:
        page.screenshot(path=str(shot))
    page.get_by_role("button", name="Sign out").click()
    settled(page)
    (added,) = _items_since(stack, before)
    assert (added["created_by"], added["source_trace_id"], added["source_span_id"]) == \
        ("Eve Engineer", stack.run.trace_id, stack.run.llm_span_id)
    assert added["expected"] == cu.LLM_ANSWER  # the LLM call's answer, without its "assistant: " line prefix


def test_search_results_picked_for_a_dataset_become_items(page, stack: Stack, tmp_path: Path) -> None:  # noqa: F811
    before = stack.api("GET", f"/api/datasets/{DATASET}")["version"]
    with screenshot(page, tmp_path, "search-pick"):
        page.goto(f"{stack.ui_url}/search?agent={cu.AGENT}&range=all&sort=time&order=asc")
        expect(page.get_by_text(re.compile(r"matching spans"))).to_be_visible()
        settled(page)
        sign_in(page, stack.engineer, "Eve Engineer")
        page.get_by_text("Pick rows for a dataset").click()
        expect(_expander(page)).to_contain_text("Select one or more rows first.")  # the table is drawn anew
        settled(page)
        grid = page.locator('[data-testid="stDataFrame"]').first
        expect(grid).to_be_visible()
        columns = wait_until(lambda: "name" in drawn_columns(grid) and drawn_columns(grid), timeout=30,
                             what="the results grid's columns")  # the grid is drawn anew with row boxes
        names = grid_cells(grid, columns.index("name"))[:2]
        assert names == ["invoke_agent refund-bot", "chat gpt-4o"]  # oldest first: the run, then its LLM call
        box = grid.bounding_box()
        expander = _expander(page)
        for row, shown in ((0, f"span {names[0]} ("), (1, "2 spans: ")):
            page.mouse.click(box["x"] + GRID_CHECKBOX_X_PX, box["y"] + GRID_HEADER_PX + GRID_ROW_PX * (row + 0.5))
            settled(page)
            expect(expander).to_contain_text(shown)
        expect(expander).to_contain_text("2 spans: each one's input becomes an item's input")
        assert "/trace" not in page.url  # picking rows does not open their trace
        _offers_our_dataset(page, expander)
        note = expander.get_by_label("Note (kept in the item's metadata)")
        # Each selection has its own form: the one-span form stays on screen until the run that
        # draws the two-span form ends, and a note typed into it would be lost.
        expect(note).to_have_count(1)
        settled(page)
        note.fill("picked in search")
        settled(page)
        expect(note).to_have_value("picked in search")  # not wiped by a run still under way
        expander.get_by_role("button", name="Add to dataset").click()
        expect(page.get_by_text(re.compile(rf"^Added 2 items to {DATASET} \(version {before + 2}\)"))).to_be_visible()
        expect(_expander(page)).to_contain_text("Select one or more rows first.")  # the picked rows are cleared
    page.get_by_role("button", name="Sign out").click()
    settled(page)
    added = _items_since(stack, before)
    assert [a["metadata"]["span_name"] for a in added] == names
    assert {a["source_trace_id"] for a in added} == {stack.run.trace_id}
    assert len({a["source_span_id"] for a in added}) == 2
    assert all(a["created_by"] == "Eve Engineer" and a["metadata"]["note"] == "picked in search" for a in added)


def test_compare_page_splits_the_scores_by_agent_version_prompt_version_and_model(page, stack: Stack,  # noqa: F811
                                                                                  tmp_path: Path) -> None:
    heading = "Mean score per evaluator by agent version, prompt version or model"

    def table() -> dict[tuple[str, str], str]:
        grid = page.locator('[data-testid="stDataFrame"]').last
        expect(grid).to_be_visible()
        grid.scroll_into_view_if_needed()  # the grid draws its cells (and their text) once on screen
        columns = wait_until(lambda: "mean score" in drawn_columns(grid) and drawn_columns(grid), timeout=30,
                             what="the grouped table's columns")
        group = columns[0]
        cells = {c: grid_cells(grid, columns.index(c)) for c in (group, "evaluator", "mean score")}
        return {(g, e): m for g, e, m in zip(cells[group], cells["evaluator"], cells["mean score"], strict=True)}

    with screenshot(page, tmp_path, "compare-by-agent-version"):
        page.goto(f"{stack.ui_url}/compare?ids={stack.v6},{stack.v7}")
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
        settled(page)
        by_version = table()
        assert float(by_version[("2.2.0", "field_equals")]) == 1.0
        assert float(by_version[("2.3.0", "field_equals")]) == 0.0
    with screenshot(page, tmp_path, "compare-by-prompt-version"):
        page.get_by_text("Prompt version", exact=True).click()
        expect(page).to_have_url(re.compile(r"by=prompt_version"))
        settled(page)
        expect(page.locator('[data-testid="stDataFrame"]').last.locator("th[role=columnheader]").first
               ).to_have_text("Prompt version")
        by_prompt = table()
        assert (float(by_prompt[("v6", "field_equals")]), float(by_prompt[("v7", "field_equals")])) == (1.0, 0.0)
        assert float(by_prompt[("v7", "tool_called")]) == 1.0  # v7 still calls the refund tool
    with screenshot(page, tmp_path, "compare-by-model"):
        page.goto(f"{stack.ui_url}/compare?ids={stack.v6},{stack.v7}&by=model")
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
        settled(page)
        assert float(table()[("gpt-4o-mini", "field_equals")]) == 0.5
        page.get_by_role("heading", name=heading).scroll_into_view_if_needed()


def test_a_dataset_is_created_on_the_datasets_page_as_the_signed_in_person(page, stack: Stack,  # noqa: F811
                                                                         tmp_path: Path) -> None:
    with screenshot(page, tmp_path, "new-dataset-signed-out"):
        page.goto(f"{stack.ui_url}/datasets")
        expect(page.get_by_role("heading", name="Datasets")).to_be_visible()
        settled(page)
        page.get_by_text("New dataset").first.click()
        expect(page.get_by_text("Sign in with your own engineer or admin key (sidebar) to create a dataset")
               ).to_be_visible()
    with screenshot(page, tmp_path, "new-dataset-created"):
        sign_in(page, stack.engineer, "Eve Engineer")
        form = page.locator('[data-testid="stForm"]').filter(has=page.get_by_role("button", name="Create dataset"))
        form.get_by_label("Name", exact=True).fill("made-in-the-ui")
        form.get_by_label("Description", exact=True).fill("refunds <b>not bold</b>")
        form.get_by_role("button", name="Create dataset").click()
        expect(page.get_by_text("Created dataset made-in-the-ui (by Eve Engineer).")).to_be_visible()
        settled(page)
        expect(page).to_have_url(re.compile(r"dataset=made-in-the-ui"))
        expect(page.get_by_role("heading", name="Items of version 0")).to_be_visible()
    made = stack.api("GET", "/api/datasets/made-in-the-ui")
    assert (made["created_by"], made["description"], made["items"]) == ("Eve Engineer", "refunds <b>not bold</b>", 0)
    with screenshot(page, tmp_path, "new-dataset-duplicate"):
        form = page.locator('[data-testid="stForm"]').filter(has=page.get_by_role("button", name="Create dataset"))
        form.get_by_label("Name", exact=True).fill("made-in-the-ui")
        form.get_by_role("button", name="Create dataset").click()
        expect(page.get_by_text("The dataset could not be created.")).to_be_visible()
        expect(page.get_by_text(re.compile("already exists"))).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    settled(page)
