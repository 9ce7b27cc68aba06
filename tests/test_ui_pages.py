"""Tests for the UI's pages (ui/app.py and ui/views/*), run with Streamlit's AppTest against
the real collector with seeded data (``seeded_stack``)."""
from __future__ import annotations

import socket
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from flightlog.ui import format as fmt
from flightlog.ui.client import ApiClient
from flightlog.ui.filters import SearchFilters
from support.apptest import text_rows

APP = str(Path(__file__).resolve().parents[1] / "ui" / "app.py")
MARKER = "<script>alert(1)</script>"
UNKNOWN_TRACE = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
TIMEOUT = 30


@pytest.fixture
def collector_env(seeded_stack, monkeypatch):
    monkeypatch.setenv("FLIGHTLOG_API_URL", seeded_stack.api_url)
    monkeypatch.setenv("FLIGHTLOG_API_KEY", seeded_stack.read_key)
    return seeded_stack


@pytest.fixture(scope="module")
def api(seeded_stack):
    with ApiClient(seeded_stack.api_url, seeded_stack.read_key) as client:
        yield client


@pytest.fixture(scope="module")
def marked_span(api, seeded_stack):
    """The seeded llm span whose text holds the HTML marker."""
    spans = api.get_trace(seeded_stack.trace_id).spans
    return next(s for s in spans if MARKER in (s.get("input_text") or "") + (s.get("output_text") or ""))


