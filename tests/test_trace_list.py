"""The trace list (GET /api/traces) and sessions (GET /api/sessions, /api/sessions/{id}) against
the real collector seeded with the demo data: one row per trace whose totals agree with the
trace itself, the search filters, sorts and pages; a session's runs in order with one
transcript across them; bad input answered with a 4xx that says what is wrong."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from flightlog.collector import demo


def _all_spans(stack) -> list[dict[str, Any]]:
    spans: list[dict[str, Any]] = []
    while True:
        page = stack.collector.api("/api/spans", limit=500, offset=len(spans), sort="time", order="asc")
        spans += page["items"]
        if len(spans) >= page["total"]:
            return spans


@pytest.fixture(scope="module")
def spans(seeded_stack) -> list[dict[str, Any]]:
    return _all_spans(seeded_stack)


def test_one_row_per_trace_with_the_traces_own_totals(seeded_stack, spans):
    per_trace = Counter(s["trace_id"] for s in spans)
    rows: list[dict[str, Any]] = []
    total = None
    while total is None or len(rows) < total:
        page = seeded_stack.collector.api("/api/traces", limit=100, offset=len(rows))
        total = page["total"]
        assert page["items"], f"page at offset {len(rows)} is empty though {total} traces match"
        rows += page["items"]
    assert total == len(per_trace)
    assert sorted(r["trace_id"] for r in rows) == sorted(per_trace), "pages overlap or miss traces"
    assert {r["trace_id"]: r["spans"] for r in rows} == dict(per_trace)
    starts = [r["start_ns"] for r in rows]
    assert starts == sorted(starts, reverse=True), "default order is newest first"
    incident = next(r for r in rows if r["trace_id"] == demo.INCIDENT_TRACE_ID)
    trace = seeded_stack.collector.api(f"/api/traces/{demo.INCIDENT_TRACE_ID}")
    root = trace["spans"][0]
    assert incident["name"] == root["span_name"] and incident["agent"] == demo.INCIDENT_AGENT
    assert incident["agent_version"] == demo.INCIDENT_AGENT_VERSION and incident["user"] == demo.INCIDENT_USER_ID
    assert incident["session"] == root["session_id"] != ""
    assert incident["duration_ms"] == pytest.approx(trace["duration_ms"])
    assert incident["cost_usd"] == pytest.approx(trace["total_cost_usd"])
    assert incident["input_tokens"] == trace["input_tokens"] and incident["errors"] == trace["error_count"]
    assert incident["status"] == root["status_code"].lower()
    assert incident["input"] and root["input_text"].startswith(incident["input"])
    assert f"{demo.INCIDENT_PROMPT_ID}@{demo.INCIDENT_PROMPT_VERSION}" in incident["prompts"]


@pytest.mark.parametrize("sort", ["duration", "cost", "tokens", "spans", "errors"])
def test_sorts_order_the_whole_list(seeded_stack, sort):
    field = {"duration": "duration_ms", "cost": "cost_usd", "spans": "spans", "errors": "errors"}.get(sort)
    key = (lambda r: r["input_tokens"] + r["output_tokens"]) if sort == "tokens" else (lambda r: r[field])
    desc = seeded_stack.collector.api("/api/traces", sort=sort, limit=500)["items"]
    asc = seeded_stack.collector.api("/api/traces", sort=sort, order="asc", limit=20)["items"]
    values = [key(r) for r in desc]
    assert values == sorted(values, reverse=True) and len(set(values)) > 1
    assert [key(r) for r in asc] == sorted(values)[:20]


def test_filters_keep_traces_with_a_matching_span(seeded_stack, spans):
    def traces(**params: Any) -> dict[str, Any]:
        return seeded_stack.collector.api("/api/traces", limit=500, **params)

    errors = traces(status="error")
    assert {r["trace_id"] for r in errors["items"]} == {s["trace_id"] for s in spans if s["status_code"] == "Error"}
    assert all(r["errors"] >= 1 for r in errors["items"]) and errors["total"] == len(errors["items"])
    found = traces(q=demo.INCIDENT_SEARCH_WORD, agent=demo.INCIDENT_AGENT)
    assert demo.INCIDENT_TRACE_ID in {r["trace_id"] for r in found["items"]}
    assert all(r["agent"] == demo.INCIDENT_AGENT for r in found["items"])
    mine = traces(user=demo.INCIDENT_USER_ID)["items"]
    assert mine and {r["user"] for r in mine} == {demo.INCIDENT_USER_ID}
    since = (datetime.now(timezone.utc) - timedelta(days=3)).isoformat()
    by_time, by_cost = traces(start=since), traces(start=since, sort="cost")
    assert 0 < by_time["total"] == by_cost["total"] == len(by_cost["items"]) < len(spans)
    assert {r["trace_id"] for r in by_time["items"]} == {r["trace_id"] for r in by_cost["items"]}
    assert all(r["started"] >= since for r in by_cost["items"]), "a time range keeps the runs that start in it"
    none = traces(start="2000-01-01T00:00:00Z", end="2000-01-02T00:00:00Z")
    assert none == {"items": [], "total": 0, "limit": 500, "offset": 0}
    assert traces(q="zz-no-such-word-zz")["total"] == 0


def test_a_session_lists_its_runs_in_order_with_one_transcript(seeded_stack, spans):
    sessions = seeded_stack.collector.api("/api/sessions", limit=500)
    per_session = {s["session_id"] for s in spans if s["session_id"]}
    assert sessions["total"] == len(per_session) == len(sessions["items"])
    last = [s["last_activity"] for s in sessions["items"]]
    assert last == sorted(last, reverse=True)
    longest = max(sessions["items"], key=lambda s: s["traces"])
    assert longest["traces"] >= 2, "the demo has conversations of several runs"
    session = seeded_stack.collector.api(f"/api/sessions/{longest['session_id']}")
    runs = session["runs"]
    assert len(runs) == longest["traces"] and [r["start_ns"] for r in runs] == sorted(r["start_ns"] for r in runs)
    assert {r["session"] for r in runs} == {longest["session_id"]}
    for run in runs:
        root = seeded_stack.collector.api(f"/api/traces/{run['trace_id']}")["spans"][0]
        said = [t for t in session["turns"] if t["trace_id"] == run["trace_id"]]
        assert [t["role"] for t in said] == ["user", "assistant"]
        assert said[0]["text"] == root["input_text"] and said[1]["text"] == root["output_text"]
    order = [t["trace_id"] for t in session["turns"]]
    assert order == sorted(order, key=[r["trace_id"] for r in runs].index)


def test_session_filters_keep_the_sessions_with_a_matching_run(seeded_stack, spans):
    sessions = lambda **p: seeded_stack.collector.api("/api/sessions", limit=500, **p)  # noqa: E731
    everything = sessions()
    roots = [s for s in spans if s["session_id"] and not s["parent_span_id"]]
    by_session: dict[str, list[dict[str, Any]]] = {}
    for root in roots:
        by_session.setdefault(root["session_id"], []).append(root)
    failing_traces = {s["trace_id"] for s in spans if s["status_code"] == "Error"}
    failing = {sid for sid, runs in by_session.items() if any(r["trace_id"] in failing_traces for r in runs)}
    assert 0 < len(failing) < everything["total"], "the demo has sessions with and without failures"
    errors_only = sessions(errors_only="true")
    assert {s["session_id"] for s in errors_only["items"]} == failing
    assert errors_only["total"] == len(failing) and all(s["errors"] > 0 for s in errors_only["items"])
    counts = Counter((r["agent_name"], r["agent_version"]) for r in roots)
    (agent, version), _ = counts.most_common(1)[0]
    expected = {sid for sid, runs in by_session.items()
                if any((r["agent_name"], r["agent_version"]) == (agent, version) for r in runs)}
    found = sessions(agent=agent, agent_version=version)
    assert {s["session_id"] for s in found["items"]} == expected and found["total"] == len(expected)
    assert sessions(agent=agent, agent_version="0.0.0-no-such")["total"] == 0
    # The text search: a word of one session's first input finds that session and keeps its totals.
    target = next(s for s in everything["items"] if len(s["first_input"].split()) >= 3)
    word = max(target["first_input"].split(), key=len).strip(".,?!:;\"'()")
    matched = sessions(q=word)
    assert target in matched["items"], "a matching session keeps all its runs and totals"
    assert matched["total"] < everything["total"]
    assert sessions(q="zz-no-such-word-zz")["total"] == 0


def test_bad_input_is_a_4xx_that_says_what_is_wrong(seeded_stack):
    get = seeded_stack.collector.get
    for path, params, word in [
        ("/api/traces", {"limit": 0}, "limit"), ("/api/traces", {"sort": "name"}, "sort"),
        ("/api/traces", {"offset": 10**6}, "offset"), ("/api/traces", {"q": "x" * 1001}, "q"),
        ("/api/sessions", {"limit": 501}, "limit"), ("/api/sessions", {"q": "x" * 1001}, "q"),
        ("/api/sessions", {"errors_only": "maybe"}, "errors_only"),
    ]:
        resp = get(path, **params)
        assert resp.status_code == 400, (path, params, resp.text)
        assert word in resp.json()["error"], resp.text
    missing = get("/api/sessions/no-such-session")
    assert missing.status_code == 404 and "no-such-session" in missing.json()["error"]
    assert get("/api/traces", key="").status_code == 401
