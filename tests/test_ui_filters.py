"""Tests for flightlog.ui.filters: Search filters from and to the URL and the API."""
from __future__ import annotations

import datetime as dt

import pytest

from flightlog.ui.filters import (
    SearchFilters,
    has_search_params,
    page_count,
    parse_trace_id,
    time_window,
)

NOW = dt.datetime(2026, 1, 31, 12, 0, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, SearchFilters()),
        ({"q": " refund  "}, SearchFilters(q="refund")),
        ({"q": ["old", "new"]}, SearchFilters(q="new")),
        ({"range": "7d", "status": "error"}, SearchFilters(range="7d", status="error")),
        ({"range": "forever", "status": "broken"}, SearchFilters()),
        ({"sort": "cost", "order": "asc"}, SearchFilters(sort="cost", order="asc")),
        ({"sort": "name; DROP", "order": "sideways"}, SearchFilters()),
        ({"size": "100", "page": "3"}, SearchFilters(page_size=100, page=3)),
        ({"size": "7", "page": "-2"}, SearchFilters()),
        ({"size": "x", "page": "y"}, SearchFilters()),
        (
            {"agent": "bot", "model": "gpt-4o", "prompt_version": "v2", "span_type": "llm",
             "user": "u1", "session": "s1"},
            SearchFilters(agent="bot", model="gpt-4o", prompt_version="v2", span_type="llm",
                          user="u1", session="s1"),
        ),
    ],
)
def test_from_query_params(params, expected):
    assert SearchFilters.from_query_params(params) == expected


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (SearchFilters(), {}),
        (SearchFilters(q="refund"), {"q": "refund"}),
        (SearchFilters(page_size=100, page=2), {"size": "100", "page": "2"}),
        (SearchFilters(range="24h", status="ok"), {"range": "24h", "status": "ok"}),
    ],
)
def test_to_query_params_leaves_out_defaults(filters, expected):
    assert filters.to_query_params() == expected


def test_query_params_round_trip():
    filters = SearchFilters(q="a b", range="1h", agent="x", model="m", prompt_version="v",
                            span_type="tool", status="unset", user="u", session="s",
                            sort="tokens", order="asc", page_size=25, page=4)
    assert SearchFilters.from_query_params(filters.to_query_params()) == filters


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (SearchFilters(), {"sort": "time", "order": "desc", "limit": 50, "offset": 0}),
        (
            SearchFilters(q="refund", range="1h", status="error", page_size=25, page=3),
            {"q": "refund", "status": "error", "start": NOW - dt.timedelta(hours=1),
             "sort": "time", "order": "desc", "limit": 25, "offset": 50},
        ),
        (
            SearchFilters(user="u1", session="s1", model="gpt-4o"),
            {"user": "u1", "session": "s1", "model": "gpt-4o", "sort": "time",
             "order": "desc", "limit": 50, "offset": 0},
        ),
    ],
)
def test_api_params(filters, expected):
    assert filters.api_params(NOW) == expected


@pytest.mark.parametrize(
    ("range_key", "expected"),
    [
        ("15m", (NOW - dt.timedelta(minutes=15), None)),
        ("30d", (NOW - dt.timedelta(days=30), None)),
        ("all", (None, None)),
        ("nonsense", (None, None)),
    ],
)
def test_time_window(range_key, expected):
    assert time_window(range_key, NOW) == expected


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (SearchFilters(), False),
        (SearchFilters(sort="cost", page=3), False),
        (SearchFilters(q="x"), True),
        (SearchFilters(range="7d"), True),
        (SearchFilters(status="ok"), True),
    ],
)
def test_is_filtered(filters, expected):
    assert filters.is_filtered() is expected


def test_same_query_ignores_only_the_page():
    assert SearchFilters(q="x", page=3).same_query(SearchFilters(q="x"))
    assert not SearchFilters(q="x", page_size=25).same_query(SearchFilters(q="x"))
    assert not SearchFilters(q="y").same_query(SearchFilters(q="x"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ab" * 16, "ab" * 16),
        ("  " + "AB" * 16 + "\n", "ab" * 16),
        ("ab" * 15, ""),
        ("zz" * 16, ""),
        ("../" + "ab" * 16, ""),
        ("", ""),
    ],
)
def test_parse_trace_id(text, expected):
    assert parse_trace_id(text) == expected


@pytest.mark.parametrize(("total", "size", "expected"), [(0, 50, 1), (1, 50, 1), (50, 50, 1), (51, 50, 2), (1000, 25, 40)])
def test_page_count(total, size, expected):
    assert page_count(total, size) == expected


@pytest.mark.parametrize(
    ("params", "expected"),
    [({}, False), ({"trace_id": "x"}, False), ({"q": ""}, True), ({"size": "25"}, True), ({"range": "7d"}, True)],
)
def test_has_search_params(params, expected):
    assert has_search_params(params) is expected


# -- facets and custom range (issue 6 §1) -------------------------------------------


def test_new_facets_round_trip_through_the_url():
    filters = SearchFilters(agent_version="2.3.0", prompt_id="refund-policy", tool="issue_refund",
                            range="custom", start_date="2026-01-02", end_date="2026-01-03")
    params = filters.to_query_params()
    assert params["from"] == "2026-01-02" and params["to"] == "2026-01-03" and params["range"] == "custom"
    assert SearchFilters.from_query_params(params) == filters


def test_custom_range_covers_whole_utc_days():
    filters = SearchFilters(range="custom", start_date="2026-01-02", end_date="2026-01-03")
    api = filters.api_params(NOW)
    assert api["start"] == dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)
    assert api["end"] == dt.datetime(2026, 1, 4, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("text", ["2026-02-30", "yesterday", "2026-1-2", ""])
def test_bad_custom_dates_are_dropped(text):
    assert SearchFilters.from_query_params({"range": "custom", "from": text}).start_date == ""


def test_new_facets_go_to_the_api():
    api = SearchFilters(agent_version="2.3.0", prompt_id="p", tool="t").api_params(NOW)
    assert (api["agent_version"], api["prompt_id"], api["tool"]) == ("2.3.0", "p", "t")


@pytest.mark.parametrize(("key", "shared"), [("7d", "7d"), ("custom", "all"), ("all", "all")])
def test_shared_range_keeps_presets_only(key, shared):
    from flightlog.ui.filters import shared_range

    assert shared_range(key) == shared
