"""End to end over the wire: real OTLP/HTTP exporters → collector → query API.

Spans are built with the plain OpenTelemetry SDK in the shapes OpenInference and the OTel
GenAI instrumentations emit, exported with ``opentelemetry-exporter-otlp-proto-http``, and
read back through ``/api``.
"""

from __future__ import annotations

import json

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from conftest import RunningCollector


def _provider(collector: RunningCollector, service: str) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": service, "service.version": "4.2.0"}))
    exporter = OTLPSpanExporter(endpoint=f"{collector.url}/v1/traces", headers={"x-api-key": collector.ingest_key})
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def _genai_trace(provider: TracerProvider) -> str:
    tracer = provider.get_tracer("refund-bot")
    with tracer.start_as_current_span("invoke_agent refund-bot") as root:
        root.set_attributes({"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "refund-bot",
                             "gen_ai.agent.version": "2.3.0", "user.id": "u-17", "gen_ai.conversation.id": "s-9"})
        with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT) as llm:
            llm.set_attributes({
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 300,
                "flightlog.prompt.id": "refund-policy", "flightlog.prompt.version": "v7",
                "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [
                    {"type": "text", "content": "Please refund the marmalade jar on order 88123"}]}]),
                "gen_ai.output.messages": json.dumps([{"role": "assistant", "finish_reason": "tool_call", "parts": [
                    {"type": "tool_call", "id": "call_1", "name": "issue_refund", "arguments": {"amount": 4950.0}}]}]),
            })
        with tracer.start_as_current_span("execute_tool issue_refund") as tool:
            tool.set_attributes({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "issue_refund",
                                 "gen_ai.tool.call.id": "call_1",
                                 "gen_ai.tool.call.arguments": json.dumps({"order_id": "88123", "amount": 4950.0}),
                                 "gen_ai.tool.call.result": json.dumps({"status": "refunded"})})
        return format(root.get_span_context().trace_id, "032x")


def _openinference_trace(provider: TracerProvider) -> str:
    tracer = provider.get_tracer("openinference.instrumentation.openai")
    with tracer.start_as_current_span("agent") as root:
        root.set_attribute("openinference.span.kind", "AGENT")
        root.set_attribute("input.value", "find the quarterly revenue")
        with tracer.start_as_current_span("ChatCompletion") as llm:
            llm.set_attributes({
                "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini", "llm.system": "openai",
                "llm.token_count.prompt": 500, "llm.token_count.completion": 100,
                "llm.prompt_template.version": "r3",
                "llm.input_messages.0.message.role": "user",
                "llm.input_messages.0.message.content": "What was the quarterly revenue of Zanzibar Ltd?",
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.content": "Let me query the warehouse.",
            })
        with tracer.start_as_current_span("run_sql") as tool:
            tool.set_attributes({"openinference.span.kind": "TOOL", "tool.name": "run_sql",
                                 "input.value": json.dumps({"sql": "select sum(revenue) from q3"}),
                                 "output.value": "[[1234.5]]"})
            tool.set_status(Status(StatusCode.ERROR, "warehouse timeout"))
        return format(root.get_span_context().trace_id, "032x")


def test_genai_spans_from_the_otlp_http_exporter_are_stored_and_queryable(collector: RunningCollector) -> None:
    provider = _provider(collector, "refund-bot")
    trace_id = _genai_trace(provider)
    provider.shutdown()

    trace = collector.wait_for_trace(trace_id, 3)
    names = [(s["depth"], s["span_name"]) for s in trace["spans"]]
    assert names == [(0, "invoke_agent refund-bot"), (1, "chat gpt-4o"), (1, "execute_tool issue_refund")]
    root, llm, tool = trace["spans"]
    assert root["span_type"] == "agent" and root["agent_name"] == "refund-bot"
    assert llm["span_type"] == "llm"
    assert llm["response_model"] == "gpt-4o-2024-08-06" and llm["provider"] == "openai"
    assert llm["prompt_id"] == "refund-policy" and llm["prompt_version"] == "v7"
    assert (llm["input_tokens"], llm["output_tokens"]) == (1200, 300)
    assert llm["cost_usd"] > 0 and llm["cost_source"] == "computed"
    assert "marmalade" in llm["input_text"]
    assert tool["tool_name"] == "issue_refund"
    assert json.loads(tool["tool_args"]) == {"order_id": "88123", "amount": 4950.0}
    assert llm["span_attributes"]["gen_ai.request.model"] == "gpt-4o"  # raw attributes kept

    found = collector.api("/api/spans", q="Marmalade")
    assert [i["span_id"] for i in found["items"]] == [llm["span_id"]] and found["total"] == 1


def test_openinference_spans_are_mapped_to_the_same_columns(collector: RunningCollector) -> None:
    provider = _provider(collector, "analyst")
    trace_id = _openinference_trace(provider)
    provider.shutdown()

    trace = collector.wait_for_trace(trace_id, 3)
    by_name = {s["span_name"]: s for s in trace["spans"]}
    llm, tool = by_name["ChatCompletion"], by_name["run_sql"]
    assert llm["span_type"] == "llm" and llm["request_model"] == "gpt-4o-mini"
    assert (llm["input_tokens"], llm["output_tokens"]) == (500, 100)
    assert llm["prompt_version"] == "r3"
    assert tool["span_type"] == "tool" and tool["tool_name"] == "run_sql"
    assert tool["status_code"] == "Error" and tool["status_message"] == "warehouse timeout"
    assert trace["error_count"] == 1

    assert collector.api("/api/spans", q="zanzibar revenue")["total"] == 1
    assert collector.api("/api/spans", status="error")["items"][0]["span_name"] == "run_sql"
    assert collector.api("/api/spans", prompt_version="r3")["total"] == 1


def test_cost_endpoint_groups_by_model_and_day(collector: RunningCollector) -> None:
    provider = _provider(collector, "refund-bot")
    _genai_trace(provider)
    _openinference_trace(provider)
    provider.shutdown()

    rows = collector.api("/api/cost", group_by=["model", "day"])["rows"]
    by_model = {r["model"]: r for r in rows if r["model"]}
    assert set(by_model) == {"gpt-4o-2024-08-06", "gpt-4o-mini"}
    assert by_model["gpt-4o-2024-08-06"]["input_tokens"] == 1200
    assert by_model["gpt-4o-mini"]["output_tokens"] == 100
    assert all(r["day"] for r in rows)
    agents = collector.api("/api/cost", group_by="agent")["rows"]
    assert sum(r["cost_usd"] for r in agents) == sum(r["cost_usd"] for r in rows)


def test_search_finds_a_word_deep_inside_a_long_text(collector: RunningCollector) -> None:
    provider = _provider(collector, "long-bot")
    with provider.get_tracer("t").start_as_current_span("chat gpt-4o") as span:
        span.set_attributes({"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                             "flightlog.input": "lorem ipsum dolor " * 500 + "the word platypus comes last"})
    provider.shutdown()
    found = collector.api("/api/spans", q="platypus")
    assert found["total"] == 1 and len(found["items"]) == 1
    assert len(found["items"][0]["input_text"]) <= 400  # list items carry a snippet only
