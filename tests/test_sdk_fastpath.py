"""The SDK's fast paths give exactly the text of the general paths they short-cut.

``text_messages_json``/``text_output_json`` encode plain-text chat messages without building the
GenAI parts; ``to_message`` skips its copying pass for plain-text dicts; ``template_hash`` caches
the SHA-256 of prompt templates; an ``llm_call`` encodes its input messages once for both the
prompt hash and the attribute. Each is checked against the general path here, plus the split of
the step machinery into modules keeping the public API.
"""

from __future__ import annotations

import hashlib
import json
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import flightlog
from flightlog._content import (
    dumps,
    format_content,
    sha256_hex,
    template_hash,
    text_messages_json,
    text_output_json,
    to_message,
    to_messages,
    to_output_messages,
)

roles = st.none() | st.just("") | st.sampled_from(["user", "system", "assistant", "tool"]) | st.text(max_size=8)
plain_message = st.fixed_dictionaries({"content": st.text()}, optional={"role": roles})
plain_messages = st.one_of(
    st.text(),
    plain_message,
    st.lists(plain_message | st.text(), min_size=1, max_size=5),
    st.lists(plain_message, min_size=1, max_size=3).map(tuple),
)


def _general(messages, *, default_role):
    """``to_messages`` forced down its general path (a non-dict Mapping skips the fast case)."""
    if isinstance(messages, dict):
        messages = MappingProxyType(messages)
    elif isinstance(messages, (list, tuple)):
        messages = [MappingProxyType(m) if isinstance(m, dict) else m for m in messages]
    return to_messages(messages, default_role=default_role)


@given(plain_messages, st.sampled_from(["user", "assistant"]))
def test_text_messages_json_equals_the_general_encoding(messages, default_role):
    fast = text_messages_json(messages, default_role=default_role)
    assert fast is not None
    assert fast == dumps(_general(messages, default_role=default_role), ready=True)
    assert fast == json.dumps(to_messages(messages, default_role=default_role), ensure_ascii=False,
                              separators=(",", ":"))


@pytest.mark.parametrize("messages", [
    [],
    (),
    None,
    [{"role": "user", "content": None}],
    [{"role": "user", "content": ["part"]}],
    [{"role": "user", "content": "x", "name": "bob"}],
    [{"role": "tool", "tool_call_id": "c1", "content": "42"}],
    [{"role": 3, "content": "x"}],
    [{1: "x", "content": "y"}],
    [{"role": "user", "parts": [{"type": "text", "content": "p"}]}],
    (m for m in ["generator"]),
    [MappingProxyType({"role": "user", "content": "x"})],
    42,
])
def test_text_messages_json_declines_anything_but_plain_text(messages):
    assert text_messages_json(messages, default_role="user") is None


@given(plain_message, st.sampled_from(["user", "assistant"]))
def test_to_message_fast_case_equals_the_general_case(message, default_role):
    assert to_message(message, default_role=default_role) == to_message(MappingProxyType(message),
                                                                         default_role=default_role)


@given(st.text(), st.none() | st.just("") | st.sampled_from(["stop", "length", "tool_calls"]))
def test_text_output_json_equals_the_general_encoding(text, reason):
    assert text_output_json(text, finish_reason=reason) == dumps(to_output_messages(text, finish_reason=reason),
                                                                 ready=True)


def test_template_hash_is_sha256_and_cached_per_distinct_template():
    template = "Answer {question} politely. " * 3
    assert template_hash(template) == hashlib.sha256(template.encode()).hexdigest() == sha256_hex(template)
    assert template_hash("".join([template])) == sha256_hex(template)  # equal text, other object: same hash
    huge = "x" * 100_000  # too big to cache, still hashed
    assert template_hash(huge) == hashlib.sha256(huge.encode()).hexdigest()


@given(st.text(), st.none() | st.integers(min_value=1, max_value=20))
def test_format_content_plain_string_fast_case_is_truncation(text, limit):
    out, changed = format_content(text, redact=None, max_length=limit)
    assert not changed
    assert out == (text if not limit or len(text) <= limit else f"{text[:limit]}…[truncated {len(text) - limit} chars]")


