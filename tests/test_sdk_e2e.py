"""End-to-end test of the flightlog SDK against a real collector: SDK → OTLP/HTTP → collector →
store → query API. N spans in gives N rows out, with the SDK's attributes in the agent columns."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider

import flightlog

pytestmark = pytest.mark.slow


def test_sdk_spans_arrive_in_the_store_with_agent_columns(collector):
    flightlog.init(endpoint=collector.url, api_key=collector.ingest_key, tracer_provider=TracerProvider(),
                   agent_version="3.1")
    try:
        with pytest.raises(flightlog.BudgetExceeded):
            with flightlog.agent_run("e2e-bot", user_id="u-42", session_id="s-7", input="hello",
                                     limits=flightlog.Limits(max_llm_calls=1)) as run:
                trace_id = format(run.span.get_span_context().trace_id, "032x")
                with flightlog.llm_call("gpt-4o", provider="openai", prompt_id="greet", prompt_version="2",
                                        messages="say hi") as call:
                    call.set_output("hi!")
                    call.set_usage(input_tokens=11, output_tokens=2)
                    call.set_cost(0.5)
                with flightlog.tool_call("lookup", arguments={"id": 1}) as tool:
                    tool.set_result("found")
                flightlog.checkpoint("send reply", tier=3, approver=lambda r: True, timeout_s=5)
                with flightlog.llm_call("gpt-4o"):  # refused: max_llm_calls=1
                    pass
        assert flightlog.flush(timeout_s=30)
    finally:
        flightlog.shutdown()

    spans = collector.wait_for_trace(trace_id, 5)["spans"]
    assert len(spans) == 5
    by_type = {}
    for span in spans:
        by_type.setdefault(span["span_type"], []).append(span)
        assert span["agent_name"] == "e2e-bot"
        assert span["agent_version"] == "3.1"
        assert span["user_id"] == "u-42"
        assert span["session_id"] == "s-7"
    assert sorted(by_type) == ["agent", "checkpoint", "llm", "tool"]
    answered = next(s for s in by_type["llm"] if s["input_tokens"])
    assert (answered["request_model"], answered["provider"]) == ("gpt-4o", "openai")
    assert (answered["input_tokens"], answered["output_tokens"]) == (11, 2)
    assert answered["cost_usd"] == pytest.approx(0.5)
    assert (answered["prompt_id"], answered["prompt_version"]) == ("greet", "2")
    assert len(answered["prompt_hash"]) == 64
    refused = next(s for s in by_type["llm"] if not s["input_tokens"])
    assert "max_llm_calls" in refused["violation"]
    assert by_type["tool"][0]["tool_name"] == "lookup"
    decided = by_type["tool"][0]["span_attributes"]  # the call that chose the tool, kept as sent
    assert decided["flightlog.decided_by.model"] == "gpt-4o"
    assert decided["flightlog.decided_by.prompt.version"] == "2"
    assert decided["flightlog.decided_by.span_id"] == answered["span_id"]
    assert by_type["checkpoint"][0]["checkpoint_decision"] == "approved"
    assert "max_llm_calls" in by_type["agent"][0]["violation"]


def test_provider_usage_details_price_cache_reads_and_writes_at_their_rates(collector):
    """An Anthropic response that read and wrote the prompt cache: the SDK reports all input
    tokens (cache reads and writes included, as the GenAI conventions count them) and each part
    apart, so the collector charges them at the cached and cache-write rates of the shipped
    price table."""
    flightlog.init(endpoint=collector.url, api_key=collector.ingest_key, tracer_provider=TracerProvider())
    try:
        with flightlog.agent_run("cache-bot") as run:
            trace_id = format(run.span.get_span_context().trace_id, "032x")
            with flightlog.llm_call("claude-sonnet-4-5") as call:
                call.set_response({
                    "id": "msg_01", "model": "claude-sonnet-4-5", "role": "assistant", "stop_reason": "end_turn",
                    "content": [{"type": "text", "text": "Cached answer."}],
                    "usage": {"input_tokens": 200_000, "cache_read_input_tokens": 800_000,
                              "cache_creation_input_tokens": 100_000, "output_tokens": 0},
                })
        assert flightlog.flush(timeout_s=30)
    finally:
        flightlog.shutdown()
    spans = collector.wait_for_trace(trace_id, 2)["spans"]
    llm = next(s for s in spans if s["span_type"] == "llm")
    assert llm["input_tokens"] == 1_100_000
    assert llm["span_attributes"]["gen_ai.usage.cache_read.input_tokens"] in (800_000, "800000")
    # claude-sonnet-4*: $3 per million input, $0.30 per million cache reads, $3.75 per million cache writes
    assert llm["cost_usd"] == pytest.approx(0.2 * 3.0 + 0.8 * 0.3 + 0.1 * 3.75)
    assert llm["cost_source"] == "computed"
