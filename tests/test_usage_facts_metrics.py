"""Over the wire with real OTLP exporters: usage counted once, run facts resolved across export
requests, and OTLP metrics (HTTP and gRPC) stored and read back.

- An agent span carrying its run's aggregate token counts (OpenInference ``llm.token_count.*`` on
  the AGENT span, as some agent frameworks send) is not counted again when its calls are: trace
  totals, the cost rollup and ``verify`` agree, whether the spans come in one request or one
  request per span (children first). Alone, the aggregate is counted.
- A child exported in a later request than its agent span is stored with the run's agent, user
  and session (so rollups and filters see them), and one exported earlier shows them on the
  trace page.
- ``gen_ai.client.token.usage`` / ``gen_ai.client.operation.duration`` histograms from the OTel
  metrics SDK (what OpenLLMetry and Logfire export by default) over ``/v1/metrics`` and the gRPC
  MetricsService.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

from conftest import RunningCollector, free_port, start_collector, wait_until

MODEL = "gpt-4o-mini"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    port = free_port()
    running = start_collector(tmp_path_factory.mktemp("usage-facts-metrics"), args=["--grpc-port", str(port)])
    running.extra["grpc_port"] = port
    yield running
    running.stop()


def _provider(collector: RunningCollector, *, per_span: bool) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": "orders-service"}))
    exporter = OTLPSpanExporter(endpoint=f"{collector.url}/v1/traces", headers={"x-api-key": collector.ingest_key})
    provider.add_span_processor(SimpleSpanProcessor(exporter) if per_span else BatchSpanProcessor(exporter))
    return provider


def _agent_with_aggregate(provider: TracerProvider, *, calls: int) -> str:
    """An OpenInference AGENT span with the run's aggregate usage over ``calls`` LLM spans."""
    tracer = provider.get_tracer("openinference.instrumentation.smolagents")
    with tracer.start_as_current_span("CodeAgent.run") as agent:
        agent.set_attributes({"openinference.span.kind": "AGENT", "llm.model_name": MODEL,
                              "llm.token_count.prompt": 300 * calls, "llm.token_count.completion": 40 * calls,
                              "input.value": "refund the cracked teapot"})
        for i in range(calls):
            with tracer.start_as_current_span("OpenAIServerModel.generate") as llm:
                llm.set_attributes({"openinference.span.kind": "LLM", "llm.model_name": MODEL,
                                    "llm.system": "openai", "llm.token_count.prompt": 300,
                                    "llm.token_count.completion": 40,
                                    "llm.input_messages.0.message.role": "user",
                                    "llm.input_messages.0.message.content": f"step {i} teapot"})
        trace_id = format(agent.get_span_context().trace_id, "032x")
    provider.force_flush()
    return trace_id


@pytest.mark.parametrize("per_span", [False, True], ids=["one-request", "children-first"])
def test_an_agents_aggregate_usage_is_not_counted_on_top_of_its_calls(live: RunningCollector, per_span: bool) -> None:
    provider = _provider(live, per_span=per_span)
    trace_id = _agent_with_aggregate(provider, calls=2)
    provider.shutdown()
    got = live.wait_for_trace(trace_id, 3)
    assert (got["input_tokens"], got["output_tokens"]) == (600, 80)
    (agent,) = [s for s in got["spans"] if s["span_type"] == "agent"]
    assert agent["agent_name"] == "CodeAgent.run" and agent["service_name"] == "orders-service"
    assert (agent["input_tokens"], agent["output_tokens"], agent["cost_usd"]) == (0, 0, 0.0)
    assert agent["span_attributes"]["flightlog.usage.aggregate"] == "input=600,output=80"
    assert agent["span_attributes"]["llm.token_count.prompt"] == "600"  # what was sent stays visible
    assert got["total_cost_usd"] == pytest.approx(2 * (300 * 0.15 + 40 * 0.6) / 1e6)


def test_an_aggregate_without_calls_is_counted(live: RunningCollector) -> None:
    provider = _provider(live, per_span=False)
    trace_id = _agent_with_aggregate(provider, calls=0)
    provider.shutdown()
    (agent,) = live.wait_for_trace(trace_id, 1)["spans"]
    assert agent["input_tokens"] == 0 and agent["output_tokens"] == 0  # calls=0: 0 × 300


def test_cost_rollup_and_verify_agree_with_the_spans(live: RunningCollector) -> None:
    provider = _provider(live, per_span=True)
    _agent_with_aggregate(provider, calls=3)
    provider.shutdown()
    live.drain()
    rows = live.api("/api/cost", group_by=["model"])["rows"]
    assert all(r["input_tokens"] == 0 for r in rows if r["model"] == ""), rows
    report = live.get("/api/audit/verify", key=live.admin_key).json()
    assert report["ok"], report