def _app(**query_params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update(query_params)
    return at


def _search(**query_params: str) -> AppTest:
    """The app at the Search page (the landing page is Traces), not yet run."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.switch_page("views/search.py")
    at.query_params.clear()
    at.query_params.update(query_params)
    return at


def _open(at: AppTest, page: str, **query_params: str) -> AppTest:
    at.switch_page(page)
    at.query_params.clear()
    at.query_params.update(query_params)
    return at.run()


def _texts(elements) -> list[str]:
    return [str(e.value) for e in elements]


def _plotly_charts(at: AppTest) -> list:
    return list(at.get("plotly_chart"))


def _vega_charts(at: AppTest) -> list:
    return list(at.get("vega_lite_chart"))


def _said(at: AppTest) -> str:
    """What the page told its user instead (errors, warnings and the server's message), for a
    failed assertion: a page that stops early says why."""
    return "; ".join(_texts(at.error) + _texts(at.warning) + _texts(at.code)) or "no message on the page"


# -- Traces (the landing page) ----------------------------------------------------------


def test_the_landing_page_lists_traces_with_the_search_filters(collector_env, api):
    at = _app(status="error", sort="duration").run()
    assert not at.exception
    assert at.title[0].value == "Traces"
    listed = api.list_traces(status="error", sort="duration", limit=50)
    assert any(f"{listed['total']:,} traces · showing" in c for c in _texts(at.caption))
    table = at.dataframe[0].value
    assert list(table["open"]) == [f"trace?trace_id={t['trace_id']}" for t in listed["items"]]
    assert list(table["duration s"]) == [t["duration_ms"] / 1000 for t in listed["items"]]
    assert all("error" in s for s in table["status"])
    at.session_state["traces.results.0"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert at.title[0].value == "Trace" and at.query_params["trace_id"] == listed["items"][0]["trace_id"]


def test_traces_and_search_share_their_filters(collector_env):
    at = _app(q=collector_env.search_word).run()
    _open(at, "views/search.py")
    assert at.text_input(key="search.q").value == collector_env.search_word
    at.text_input(key="search.q").set_value("").run()
    at.selectbox(key="search.status").set_value("error").run()
    _open(at, "views/traces.py")
    assert at.selectbox(key="traces.status").value == "error" and at.text_input(key="traces.q").value == ""


# -- Search -------------------------------------------------------------------------


def test_search_lists_spans_for_q_in_url(collector_env, api):
    at = _search(q=collector_env.search_word).run()
    assert not at.exception
    total = api.search_spans(q=collector_env.search_word, limit=1).total
    assert any(f"{total:,} matching span" in c for c in _texts(at.caption))
    table = at.dataframe[0].value
    assert 1 <= len(table) <= 50
    assert list(table.columns[:3]) == ["time", "status", "name"]
    assert all(link.startswith("trace?trace_id=") for link in table["trace"])


def test_search_box_writes_query_to_url(collector_env):
    at = _search().run()
    at.text_input(key="search.q").set_value(collector_env.search_word).run()
    assert at.query_params.get("q") == collector_env.search_word


def test_filter_widgets_whose_state_streamlit_dropped_come_back_as_remembered(collector_env):
    """A run cut short by the next (typing then Enter while the page draws) can make Streamlit
    forget some widgets' values; they must not come back at their first option ("Last 15
    minutes"), hiding everything older while the page claims to show the same search."""
    at = _search()
    # The state such a run leaves: the search box kept, the time range forgotten, the filters
    # of the search on screen remembered.
    at.session_state["search.q"] = collector_env.search_word
    at.session_state["flightlog.search_filters"] = SearchFilters(q=collector_env.search_word, range="7d")
    at.run()
    assert not at.exception
    assert at.selectbox(key="search.range").value == "7d"
    assert at.query_params.get("range") == "7d"


def test_search_without_text_lists_latest_spans(collector_env):
    at = _search().run()
    assert not at.exception
    assert len(at.dataframe[0].value) >= 1
    assert at.query_params == {}


def test_search_with_no_result_says_what_to_try(collector_env):
    at = _search(q="zzqqxxnosuchwordanywhere").run()
    assert any("No spans match" in i for i in _texts(at.info))
    (clear,) = [b for b in at.button if b.label == "Clear filters"]
    clear.click().run()
    assert at.text_input(key="search.q").value == ""
    assert len(at.dataframe) == 1


def test_search_filter_choices_come_from_facets(collector_env, api):
    at = _search().run()
    facets = api.facets()
    agent_box = next(s for s in at.selectbox if s.label == "Agent")
    assert agent_box.options == ["Any", *sorted(a for a in facets["agents"] if a)]


def test_search_paging_moves_offset(collector_env, api):
    at = _search(size="25").run()
    total = api.search_spans(limit=1).total
    assert total > 25, f"needs more than 25 seeded spans, has {total}"
    (next_button,) = [b for b in at.button if b.label == "Next →"]
    next_button.click().run()
    assert at.query_params.get("page") == "2"
    assert any("page 2 of" in c for c in _texts(at.caption))


def test_selecting_a_result_opens_its_trace(collector_env):
    at = _search(q=collector_env.search_word).run()
    first_link = at.dataframe[0].value["trace"][0]
    at.session_state["search.results.0"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert not at.exception
    assert at.title[0].value == "Trace", _said(at)
    assert first_link == "trace?" + "&".join(f"{k}={v}" for k, v in at.query_params.items())
    assert _vega_charts(at), _said(at)


def test_filters_are_remembered_across_pages(collector_env):
    at = _search(q=collector_env.search_word, status="ok").run()
    _open(at, "views/cost.py")
    assert at.title[0].value == "Cost"
    _open(at, "views/search.py")
    assert at.text_input(key="search.q").value == collector_env.search_word
    assert at.selectbox(key="search.status").value == "ok"
    assert at.query_params == {"q": collector_env.search_word, "status": "ok"}


# -- Trace --------------------------------------------------------------------------


def _properties(at) -> dict[str, str]:
    """The selected span's fields (plain text that wraps, never cut)."""
    return {field: value for field, value in text_rows(at, "trace-fields")}


def test_trace_page_shows_waterfall_tree_and_selected_span(collector_env, api, marked_span):
    at = _open(_app().run(), "views/trace.py", trace_id=collector_env.trace_id, span_id=marked_span["span_id"])
    assert not at.exception
    spans = api.get_trace(collector_env.trace_id).spans
    assert len(_vega_charts(at)) == 1, _said(at)
    tree = at.dataframe[0].value
    row = [s["span_id"] for s in spans].index(marked_span["span_id"])
    assert list(tree["span"]) == [r["span"] for r in fmt.tree_rows(spans, selected=row)]
    assert tree["span"][row].startswith("▶ "), "the selected span is marked in the tree"
    assert _properties(at)["span id"] == marked_span["span_id"]
    assert at.query_params == {"trace_id": collector_env.trace_id, "span_id": marked_span["span_id"]}


def test_trace_page_shows_span_text_verbatim_never_as_markdown(collector_env, marked_span):
    at = _open(_app().run(), "views/trace.py", trace_id=collector_env.trace_id, span_id=marked_span["span_id"])
    shown = _texts(at.text)
    assert any(MARKER in text for text in shown), shown
    stored = [e for e in at.expander if e.label.startswith("Input and output as stored")]
    assert stored and not _texts(stored[0].text), "the stored input and output wait behind a closed expander"
    at.session_state["trace.stored"] = True  # the person opens it
    shown = _texts(at.run().text)
    for text in (marked_span.get("input_text"), marked_span.get("output_text")):
        if text and len(text) <= fmt.TEXT_PREVIEW_CHARS:
            assert text in shown
    assert not any(MARKER in m for m in _texts(at.markdown))


def test_trace_page_tree_selection_changes_detail(collector_env, api):
    at = _open(_app().run(), "views/trace.py", trace_id=collector_env.trace_id)
    spans = api.get_trace(collector_env.trace_id).spans
    last = len(spans) - 1
    at.session_state[f"trace.tree.{collector_env.trace_id}"] = {
        "selection": {"rows": [last], "columns": [], "cells": []}
    }
    at.run()
    assert at.query_params["span_id"] == spans[last]["span_id"]
    assert _properties(at)["span id"] == spans[last]["span_id"]


def test_trace_page_remembers_last_trace(collector_env):
    at = _open(_app().run(), "views/trace.py", trace_id=collector_env.trace_id)
    _open(at, "views/search.py")
    _open(at, "views/trace.py")
    assert at.query_params.get("trace_id") == collector_env.trace_id


@pytest.mark.parametrize(
    ("trace_id", "says"),
    [
        ("", "No trace open"),
        ("not-a-trace-id", "not a trace id"),
        (UNKNOWN_TRACE, "No trace with this id"),
    ],
)
def test_trace_page_explains_missing_or_bad_id(collector_env, trace_id, says):
    params = {"trace_id": trace_id} if trace_id else {}
    at = _open(_app().run(), "views/trace.py", **params)
    assert not at.exception
    assert any(says in m for m in _texts(at.info) + _texts(at.warning))
    assert at.text_input(key="trace.lookup")


def test_trace_page_lookup_box_opens_a_trace(collector_env):
    at = _open(_app().run(), "views/trace.py")
    at.text_input(key="trace.lookup").set_value(collector_env.trace_id.upper()).run()
    assert at.query_params.get("trace_id") == collector_env.trace_id
    assert _vega_charts(at), _said(at)


# -- Cost ---------------------------------------------------------------------------


def test_cost_page_draws_chart_tables_and_downloads(collector_env, api):
    at = _open(_app().run(), "views/cost.py")
    assert not at.exception
    # On arrival: the cost per model per day (a Vega-Lite chart: no Plotly on the page) and the
    # first tab's table with its CSV; the other tabs are built when opened.
    assert len(_vega_charts(at)) == 1 and not _plotly_charts(at), _said(at)
    assert [t.label for t in at.tabs] == ["By day and model", "Totals by agent", "Cost per successful run",
                                          "Costliest traces"]
    assert len(at.dataframe) == 1 and len(at.get("download_button")) == 1
    at.session_state["cost.tab"] = "Cost per successful run"
    at.run()
    # its chart beside the per-day one, and its table with its CSV
    assert len(_vega_charts(at)) == 2 and len(at.dataframe) == 1 and len(at.get("download_button")) == 1, _said(at)
    assert "Cost per successful run" in [str(h.value) for h in at.subheader]
    by_agent = api.cost(["agent"])
    total = fmt.format_money(sum(float(r["cost_usd"]) for r in by_agent))
    assert {m.label: m.value for m in at.metric}["Total cost"] == total


def test_cost_range_is_shared_with_search(collector_env):
    at = _open(_app().run(), "views/cost.py", range="30d")
    assert at.selectbox(key="cost.range").value == "30d"
    _open(at, "views/search.py")
    assert at.selectbox(key="search.range").value == "30d"


# -- failures -----------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("page", ["views/search.py", "views/trace.py", "views/cost.py"])
def test_unreachable_collector_is_reported_not_raised(monkeypatch, page):
    monkeypatch.setenv("FLIGHTLOG_API_URL", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("FLIGHTLOG_API_KEY", "k")
    at = _open(_app().run(), page, trace_id=UNKNOWN_TRACE)
    assert not at.exception
    assert at.error, "expected an error box"
    assert any("cannot reach the collector" in c for c in _texts(at.code))


def test_wrong_key_shows_the_servers_answer(seeded_stack, monkeypatch):
    monkeypatch.setenv("FLIGHTLOG_API_URL", seeded_stack.api_url)
    monkeypatch.setenv("FLIGHTLOG_API_KEY", "not-a-key")
    at = _app().run()
    assert not at.exception
    assert any(c.startswith(("401", "403")) for c in _texts(at.code))


def test_trace_page_collapses_a_subtree_and_shows_messages_as_a_chat(collector_env, api, marked_span):
    spans = api.get_trace(collector_env.trace_id).spans
    root = spans[0]["span_id"]
    at = _open(_app().run(), "views/trace.py", trace_id=collector_env.trace_id, span_id=marked_span["span_id"])
    assert len(at.dataframe[0].value) == len(spans)
    assert at.chat_message, "the LLM span's messages are shown as a chat transcript"
    assert any(MARKER in t for t in _texts(at.text))
    at.multiselect(key=f"trace.collapse.{collector_env.trace_id}").set_value([root]).run()
    assert len(at.dataframe[0].value) == 1, "collapsing the root leaves only the root in the tree"