@pytest.fixture
def spans_with():
    def start(**kwargs):
        exporter = InMemorySpanExporter()  # init() again shuts the previous pipeline's exporter down
        flightlog.init(tracer_provider=TracerProvider(), exporter=exporter, batch=False, **kwargs)
        return exporter

    yield start
    flightlog.shutdown()


MESSAGES = [{"role": "system", "content": "You are terse. Card 1234-5678."}, {"role": "user", "content": "héllo \"q\""}]


def _llm_span(exporter, messages=MESSAGES, output="done 42", **kwargs):
    with flightlog.llm_call("m", messages=messages, **kwargs) as call:
        call.set_output(output)
    return exporter.get_finished_spans()[-1].attributes


def test_llm_call_hash_and_input_messages_come_from_one_encoding(spans_with):
    a = _llm_span(spans_with())
    expected = json.dumps(to_messages(MESSAGES, default_role="user"), ensure_ascii=False, separators=(",", ":"))
    assert a["gen_ai.input.messages"] == expected
    assert a["flightlog.prompt.hash"] == hashlib.sha256(expected.encode()).hexdigest()
    assert json.loads(a["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "done 42"}], "finish_reason": "stop"}]


@pytest.mark.parametrize("settings", [{"redact": [r"\d{4}-\d{4}", r"\d+"]}, {"redact": lambda s: s.upper()},
                                      {"max_attribute_length": 12}, {"capture_content": False}])
def test_llm_call_prompt_hash_ignores_redaction_truncation_and_capture(spans_with, settings):
    plain = _llm_span(spans_with())
    controlled = _llm_span(spans_with(**settings))
    assert controlled["flightlog.prompt.hash"] == plain["flightlog.prompt.hash"]
    if "redact" in settings:
        assert controlled["flightlog.redacted"] is True
        assert controlled["gen_ai.input.messages"] != plain["gen_ai.input.messages"]
        if isinstance(settings["redact"], list):
            assert not any(c.isdigit() for c in controlled["gen_ai.input.messages"] + controlled["gen_ai.output.messages"])
    if "max_attribute_length" in settings:
        assert controlled["gen_ai.input.messages"].startswith(plain["gen_ai.input.messages"][:12] + "…[truncated ")
    if settings.get("capture_content") is False:
        assert "gen_ai.input.messages" not in controlled and "gen_ai.output.messages" not in controlled


def test_llm_call_records_the_same_attributes_on_fast_and_general_paths(spans_with):
    exporter = spans_with()
    fast = dict(_llm_span(exporter))
    general = dict(_llm_span(exporter, messages=[MappingProxyType(m) for m in MESSAGES],
                             output=[{"role": "assistant", "content": "done 42"}]))
    assert general.pop("gen_ai.response.finish_reasons") == ("stop",)  # derived from a message output only
    assert fast == general


PUBLIC_API = [
    "AgentPaused", "AgentRun", "Approval", "BudgetExceeded", "CheckpointRequest", "Config", "ConfigurationError",
    "Decision", "EvalReport", "EvaluationError", "FlightlogError", "Handoff", "Inbox", "LLMCall", "Limits",
    "PolicyDenied", "Retrieval", "ToolCall", "__version__", "acheckpoint", "agent_run", "bind_context", "checkpoint",
    "current_run", "current_span", "evaluate", "exporter_stats", "extract", "flush", "handoff", "inbox", "init", "inject", "llm_call", "retrieval", "shutdown",
    "start_thread", "tool_call",
]


def test_public_api_is_unchanged_by_the_module_split():
    assert flightlog.__all__ == PUBLIC_API


def test_a_lone_surrogate_in_a_message_does_not_lose_the_end_attributes() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import flightlog

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    flightlog.init(tracer_provider=provider, exporter=memory, agent_name="t")
    with flightlog.llm_call("gpt-4o", messages=[{"role": "user", "content": "odd \ud800 text"}]) as call:
        call.set_output("fine")
        call.set_usage(input_tokens=3, output_tokens=1)
    attrs = [s for s in memory.get_finished_spans() if s.name == "chat gpt-4o"][-1].attributes
    assert attrs["gen_ai.usage.output_tokens"] == 1 and attrs["flightlog.prompt.hash"]
    flightlog.shutdown()
