"""Tests for the insight endpoints (collector/api/insights.py over storage/traceback.py):
incident trace-back and healthy-run comparison, monitoring, cost per run, top traces.

The pure trace-back helpers are table-tested; the endpoints run against the real collector
seeded with the demo data (``seeded_stack``)."""
from __future__ import annotations

import json

import pytest

from flightlog.collector import demo
from flightlog.storage.traceback import build_traceback, diff_profiles, run_profile


def _span(span_id: str, start_ms: int, dur_ms: int, parent: str = "", **fields) -> dict:
    return {"trace_id": "t" * 32, "span_id": span_id, "parent_span_id": parent,
            "start_ns": start_ms * 1_000_000, "duration_ms": float(dur_ms), "status_code": "Ok", **fields}


TRACE = [
    _span("root", 0, 100, span_type="agent", input_text="please refund", agent_version="2.3.0"),
    _span("llm1", 1, 10, "root", span_type="llm", prompt_id="p", prompt_version="v7", response_model="m1",
          output_text="ok"),
    _span("tool1", 12, 5, "root", span_type="tool", tool_name="lookup", tool_result='{"a": 1}'),
    _span("tool2", 20, 5, "root", span_type="tool", tool_name="refund", tool_args='{"amount": 4950, "id": 1}',
          agent_version="2.3.0"),
    _span("later", 30, 5, "root", span_type="llm", prompt_id="p", prompt_version="v7"),
]


# -- pure helpers -------------------------------------------------------------------


def test_build_traceback_chain_is_root_to_target():
    back = build_traceback(TRACE, "tool2")
    assert [s["span_id"] for s in back["chain"]] == ["root", "tool2"]
    assert back["target"]["span_id"] == "tool2"


def test_build_traceback_inputs_are_earlier_spans_in_time_order_with_user_input_first():
    back = build_traceback(TRACE, "tool2")
    assert [(s["role"], s["span_id"]) for s in back["inputs"]] == [
        ("user input", "root"), ("llm call", "llm1"), ("tool result", "tool1")]
    assert back["inputs"][1]["prompt_version"] == "v7"


def test_build_traceback_unknown_span_is_none():
    assert build_traceback(TRACE, "nope") is None


def test_build_traceback_survives_a_parent_cycle():
    spans = [_span("a", 0, 1, "b"), _span("b", 0, 1, "a")]
    back = build_traceback(spans, "a")
    assert {s["span_id"] for s in back["chain"]} == {"a", "b"}


def test_run_profile_collects_models_and_prompts_before_the_step():
    profile = run_profile(TRACE[3], TRACE[1:3])
    assert profile == {"agent_version": "2.3.0", "models": ["m1"], "prompts": ["p@v7"], "status": "ok",
                       "input": '{"amount": 4950, "id": 1}'}


@pytest.mark.parametrize(
    ("other", "fields", "keys"),
    [
        ({"prompts": ["p@v7"], "input": '{"amount": 4950}'}, [], []),
        ({"prompts": ["p@v6"], "input": '{"amount": 4950}'}, ["prompts"], []),
        ({"prompts": ["p@v7"], "input": '{"amount": 49.5}'}, ["input"], ["amount"]),
        ({"prompts": ["p@v7"], "input": "plain"}, ["input"], []),
    ],
)
def test_diff_profiles_names_what_differs(other, fields, keys):
    base = {"prompts": ["p@v7"], "input": '{"amount": 4950}'}
    assert diff_profiles(base, other) == {"fields": fields, "input_keys": keys}


# -- endpoints against the seeded collector -----------------------------------------


@pytest.fixture(scope="module")
def incident(seeded_stack):
    trace = seeded_stack.collector.api(f"/api/traces/{seeded_stack.incident_trace_id}")
    span = next(s for s in trace["spans"] if s["span_name"] == "execute_tool issue_refund")
    return seeded_stack, span


