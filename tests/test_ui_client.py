"""Tests for flightlog.ui.client.ApiClient, the UI's typed client of the query API.

Network failures are scripted with httpx.MockTransport; everything else runs against the
real collector with seeded data (the ``seeded_stack`` fixture).
"""
from __future__ import annotations

import datetime as dt

import httpx
import pytest

from flightlog.ui.client import (
    DEFAULT_API_URL,
    ApiClient,
    ApiError,
    SearchResult,
    Trace,
)


def _client(handler) -> ApiClient:
    return ApiClient("http://collector.test", "read-key", transport=httpx.MockTransport(handler))


def test_sends_read_key_as_bearer_and_filters_as_params():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"items": [], "total": 0, "limit": 10, "offset": 0})

    start = dt.datetime(2026, 1, 31, 12, 0, tzinfo=dt.timezone.utc)
    result = _client(handler).search_spans(q="refund", agent="", start=start, limit=10, status=None)
    assert result == SearchResult(items=[], total=0, limit=10, offset=0)
    (request,) = seen
    assert request.headers["authorization"] == "Bearer read-key"
    assert request.url.path == "/api/spans"
    assert list(request.url.params.multi_items()) == [
        ("q", "refund"), ("start", "2026-01-31T12:00:00+00:00"), ("limit", "10"),
    ]


def test_cost_repeats_group_by():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"rows": [{"day": "2026-01-31", "model": "m", "cost_usd": 1.0}]})

    rows = _client(handler).cost(["day", "model"])
    assert rows == [{"day": "2026-01-31", "model": "m", "cost_usd": 1.0}]
    assert seen[0].url.params.get_list("group_by") == ["day", "model"]


def test_search_spans_rejects_unknown_filter():
    with pytest.raises(TypeError, match="colour"):
        _client(lambda request: httpx.Response(200, json={})).search_spans(colour="red")


def test_get_trace_quotes_the_id_into_one_path_segment():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(404, json={"detail": "trace not found"})

    with pytest.raises(ApiError):
        _client(handler).get_trace("../spans?x=1")
    assert seen[0].url.raw_path == b"/api/traces/..%2Fspans%3Fx%3D1"


@pytest.mark.parametrize(
    ("response", "status", "message"),
    [
        (httpx.Response(401, json={"detail": "missing or wrong read key"}), 401, "missing or wrong read key"),
        (httpx.Response(404, json={"detail": "trace abc not found"}), 404, "trace abc not found"),
        (httpx.Response(503, headers={"Retry-After": "1"}, text="overloaded"), 503, "overloaded"),
        (httpx.Response(400, json={"error": "limit must be <= 500"}), 400, "limit must be <= 500"),
        (httpx.Response(500, text=""), 500, "no message"),
    ],
)
def test_http_errors_become_api_error_with_server_message(response, status, message):
    with pytest.raises(ApiError) as caught:
        _client(lambda request: response).facets()
    assert caught.value.status_code == status
    assert message in caught.value.message


@pytest.mark.parametrize(
    ("exc", "message"),
    [
        (httpx.ConnectError("refused"), "cannot reach the collector"),
        (httpx.ReadTimeout("slow"), "did not answer in time"),
    ],
)
def test_network_failures_become_api_error(exc, message):
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    with pytest.raises(ApiError, match=message) as caught:
        _client(handler).search_spans()
    assert caught.value.status_code is None


def test_body_that_is_not_json_becomes_api_error():
    with pytest.raises(ApiError, match="not JSON"):
        _client(lambda request: httpx.Response(200, text="<html>")).facets()


def test_from_env_reads_url_and_key():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    env = {"FLIGHTLOG_API_URL": "http://elsewhere:9000/", "FLIGHTLOG_API_KEY": "k"}
    client = ApiClient.from_env(env, transport=httpx.MockTransport(handler))
    client.facets()
    assert str(seen[0].url) == "http://elsewhere:9000/api/facets"
    assert seen[0].headers["authorization"] == "Bearer k"
    assert ApiClient.from_env({}).base_url == DEFAULT_API_URL


def test_repr_hides_the_key():
    assert "secret" not in repr(ApiClient("http://x", "secret"))


# -- against the real collector ----------------------------------------------------


@pytest.fixture(scope="module")
def api(seeded_stack):
    with ApiClient(seeded_stack.api_url, seeded_stack.read_key) as client:
        yield client


def test_search_finds_seeded_word(api, seeded_stack):
    result = api.search_spans(q=seeded_stack.search_word, limit=5)
    assert result.total >= 1
    assert 1 <= len(result.items) <= 5
    word = seeded_stack.search_word.lower()
    for item in result.items:
        # List items carry the first characters of each text only: check the whole span.
        span = next(s for s in api.get_trace(item["trace_id"]).spans if s["span_id"] == item["span_id"])
        text = " ".join(str(span.get(k) or "") for k in ("input_text", "output_text", "tool_args", "tool_result"))
        assert word in text.lower()


def test_get_trace_returns_spans_in_tree_order(api, seeded_stack):
    trace = api.get_trace(seeded_stack.trace_id)
    assert isinstance(trace, Trace)
    assert trace.trace_id == seeded_stack.trace_id
    assert trace.spans and trace.spans[0]["depth"] == 0
    seen = set()
    for span in trace.spans:
        assert span["depth"] == 0 or span["parent_span_id"] in seen
        seen.add(span["span_id"])


def test_unknown_trace_is_api_error_404(api):
    with pytest.raises(ApiError) as caught:
        api.get_trace("f0e1d2c3b4a5968778695a4b3c2d1e0f")
    assert caught.value.status_code == 404


def test_wrong_key_is_api_error_with_status(seeded_stack):
    with ApiClient(seeded_stack.api_url, "not-a-key") as client, pytest.raises(ApiError) as caught:
        client.facets()
    assert caught.value.status_code in (401, 403)


def test_cost_and_facets_answer(api):
    rows = api.cost(["day", "model"])
    assert rows and all({"day", "model", "cost_usd"} <= set(row) for row in rows)
    facets = api.facets()
    assert {"agents", "models", "span_types"} <= set(facets)


def test_a_read_cut_off_by_a_closed_kept_alive_connection_is_asked_again_once_and_a_write_is_not():
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        if len(seen) in (1, 3):  # the collector closed the reused connection without answering
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        return httpx.Response(200, json={"total": 0, "items": [], "limit": 50, "offset": 0})

    assert _client(handler).search_spans().total == 0
    assert seen == ["GET", "GET"]
    with pytest.raises(ApiError, match="cannot reach the collector"):
        _client(handler).add_review_score("a" * 32, 1.0)
    assert seen == ["GET", "GET", "POST"], "a write that may have been carried out is not sent twice"