def test_a_child_exported_after_its_agent_span_is_stored_with_the_runs_facts(live: RunningCollector) -> None:
    provider = _provider(live, per_span=True)
    tracer = provider.get_tracer("refund-bot")
    agent = tracer.start_span("invoke_agent late-bot", attributes={
        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "late-bot", "gen_ai.agent.version": "3.1",
        "user.id": "u-late", "gen_ai.conversation.id": "s-late"})
    agent.end()  # exported now, in a request of its own
    with tracer.start_as_current_span("chat", context=trace.set_span_in_context(agent)) as llm:
        llm.set_attributes({"gen_ai.operation.name": "chat", "gen_ai.request.model": MODEL,
                            "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5})
        trace_id = format(llm.get_span_context().trace_id, "032x")
    provider.shutdown()
    live.wait_for_trace(trace_id, 2)
    # stored with them: the filters and the rollups see the child under the run's agent and user
    found = live.api("/api/spans", agent="late-bot", user="u-late", session="s-late", span_type="llm")
    assert [i["agent_version"] for i in found["items"]] == ["3.1"]
    by_agent = {r["agent"]: r for r in live.api("/api/cost", group_by=["agent"])["rows"]}
    assert by_agent["late-bot"]["input_tokens"] == 10


def test_a_child_exported_before_its_agent_span_shows_the_runs_facts(live: RunningCollector) -> None:
    provider = _provider(live, per_span=True)
    tracer = provider.get_tracer("refund-bot")
    with tracer.start_as_current_span("invoke_agent early-bot") as agent:
        with tracer.start_as_current_span("chat") as llm:
            llm.set_attributes({"gen_ai.operation.name": "chat", "gen_ai.request.model": MODEL})
        agent.set_attributes({"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "early-bot",
                              "user.id": "u-early"})
        trace_id = format(agent.get_span_context().trace_id, "032x")
    provider.shutdown()
    spans = live.wait_for_trace(trace_id, 2)["spans"]
    assert {(s["agent_name"], s["user_id"]) for s in spans} == {("early-bot", "u-early")}
    found = live.api("/api/spans", agent="early-bot", trace_id=trace_id)
    assert found["total"] == 2 and {i["agent_name"] for i in found["items"]} == {"early-bot"}


def _record_genai_metrics(exporter) -> None:
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    meter_provider = MeterProvider(metric_readers=[reader],
                                   resource=Resource.create({"service.name": "refund-bot"}))
    meter = meter_provider.get_meter("opentelemetry.instrumentation.openai")
    tokens = meter.create_histogram("gen_ai.client.token.usage", unit="{token}", description="tokens used")
    duration = meter.create_histogram("gen_ai.client.operation.duration", unit="s")
    common = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": MODEL,
              "gen_ai.response.model": MODEL}
    for prompt, completion in ((44, 25), (44, 9), (72, 29)):
        tokens.record(prompt, {**common, "gen_ai.token.type": "input"})
        tokens.record(completion, {**common, "gen_ai.token.type": "output"})
        duration.record(0.25, common)
    meter_provider.force_flush()
    meter_provider.shutdown()


def _token_usage(collector: RunningCollector, service: str) -> dict[str, dict]:
    def check():
        answer = collector.api("/api/metrics/series", name="gen_ai.client.token.usage", group_by="token_type")
        return answer if answer["groups"] else None

    answer = wait_until(check, what="token usage points")
    return {g["group"]: g for g in answer["groups"]}


def test_genai_metrics_over_http_are_stored_and_read_back(tmp_path: Path) -> None:
    collector = start_collector(tmp_path / "c")
    try:
        _record_genai_metrics(HttpMetricExporter(endpoint=f"{collector.url}/v1/metrics",
                                                 headers={"x-api-key": collector.ingest_key}))
        groups = _token_usage(collector, "refund-bot")
        assert (groups["input"]["count"], groups["input"]["sum"]) == (3, 160)
        assert (groups["output"]["count"], groups["output"]["sum"]) == (3, 63)
        assert groups["input"]["type"] == "Histogram" and groups["input"]["max"] == 72
        names = {m["name"]: m for m in collector.api("/api/metrics")["metrics"]}
        assert set(names) == {"gen_ai.client.token.usage", "gen_ai.client.operation.duration"}
        duration = collector.api("/api/metrics/series", name="gen_ai.client.operation.duration")
        assert [(g["group"], g["count"]) for g in duration["groups"]] == [(MODEL, 3)]
        assert duration["groups"][0]["average"] == pytest.approx(0.25)
        assert collector.get("/api/metrics/series", name="x", group_by="colour").status_code == 400
        # an unauthenticated export is refused like a trace export
        bare = collector.post("/v1/metrics", b"", "application/x-protobuf", key="")
        assert bare.status_code == 401
    finally:
        collector.stop()


def test_genai_metrics_over_grpc(live: RunningCollector) -> None:
    _record_genai_metrics(GrpcMetricExporter(endpoint=f"127.0.0.1:{live.extra['grpc_port']}", insecure=True,
                                             headers=(("x-api-key", live.ingest_key),)))
    groups = _token_usage(live, "refund-bot")
    assert (groups["input"]["count"], groups["output"]["sum"]) == (3, 63)