def test_traceback_of_the_incident_lists_prompt_v7_and_the_user_input(incident):
    stack, span = incident
    back = stack.collector.api(f"/api/traces/{stack.incident_trace_id}/traceback", span_id=span["span_id"])
    assert back["target"]["tool_name"] == "issue_refund"
    assert '"amount": 4950' in back["target"]["tool_args"]
    assert back["chain"][0]["span_type"] == "agent" and back["chain"][-1]["span_id"] == span["span_id"]
    assert back["inputs"][0]["role"] == "user input" and "88123" in back["inputs"][0]["input_text"]
    versions = {(s["prompt_id"], s["prompt_version"]) for s in back["inputs"] if s["span_type"] == "llm"}
    assert (demo.INCIDENT_PROMPT_ID, demo.INCIDENT_PROMPT_VERSION) in versions
    assert all(s["agent_version"] == demo.INCIDENT_AGENT_VERSION for s in back["inputs"])
    starts = [s["start_ns"] for s in back["inputs"]]
    assert starts == sorted(starts)
    assert f"{demo.INCIDENT_PROMPT_ID}@{demo.INCIDENT_PROMPT_VERSION}" in back["profile"]["prompts"]
    json.dumps(back)  # the export is this JSON


def test_traceback_compares_with_healthy_runs_on_prompt_v6(incident):
    stack, span = incident
    back = stack.collector.api(f"/api/traces/{stack.incident_trace_id}/traceback", span_id=span["span_id"], compare=5)
    runs = back["comparison"]["runs"]
    assert 1 <= len(runs) <= 5
    assert all(r["trace_id"] != stack.incident_trace_id for r in runs)
    assert all(f"{demo.INCIDENT_PROMPT_ID}@v6" in r["profile"]["prompts"] for r in runs)
    assert all("prompts" in r["differs"]["fields"] and "agent_version" in r["differs"]["fields"] for r in runs)
    assert all("amount" in r["differs"]["input_keys"] for r in runs)


def test_traceback_with_compare_zero_reads_no_runs(incident):
    stack, span = incident
    back = stack.collector.api(f"/api/traces/{stack.incident_trace_id}/traceback", span_id=span["span_id"], compare=0)
    assert back["comparison"]["runs"] == []


@pytest.mark.parametrize(
    ("trace_id", "span_id", "status"),
    [
        ("nothex", "0123456789abcdef", 400),
        (demo.INCIDENT_TRACE_ID, "xyz", 400),
        (demo.INCIDENT_TRACE_ID, "0123456789abcdef", 404),
        ("f0e1d2c3b4a5968778695a4b3c2d1e0f", "0123456789abcdef", 404),
    ],
)
def test_traceback_rejects_bad_or_unknown_ids(seeded_stack, trace_id, span_id, status):
    resp = seeded_stack.collector.get(f"/api/traces/{trace_id}/traceback", span_id=span_id)
    assert resp.status_code == status, resp.text


def test_insight_endpoints_need_a_read_key(seeded_stack):
    for path in ("/api/insights/monitoring", "/api/insights/top_traces", "/api/insights/cost_per_run",
                 f"/api/traces/{demo.INCIDENT_TRACE_ID}/traceback"):
        get = seeded_stack.collector.get
        assert get(path, key="", drain=False, span_id="0123456789abcdef").status_code == 401, path
        assert get(path, key=seeded_stack.ingest_key, drain=False, span_id="0123456789abcdef").status_code == 403, path


def test_monitoring_by_agent_version_counts_runs(seeded_stack):
    body = seeded_stack.collector.api("/api/insights/monitoring", by="agent_version", agent="refund-bot")
    assert body["unit"] == "run"
    groups = {r["group"] for r in body["series"]}
    assert {"2.2.4", demo.INCIDENT_AGENT_VERSION} <= groups
    row = next(r for r in body["series"] if r["units"])
    assert 0 <= row["success_rate"] <= 1 and row["latency_p50_ms"] <= row["latency_p99_ms"]
    assert row["tokens_per_unit"] > 0


def test_monitoring_by_prompt_version_counts_llm_calls(seeded_stack):
    body = seeded_stack.collector.api("/api/insights/monitoring", by="prompt_version", bucket="hour")
    assert body["unit"] == "llm call"
    groups = {r["group"] for r in body["series"] if r["units"]}
    assert f"{demo.INCIDENT_PROMPT_ID}@{demo.INCIDENT_PROMPT_VERSION}" in groups
    assert f"{demo.INCIDENT_PROMPT_ID}@v6" in groups


