"""Tests for ``llm_call``: the GenAI attributes it writes, the prompt hash, streaming, and
reading OpenAI and Anthropic responses (output, usage with cache and reasoning tokens, ids).

The collector's mapping and pricing read exactly these keys, so a change here is a change in
what the store and the cost pages show.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time

import pytest
from opentelemetry.trace import SpanKind

import flightlog


def test_llm_call_writes_genai_attributes(exporter):
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    with flightlog.llm_call("gpt-4o", provider="openai", prompt_id="greet", prompt_version="3",
                            messages=messages, temperature=0.2, max_tokens=100) as call:
        call.set_output("hello!")
        call.set_usage(input_tokens=12, output_tokens=3)
        call.set_response_model("gpt-4o-2024-08-06")
        call.set_finish_reason("stop")
        call.set_cost(0.0021)
    (span,) = exporter.get_finished_spans()
    a = span.attributes
    assert span.name == "chat gpt-4o"
    assert span.kind is SpanKind.CLIENT
    assert a["flightlog.span.type"] == "llm"
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-4o"
    assert a["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    assert a["gen_ai.request.temperature"] == 0.2
    assert a["gen_ai.request.max_tokens"] == 100
    assert a["gen_ai.usage.input_tokens"] == 12
    assert a["gen_ai.usage.output_tokens"] == 3
    assert tuple(a["gen_ai.response.finish_reasons"]) == ("stop",)
    assert a["flightlog.cost.usd"] == pytest.approx(0.0021)
    assert a["flightlog.prompt.id"] == "greet"
    assert a["flightlog.prompt.version"] == "3"
    assert json.loads(a["gen_ai.input.messages"]) == [
        {"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
        {"role": "user", "parts": [{"type": "text", "content": "hi"}]},
    ]
    assert json.loads(a["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "hello!"}], "finish_reason": "stop"},
    ]
    expected_hash = hashlib.sha256(a["gen_ai.input.messages"].encode()).hexdigest()
    assert a["flightlog.prompt.hash"] == expected_hash


def test_llm_call_prompt_hash_is_sha256_of_template_when_given(exporter):
    template = "Answer {question} briefly."
    with flightlog.llm_call("m", prompt_template=template, prompt_variables={"question": "why"},
                            messages="Answer why briefly."):
        pass
    (span,) = exporter.get_finished_spans()
    assert span.attributes["flightlog.prompt.hash"] == hashlib.sha256(template.encode()).hexdigest()
    assert span.attributes["flightlog.prompt.template"] == template
    assert json.loads(span.attributes["flightlog.prompt.variables"]) == {"question": "why"}


def test_llm_call_prompt_hash_changes_when_unversioned_prompt_changes(exporter):
    for text in ("You are helpful.", "You are helpful!"):
        with flightlog.llm_call("m", messages=text):
            pass
    first, second = exporter.get_finished_spans()
    assert first.attributes["flightlog.prompt.hash"] != second.attributes["flightlog.prompt.hash"]


def test_streaming_generator_records_time_to_first_chunk(exporter):
    marks = {}

    @flightlog.llm_call("stream-model")
    def stream(prompt):
        sum(range(200_000))  # the model "thinks" before the first chunk
        marks["first"] = time.time_ns()
        yield "a"
        sum(range(200_000))
        marks["second"] = time.time_ns()
        yield "b"

    assert list(stream("hi")) == ["a", "b"]
    (span,) = exporter.get_finished_spans()
    ttfc_ns = span.attributes["gen_ai.response.time_to_first_chunk"] * 1e9
    assert span.attributes["gen_ai.request.stream"] is True
    assert marks["first"] - span.start_time <= ttfc_ns < marks["second"] - span.start_time


def test_async_streaming_generator_and_mark_first_chunk(exporter):
    @flightlog.llm_call("astream-model")
    async def astream(prompt):
        yield "x"
        yield "y"

    async def consume():
        return [chunk async for chunk in astream("hi")]

    assert asyncio.run(consume()) == ["x", "y"]
    with flightlog.llm_call("manual-stream") as call:
        call.mark_first_chunk()
        first = time.time_ns()
        sum(range(200_000))
        call.mark_first_chunk()  # later chunks do not move it
    streamed, manual = exporter.get_finished_spans()
    assert 0 <= streamed.attributes["gen_ai.response.time_to_first_chunk"] * 1e9 <= streamed.end_time - streamed.start_time
    assert manual.attributes["gen_ai.response.time_to_first_chunk"] * 1e9 <= first - manual.start_time
    with flightlog.llm_call("not-streamed"):
        pass
    assert "gen_ai.request.stream" not in exporter.get_finished_spans()[-1].attributes


OPENAI_RESPONSE = {
    "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT", "model": "gpt-4o-2024-08-06",
    "choices": [{"index": 0, "finish_reason": "tool_calls",
                 "message": {"role": "assistant", "content": None,
                             "tool_calls": [{"id": "c1", "type": "function",
                                             "function": {"name": "search", "arguments": "{\"q\": \"x\"}"}}]}}],
    "usage": {"prompt_tokens": 50, "completion_tokens": 7, "total_tokens": 57},
}
ANTHROPIC_RESPONSE = {
    "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF", "model": "claude-sonnet-4", "role": "assistant", "stop_reason": "end_turn",
    "content": [{"type": "text", "text": "Hello."}],
    "usage": {"input_tokens": 30, "output_tokens": 4},
}


class FakeSDKObject:
    """Stands in for a pydantic response object of a provider SDK."""

    def __init__(self, data):
        self.data = data

    def model_dump(self):
        return self.data


def to_dict(response):
    return response.model_dump() if isinstance(response, FakeSDKObject) else response


@pytest.mark.parametrize("response,model,tokens,reasons,first_part", [
    (OPENAI_RESPONSE, "gpt-4o-2024-08-06", (50, 7), ("tool_calls",),
     {"type": "tool_call", "id": "c1", "name": "search", "arguments": {"q": "x"}}),
    (FakeSDKObject(OPENAI_RESPONSE), "gpt-4o-2024-08-06", (50, 7), ("tool_calls",),
     {"type": "tool_call", "id": "c1", "name": "search", "arguments": {"q": "x"}}),
    (ANTHROPIC_RESPONSE, "claude-sonnet-4", (30, 4), ("end_turn",), {"type": "text", "content": "Hello."}),
])
def test_set_response_reads_provider_responses(exporter, response, model, tokens, reasons, first_part):
    with flightlog.llm_call("m") as call:
        call.set_response(response)
    (span,) = exporter.get_finished_spans()
    a = span.attributes
    assert a["gen_ai.response.model"] == model
    assert a["gen_ai.response.id"] == to_dict(response)["id"]  # to find the call in the provider's logs
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == tokens
    assert tuple(a["gen_ai.response.finish_reasons"]) == reasons
    (message,) = json.loads(a["gen_ai.output.messages"])
    assert message["parts"][0] == first_part
    assert message["finish_reason"] == reasons[0]


@pytest.mark.parametrize("usage,expected", [
    # OpenAI: prompt_tokens already include the cached ones
    ({"prompt_tokens": 1000, "completion_tokens": 300, "prompt_tokens_details": {"cached_tokens": 600},
      "completion_tokens_details": {"reasoning_tokens": 200}},
     {"gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 300,
      "gen_ai.usage.cache_read.input_tokens": 600, "gen_ai.usage.reasoning.output_tokens": 200}),
    # Anthropic: input_tokens leave out cache reads and writes; the GenAI count includes them
    ({"input_tokens": 100, "output_tokens": 20, "cache_read_input_tokens": 700, "cache_creation_input_tokens": 200},
     {"gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 20,
      "gen_ai.usage.cache_read.input_tokens": 700, "gen_ai.usage.cache_creation.input_tokens": 200}),
])
def test_set_response_reads_cache_and_reasoning_token_details(exporter, usage, expected):
    response = {"model": "m", "usage": usage}
    response.update({"choices": [{"message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]}
                    if "prompt_tokens" in usage else {"content": [{"type": "text", "text": "ok"}], "role": "assistant"})
    with flightlog.llm_call("m") as call:
        call.set_response(response)
    (span,) = exporter.get_finished_spans()
    assert {k: v for k, v in span.attributes.items() if k.startswith("gen_ai.usage.")} == expected


def test_set_usage_details_are_validated_and_recorded(exporter, caplog):
    with flightlog.llm_call("m") as call:
        call.set_usage(input_tokens=10, output_tokens=5, cache_read_input_tokens=4, reasoning_tokens=2)
    with flightlog.llm_call("n") as call:
        call.set_usage(input_tokens=10, cache_read_input_tokens=-1)  # rejected as a whole, with a warning
    first, second = exporter.get_finished_spans()
    assert first.attributes["gen_ai.usage.cache_read.input_tokens"] == 4
    assert first.attributes["gen_ai.usage.reasoning.output_tokens"] == 2
    assert "gen_ai.usage.input_tokens" not in second.attributes
    assert "cache_read_input_tokens=-1" in caplog.text


def test_decorated_llm_function_returning_a_response_object_is_read(exporter):
    @flightlog.llm_call("claude")
    def ask(prompt):
        return FakeSDKObject(ANTHROPIC_RESPONSE)

    ask("hi")
    (span,) = exporter.get_finished_spans()
    assert span.attributes["gen_ai.usage.output_tokens"] == 4
