"""One definition of the search filters (``flightlog.search``), used by storage, the API and the
UI: the API's ``GET /api/spans`` declares exactly these parameters, storage compiles each
equality filter to its column, the facets the UI offers exist, and every filter narrows a real
search on the demo store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import RunningCollector, start_collector
from flightlog import search
from flightlog.collector.app import create_app
from flightlog.collector.config import Settings
from flightlog.storage import filters as storage_filters
from flightlog.storage.schema import SPAN_COLUMNS
from flightlog.ui import client, filters as ui_filters


def _parameters(path: str) -> set[str]:
    schema = create_app(Settings(data_dir="/nonexistent-flightlog-vocabulary")).openapi()
    return {p["name"] for p in schema["paths"][path]["get"]["parameters"] if p["in"] == "query"}


@pytest.mark.parametrize("path", ["/api/spans", "/api/traces"])
def test_the_api_declares_exactly_the_vocabulary(path: str) -> None:
    assert _parameters(path) == set(search.QUERY_PARAMETERS)


def test_storage_and_the_ui_read_the_same_definition() -> None:
    assert set(storage_filters.FILTER_NAMES) == set(search.EQUALITY_FILTERS)
    assert set(search.EQUALITY_FILTERS.values()) <= set(SPAN_COLUMNS)
    assert client.SEARCH_FILTERS == search.QUERY_PARAMETERS
    # every text filter survives a round trip through the UI's URL parameters
    values = {name: f"v-{name}" for name in search.TEXT_FILTERS}
    parsed = ui_filters.SearchFilters.from_query_params(values)
    assert {name: getattr(parsed, name) for name in search.TEXT_FILTERS} == values


def test_an_unknown_filter_name_is_refused_by_name() -> None:
    with pytest.raises(storage_filters.InvalidQuery, match="unknown filter 'colour'"):
        storage_filters.SpanFilter(equals={"colour": "red"}).where("default")


@pytest.fixture(scope="module")
def demo_collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    from flightlog.collector import demo

    running = start_collector(tmp_path_factory.mktemp("vocabulary"))
    for request in demo.build_demo_requests():
        assert running.post("/v1/traces", request.SerializeToString(), "application/x-protobuf").status_code == 200
    running.drain()
    yield running
    running.stop()


def test_every_facet_is_offered_and_every_filter_narrows_a_search(demo_collector: RunningCollector) -> None:
    facets = demo_collector.api("/api/facets")
    total = demo_collector.api("/api/spans", limit=1)["total"]
    for label, name, facet in search.FACET_FILTERS:
        assert facets.get(facet), f"{label}: /api/facets has no {facet!r} list"
        value = facets[facet][0]
        found = demo_collector.api("/api/spans", limit=200, **{name: value})
        assert 0 < found["total"] < total, f"{name}={value!r} did not narrow the search"
    runs = demo_collector.api("/api/spans", limit=200, span_type="agent")["items"]
    some = next(s for s in runs if s["session_id"])  # the demo's runs belong to conversations
    for name, field in (("trace_id", "trace_id"), ("session", "session_id")):
        found = demo_collector.api("/api/spans", limit=200, **{name: some[field]})
        assert 0 < found["total"] < total and all(s[field] == some[field] for s in found["items"]), name