def test_monitoring_filters_by_prompt_id_prompt_version_and_model(seeded_stack):
    """What an alert's link opens: the figures of one prompt version (or model), counted in LLM calls,
    the same as the prompt-version breakdown's group for it."""
    c = seeded_stack.collector
    incident = f"{demo.INCIDENT_PROMPT_ID}@{demo.INCIDENT_PROMPT_VERSION}"
    by_prompt = c.api("/api/insights/monitoring", by="prompt_version", bucket="hour")["series"]
    expected = sum(r["units"] for r in by_prompt if r["group"] == incident)
    assert 0 < expected < sum(r["units"] for r in by_prompt)
    only = c.api("/api/insights/monitoring", bucket="hour", prompt_id=demo.INCIDENT_PROMPT_ID,
                 prompt_version=demo.INCIDENT_PROMPT_VERSION)
    assert only["unit"] == "llm call"
    assert sum(r["units"] for r in only["series"]) == expected
    by_model = c.api("/api/insights/monitoring", by="model")["series"]
    model, calls = max(((r["group"], r["units"]) for r in by_model if r["group"]), key=lambda g: g[1])
    one_model = c.api("/api/insights/monitoring", by="model", model=model)["series"]
    assert {r["group"] for r in one_model if r["units"]} == {model}
    assert sum(r["units"] for r in one_model) == sum(r["units"] for r in by_model if r["group"] == model)
    assert c.api("/api/insights/monitoring", model="no-such-model")["series"] == []
    assert c.api("/api/insights/monitoring", prompt_version="no-such-version", agent="refund-bot")["series"] == []
    too_long = c.get("/api/insights/monitoring", model="m" * 201)
    assert too_long.status_code == 400 and "model" in too_long.text


def test_monitoring_reports_tool_errors_and_checkpoint_escalations(seeded_stack):
    body = seeded_stack.collector.api("/api/insights/monitoring")
    tools = {t["tool"]: t for t in body["tools"]["tools"]}
    assert "issue_refund" in tools and tools["lookup_order"]["calls"] > 0
    assert all(e["errors"] > 0 and e["error_type"] for e in body["tools"]["errors"])
    cps = body["checkpoints"]["series"]
    assert sum(c["checkpoints"] for c in cps) > 0
    assert any(c["escalated"] for c in cps)


def test_monitoring_separates_agent_latency_from_waits_for_people(seeded_stack):
    """The demo has a refund run that waited 18 minutes for a person's approval: its day's p95
    latency is that wait; the agent latency leaves it out and the wait is reported apart."""
    series = seeded_stack.collector.api("/api/insights/monitoring", by="agent")["series"]
    waited = [p for p in series if p["human_waits"]]
    assert waited, "a run waited for a person in the demo"
    worst = max(waited, key=lambda p: p["human_wait_p95_ms"])
    assert worst["latency_p95_ms"] > 10 * 60_000, "the run's latency includes the wait"
    assert worst["human_wait_p95_ms"] > 10 * 60_000
    assert worst["agent_latency_p95_ms"] < 60_000, "without the wait the agent took seconds"
    llm = seeded_stack.collector.api("/api/insights/monitoring", by="model")["series"]
    assert all(p["agent_latency_p95_ms"] is None and p["human_waits"] == 0 for p in llm)
    errors = seeded_stack.collector.api("/api/insights/monitoring")["tools"]["errors"]
    assert errors and all(set(e) == {"time", "tool", "error_type", "errors"} for e in errors), "one key per field"


def test_monitoring_rejects_unknown_breakdown(seeded_stack):
    assert seeded_stack.collector.get("/api/insights/monitoring", by="Project; DROP").status_code in (400, 422)


def test_cost_per_run_by_agent(seeded_stack):
    rows = seeded_stack.collector.api("/api/insights/cost_per_run", by="agent")["rows"]
    refund = next(r for r in rows if r["agent"] == "refund-bot")
    assert refund["runs"] >= refund["successful_runs"] > 0
    assert refund["cost_per_successful_run"] >= refund["cost_per_run"] > 0


def test_top_traces_are_costliest_first(seeded_stack):
    rows = seeded_stack.collector.api("/api/insights/top_traces", limit=5)["rows"]
    assert 1 <= len(rows) <= 5
    costs = [r["cost_usd"] for r in rows]
    assert costs == sorted(costs, reverse=True)
    assert all(len(r["trace_id"]) == 32 and r["agent"] for r in rows)


def test_build_traceback_collects_span_links():
    spans = [_span("root", 0, 10, span_type="agent", links=[{"trace_id": "u" * 32, "span_id": "up", "attributes": {}}]),
             _span("step", 5, 1, "root", span_type="tool")]
    back = build_traceback(spans, "step")
    assert back["links"] == [{"from_span_id": "root", "trace_id": "u" * 32, "span_id": "up", "attributes": {}}]


