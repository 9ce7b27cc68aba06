"""Helpers of the browser tests (real headless Chromium through Playwright): the launch
arguments, screenshots that failures name, Streamlit's "done running" and what a grid draws.

st.dataframe draws its cells on a canvas; glide-data-grid keeps an accessibility table beside
it with a header cell for each column it draws, and it draws only the columns inside the
grid's visible width. So the headers listed there are the columns a person sees without
scrolling sideways.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
WAIT_MS = 30_000


@contextlib.contextmanager
def screenshot(page: Any, tmp_path: Path, name: str) -> Iterator[Path]:
    """Screenshot the page when the block ends (pass or fail); failures name the file."""
    path = tmp_path / f"{name}.png"
    try:
        yield path
    except AssertionError as exc:
        page.screenshot(path=str(path), full_page=True)
        raise AssertionError(f"{exc}\nscreenshot: {path}") from exc
    page.screenshot(path=str(path), full_page=True)


def wait_idle(page: Any, timeout_ms: int = WAIT_MS) -> None:
    """Wait until Streamlit has finished the script run (no running indicator, no spinner)."""
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"stApp\"]')?.dataset.testScriptState === 'notRunning'"
        " && !document.querySelector('[data-testid=\"stSpinner\"]')",
        timeout=timeout_ms,
    )


def drawn_columns(grid: Any) -> list[str]:
    """The header texts of the columns the grid draws (those within its visible width)."""
    return [str(t).strip() for t in grid.locator("th[role=columnheader]").all_text_contents()]


def assert_columns_fit(grid: Any, what: str) -> None:
    """No column runs past the grid's right edge: the grid's content is no wider than what it
    shows (a column cut off makes it scroll sideways)."""
    content, shown = grid.locator(".dvn-scroller").evaluate("s => [s.scrollWidth, s.clientWidth]")
    assert content <= shown, f"the columns are {content} px wide in a {shown} px grid: the last ones are cut off; {what}"


GRID_FONT = '14px "Source Sans", sans-serif'  # what Streamlit's data grid draws its cells in
GRID_CELL_PADDING_PX = 16  # 8 px either side of a cell's text


def assert_texts_fit(grid: Any, widths: dict[str, int], what: str) -> None:
    """Every drawn cell of the text columns named in ``widths`` (header label → the column's
    configured width in px) fits its column: none is cut at the column's edge. The grid draws
    on a canvas, so each text is measured in the page with the grid's font."""
    columns = drawn_columns(grid)
    for label, width in widths.items():
        texts = grid_cells(grid, columns.index(label))
        assert texts, f"no cells in column {label!r}; {what}"
        measured = grid.page.evaluate(
            "async ([font, texts]) => { await document.fonts.ready;"
            " const c = document.createElement('canvas').getContext('2d'); c.font = font;"
            " return texts.map(t => c.measureText(t).width); }", [GRID_FONT, texts])
        widest = max(zip(measured, texts, strict=True))
        assert widest[0] + GRID_CELL_PADDING_PX <= width, (
            f"{widest[1]!r} needs {widest[0] + GRID_CELL_PADDING_PX:.0f} px in the {width} px column {label!r}: "
            f"it is cut off; {what}")


def grid_cells(grid: Any, column: int) -> list[str]:
    """The drawn texts of one column (0-based among the drawn columns) of a grid's rows."""
    return grid.evaluate(
        "(g, c) => [...g.querySelectorAll('tr')].slice(1).map(r => r.querySelectorAll('td')[c]?.textContent ?? '')",
        column,
    )



VEGA_MARKS = '[data-testid="stVegaLiteChart"] svg .role-mark path'
"""The drawn marks (bars, lines, points) of Streamlit's Vega-Lite charts: SVG paths, each with
an ``aria-label`` that names its data (``"lane: 00005 ▶ ├─ execute_tool issue_refund; …"``)."""
