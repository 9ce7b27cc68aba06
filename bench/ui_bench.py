"""UI benchmark: cold page loads in a real headless Chromium, Flightlog's pages against a bare
Streamlit page (docs/performance-ui.md).

    python bench/ui_bench.py --repeat 3 [--write-docs]
    python bench/ui_bench.py --repeat 3 --spans 200000 --factor 5   # on a 1M-span store as well

A collector is started on a fresh data directory and loaded with the demo data (over OTLP/HTTP,
like ``flightlog up --demo``); Streamlit serves the Flightlog UI and, on another port, a
hello-world page (a title and a line of text). Each page is loaded ``--repeat`` times, each in
a new browser context (no cache, no session), and timed from navigation until Streamlit is
idle with the page's content on screen: the page's title drawn, its main content element
(grid, chart, …) visible, no script running and no spinner. Every page load is paired with a
load of the bare page right before it, so the machine's drift moves both alike. Printed: the
median and the worst of each, and the median of each page's loads minus their bare loads.

With ``--spans N``, the store is first filled with N generated spans (bench/generator.py, fixed
seed, 14 days ending 2026-11-01) copied ``--factor`` times (bench/storage_bench.py), then the
demo data is sent on top as usual: the same pages, read from a large store.
"""
from __future__ import annotations

import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import click
import httpx

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "performance-ui.md"
START, END = "<!-- ui-bench:start -->", "<!-- ui-bench:end -->"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
HELLO = 'import streamlit as st\nst.title("Hello")\nst.write("A bare Streamlit page.")\n'
VEGA_DRAWN = "[data-testid=\"stVegaLiteChart\"] svg .role-mark path"  # a Vega-Lite chart's marks drawn
INCIDENT_TRACE = "6e2b9c4f1a8d4d07b3e5f0c288123f49"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