def test_traceback_follows_links_to_upstream_agents(collector):
    """A planner agent's run is linked from a worker agent's run: the worker's trace-back
    lists the planner's span as an upstream agent."""
    from opentelemetry import trace as otel_trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "agents"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(
        endpoint=f"{collector.url}/v1/traces", headers={"x-api-key": collector.ingest_key})))
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span("invoke_agent planner", context=otel_trace.set_span_in_context(otel_trace.INVALID_SPAN)) as planner:
        planner.set_attributes({"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner",
                                "flightlog.output": "plan: refund order 1"})
    with tracer.start_as_current_span("invoke_agent worker", context=otel_trace.set_span_in_context(otel_trace.INVALID_SPAN),
                                      links=[otel_trace.Link(planner.get_span_context())]) as worker:
        worker.set_attributes({"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "worker"})
        with tracer.start_as_current_span("execute_tool refund") as tool:
            tool.set_attributes({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "refund"})
    provider.shutdown()
    trace_id = format(worker.get_span_context().trace_id, "032x")
    collector.wait_for_trace(trace_id, 2)
    collector.wait_for_trace(format(planner.get_span_context().trace_id, "032x"), 1)
    back = collector.api(f"/api/traces/{trace_id}/traceback", span_id=format(tool.get_span_context().span_id, "016x"))
    assert [u["agent_name"] for u in back["upstream"]] == ["planner"]
    assert back["upstream"][0]["role"] == "upstream agent"


def test_insights_respect_the_time_window(seeded_stack):
    future = {"start": "2100-01-01T00:00:00Z", "end": "2100-01-02T00:00:00Z"}
    body = seeded_stack.collector.api("/api/insights/monitoring", **future)
    assert body["series"] == [] and body["tools"]["tools"] == [] and body["checkpoints"]["series"] == []
    assert seeded_stack.collector.api("/api/insights/top_traces", **future)["rows"] == []
    assert seeded_stack.collector.api("/api/insights/cost_per_run", **future)["rows"] == []


def test_traceback_can_include_failed_runs(seeded_stack):
    trace = seeded_stack.collector.api(f"/api/traces/{seeded_stack.incident_trace_id}")
    lookup = next(s for s in trace["spans"] if s["span_name"] == "execute_tool lookup_order" and s["status_code"] != "Error")
    path = f"/api/traces/{seeded_stack.incident_trace_id}/traceback"
    healthy = seeded_stack.collector.api(path, span_id=lookup["span_id"], compare=50)["comparison"]
    every = seeded_stack.collector.api(path, span_id=lookup["span_id"], compare=50, healthy_only="false")["comparison"]
    assert all("error" not in r["differs"]["fields"] and r["profile"]["status"] != "error" for r in healthy["runs"])
    assert every["healthy_only"] is False
    assert any(r["profile"]["status"] == "error" for r in every["runs"])


def test_read_keys_see_budgets_without_webhooks(collector) -> None:
    import httpx

    put = httpx.put(collector.url + "/api/admin/budgets", headers={"Authorization": f"Bearer {collector.admin_key}"},
                    json={"scope": "project", "max_cost_usd": 2.5, "webhook_url": "http://127.0.0.1:9/hook"})
    assert put.status_code == 200, put.text
    budgets = collector.api("/api/budgets")["budgets"]
    assert [(b["scope"], b["max_cost_usd"]) for b in budgets] == [("project", 2.5)]
    assert "webhook_url" not in budgets[0]
    assert collector.get("/api/budgets", key=collector.ingest_key).status_code == 403


def test_cost_chart_draws_the_project_daily_budget_line() -> None:
    from flightlog.ui import charts

    rows = [{"day": "2026-11-01", "model": "gpt-4o", "cost_usd": 1.0}]
    assert charts.daily_cost_budget([{"scope": "agent", "max_cost_usd": 9}, {"scope": "project", "max_cost_usd": 3}]) == 3
    fig = charts.cost_by_day_figure(rows, 3.0).to_dict()
    rules = [layer for layer in fig["layer"] if layer["mark"]["type"] == "rule"]
    assert [fig["datasets"][r["data"]["name"]][0]["budget"] for r in rules] == [3.0]
    assert "layer" not in charts.cost_by_day_figure(rows).to_dict(), "no budget: no line"