def _fill(data_dir: Path, spans: int, factor: int) -> None:
    """Generated spans straight into the store the collector will open (``<data dir>/store``)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from storage_bench import replicate
    from trace_list_bench import _load

    from flightlog.storage import open_store

    t0 = time.perf_counter()
    store = open_store(f"chdb://{data_dir / 'store'}")
    try:
        _load(store, spans, seed=7)
        if factor > 1:
            replicate(store, spans, factor)
        rows = store.query_rows("SELECT count() FROM spans")[0][0]
    finally:
        store.close()
    click.echo(f"store filled with {rows:,} generated spans in {time.perf_counter() - t0:.0f} s", err=True)


def _collector(data_dir: Path) -> tuple[subprocess.Popen, str, dict[str, str]]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "flightlog.collector.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--data-dir", str(data_dir), "--grpc-port", "0"],
        stdout=(data_dir / "collector.log").open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    _wait(lambda: httpx.get(url + "/healthz", timeout=2).status_code == 200, 120, "the collector")
    _wait(lambda: (data_dir / "dev-keys.json").exists(), 60, "the first keys")
    keys = json.loads((data_dir / "dev-keys.json").read_text())
    from flightlog.collector import demo

    for request in demo.build_demo_requests():
        resp = httpx.post(url + "/v1/traces", content=request.SerializeToString(), timeout=60,
                          headers={"Content-Type": "application/x-protobuf", "x-api-key": keys["ingest_key"]})
        resp.raise_for_status()
    auth = {"Authorization": f"Bearer {keys['read_key']}"}
    _wait(lambda: httpx.get(f"{url}/api/traces/{INCIDENT_TRACE}", headers=auth, timeout=10).status_code == 200,
          120, "the demo to be stored")
    return proc, url, keys


def _streamlit(app: Path, port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(app), "--server.address", "127.0.0.1", "--server.port",
         str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none", "--client.toolbarMode", "viewer"],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    _wait(lambda: httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).status_code == 200, 120,
          f"streamlit {app.name}")
    return proc


def _new_context(browser):
    """A browser context of its own (its own cache, cookies and storage) at the measured size."""
    return browser.new_context(viewport={"width": 1400, "height": 900})


def _load_ms(browser, url: str, content: str, context=None) -> float:
    """One load until idle with ``content`` visible.

    Without ``context`` the load is cold: a new browser context, so no cached script or style.
    With one, a new tab of that context: a new Streamlit session, but the browser's cache holds
    what earlier loads in the context fetched (a returning user's browser).
    """
    own = context is None
    if own:
        context = _new_context(browser)
    page = context.new_page()
    try:
        t0 = time.perf_counter()
        page.goto(url)
        page.locator("h1").first.wait_for(state="visible", timeout=60_000)
        # the first *visible* match: a zero-height bar (a day without cost) is drawn but hidden
        page.locator(content).locator("visible=true").first.wait_for(state="visible", timeout=60_000)
        page.wait_for_function(
            "() => document.querySelector('[data-testid=\"stApp\"]')?.dataset.testScriptState === 'notRunning'"
            " && !document.querySelector('[data-testid=\"stSpinner\"]')", timeout=60_000)
        return (time.perf_counter() - t0) * 1000
    finally:
        page.close()
        if own:
            context.close()


def machine() -> str:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from collector_process import cpu_model

    import os

    return f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}"


@click.command()
@click.option("--repeat", default=3, show_default=True, help="cold loads per page")
@click.option("--write-docs", is_flag=True, help=f"write the table into {DOCS.relative_to(ROOT)}")
@click.option("--spans", default=0, show_default=True, help="generated spans put in the store first (0: demo only)")
@click.option("--factor", default=1, show_default=True, help="copies of the generated spans (spans × factor rows)")
@click.option("--browser-cache", type=click.Choice(["cold", "warm", "both"]), default="cold", show_default=True,
              help="cold: every load in a new browser context; warm: new tabs of a context that loaded the page "
                   "once (a returning user's browser cache, a new Streamlit session each); both: a table each")
def main(repeat: int, write_docs: bool, spans: int, factor: int, browser_cache: str) -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="flightlog-ui-bench-") as tmp:
        tmpdir = Path(tmp)
        if spans:
            _fill(tmpdir, spans, factor)
        collector, url, keys = _collector(tmpdir)
        env = {**__import__("os").environ, "FLIGHTLOG_API_URL": url, "FLIGHTLOG_API_KEY": keys["read_key"],
               "HOME": str(tmpdir)}
        hello = tmpdir / "hello.py"
        hello.write_text(HELLO)
        ui_port, hello_port = _free_port(), _free_port()
        procs = [collector,
                 _streamlit(ROOT / "ui" / "app.py", ui_port, env, tmpdir / "ui.log"),
                 _streamlit(hello, hello_port, env, tmpdir / "hello.log")]
        incident = httpx.get(f"{url}/api/traces/{INCIDENT_TRACE}", timeout=30,
                             headers={"Authorization": f"Bearer {keys['read_key']}"}).json()["spans"]
        refund = next(s["span_id"] for s in incident if s["span_name"] == "execute_tool issue_refund")
        ui = f"http://127.0.0.1:{ui_port}"
        pages = {
            "bare Streamlit page": (f"http://127.0.0.1:{hello_port}/", "text=A bare Streamlit page."),
            "Traces": (f"{ui}/", '[data-testid="stDataFrame"] canvas'),
            "Search": (f"{ui}/search?q=refund", '[data-testid="stDataFrame"] canvas'),
            "Trace": (f"{ui}/trace?trace_id={INCIDENT_TRACE}&span_id={refund}", VEGA_DRAWN),
            "Monitoring": (f"{ui}/monitoring", VEGA_DRAWN),
            "Cost": (f"{ui}/cost", VEGA_DRAWN),
            "Trace-back": (f"{ui}/traceback?trace_id={INCIDENT_TRACE}&span_id={refund}", '.st-key-traceback-evidence'),
        }
        modes = ["cold", "warm"] if browser_cache == "both" else [browser_cache]
        runs: dict[str, dict[str, list[float]]] = {mode: {"bare Streamlit page": []} for mode in modes}
        # each page load minus the bare page's load right before it: the machine's drift
        # (another process, a warmer CPU) moves both alike, so the difference is steadier
        paired: dict[str, dict[str, list[float]]] = {mode: {} for mode in modes}
        bare_url, bare_content = pages.pop("bare Streamlit page")
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                bare_contexts = {mode: _new_context(browser) if mode == "warm" else None for mode in modes}
                for context in bare_contexts.values():
                    _load_ms(browser, bare_url, bare_content, context)
                for name, (page_url, content) in pages.items():
                    for mode in modes:
                        context = _new_context(browser) if mode == "warm" else None
                        # the warm-up load: the server's imports and first queries (and, warm, the cache)
                        _load_ms(browser, page_url, content, context)
                        runs[mode][name], paired[mode][name] = [], []
                        for _ in range(repeat):
                            bare = _load_ms(browser, bare_url, bare_content, bare_contexts[mode])
                            took = _load_ms(browser, page_url, content, context)
                            runs[mode]["bare Streamlit page"].append(bare)
                            runs[mode][name].append(took)
                            paired[mode][name].append(took - bare)
                        if context is not None:
                            context.close()
                        click.echo(f"{name} ({mode}): {[round(t) for t in runs[mode][name]]} ms, "
                                   f"minus the bare page before each: {[round(t) for t in paired[mode][name]]}",
                                   err=True)
                for context in bare_contexts.values():
                    if context is not None:
                        context.close()
                browser.close()
        finally:
            for proc in procs:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    data = f"{spans * factor:,} generated spans plus the demo data" if spans else "demo data"
    load = ", ".join(f"{x:.1f}" for x in __import__("os").getloadavg())
    how = {"cold": "cold loads (new browser context each)",
           "warm": "loads in new tabs of a browser context that had loaded the page once (its cache warm, a new "
                   "Streamlit session each)"}
    tables = []
    for mode, results in runs.items():
        lines = [f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {machine()} (load average {load} at "
                 f"the end); median of {repeat} {how[mode]} at 1400×900 after one warm-up load, {data}; "
                 "each page load is paired with a load of the bare page right before it.", "",
                 "| page | median ms | worst ms | median of (page − bare page before it) |", "|---|---:|---:|---:|"]
        for name, times in results.items():
            diff = "—" if name.startswith("bare") else f"{statistics.median(paired[mode][name]):+.0f}"
            lines.append(f"| {name} | {statistics.median(times):.0f} | {max(times):.0f} | {diff} |")
        tables.append("\n".join(lines))
    table = "\n\n".join(tables)
    click.echo(table)
    if write_docs:
        text = DOCS.read_text()
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        DOCS.write_text(f"{head}{START}\n{table}\n{END}{tail}")


if __name__ == "__main__":
    main()
