"""Tests for the flightlog SDK's content handling (flightlog._content and its use on spans):
GenAI message conversion, JSON encoding, redaction hooks, truncation, and capture_content=False.
"""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import flightlog
from flightlog._content import (
    REDACTED,
    compile_redactor,
    dumps,
    format_content,
    to_messages,
    to_output_messages,
    truncate,
)


@pytest.mark.parametrize("given,expected", [
    ("hi", [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]),
    ({"role": "system", "content": "rules"}, [{"role": "system", "parts": [{"type": "text", "content": "rules"}]}]),
    ([{"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "u"}}]}],
     [{"role": "user", "parts": [{"type": "text", "content": "look"},
                                 {"type": "image_url", "image_url": {"url": "u"}}]}]),
    ([{"role": "assistant", "content": None,
       "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "search", "arguments": "{\"q\": 1}"}}]}],
     [{"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "search", "arguments": {"q": 1}}]}]),
    ([{"role": "tool", "tool_call_id": "c1", "content": "42"}],
     [{"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "42"}]}]),
    ([{"role": "user", "parts": [{"type": "text", "content": "already"}]}],
     [{"role": "user", "parts": [{"type": "text", "content": "already"}]}]),
    ([{"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "calc", "input": {"x": 2}}]}],
     [{"role": "assistant", "parts": [{"type": "tool_call", "id": "t1", "name": "calc", "arguments": {"x": 2}}]}]),
    (None, []),
])
def test_to_messages_converts_common_shapes_to_genai_parts(given, expected):
    assert to_messages(given, default_role="user") == expected


@pytest.mark.parametrize("given,reason,expected_reason", [
    ("done", None, "stop"),
    ("cut", "length", "length"),
    ({"role": "assistant", "content": "x", "finish_reason": "tool_calls"}, None, "tool_calls"),
])
def test_output_messages_carry_a_finish_reason(given, reason, expected_reason):
    (message,) = to_output_messages(given, finish_reason=reason)
    assert message["role"] == "assistant"
    assert message["finish_reason"] == expected_reason


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Model:
    def model_dump(self):
        return {"kind": "pydantic-like"}


@pytest.mark.parametrize("value,expected", [
    ({"a": 1}, '{"a":1}'),
    (Point(1, 2), '{"x":1,"y":2}'),
    (Model(), '{"kind":"pydantic-like"}'),
    ({"é": "ü"}, '{"é":"ü"}'),
    ((1, 2), "[1,2]"),
])
def test_dumps_encodes_common_objects(value, expected):
    assert dumps(value) == expected


def test_dumps_never_raises_on_odd_objects():
    assert "object" in dumps(object())
    assert dumps({1: {2}}) == '{"1":[2]}'


@pytest.mark.parametrize("text,limit,expected", [
    ("abcdef", 10, "abcdef"),
    ("abcdef", 6, "abcdef"),
    ("abcdefghij", 4, "abcd…[truncated 6 chars]"),
    ("abc", None, "abc"),
])
def test_truncate_marks_what_was_cut(text, limit, expected):
    assert truncate(text, limit) == expected


@pytest.mark.parametrize("redact,text,expected", [
    (r"\d{4}-\d{4}", "card 1234-5678 ok", f"card {REDACTED} ok"),
    ([r"[\w.]+@[\w.]+", re.compile("sk-[a-z]+")], "mail a@b.io key sk-abc", f"mail {REDACTED} key {REDACTED}"),
    (lambda s: s.upper(), "quiet", "QUIET"),
])
def test_compile_redactor_accepts_regexes_and_callables(redact, text, expected):
    assert compile_redactor(redact)(text) == expected


def test_format_content_redacts_leaves_before_encoding_json():
    text, changed = format_content({"email": "a@b.io", "n": 3}, redact=compile_redactor(r"a@b\.io"),
                                   max_length=None, as_json=True)
    assert json.loads(text) == {"email": REDACTED, "n": 3}
    assert changed


def test_failing_redaction_hook_fails_closed():
    def broken(text):
        raise RuntimeError("oops")

    text, changed = format_content("secret", redact=broken, max_length=None)
    assert text == "[REDACTION FAILED]" and changed


@pytest.fixture
def spans_with(request):
    exporter = InMemorySpanExporter()

    def start(**kwargs):
        flightlog.init(tracer_provider=TracerProvider(), exporter=exporter, batch=False, **kwargs)
        return exporter

    yield start
    flightlog.shutdown()


def run_everything():
    with flightlog.agent_run("bot", input="my email is a@b.io") as run:
        with flightlog.llm_call("m", messages="hello a@b.io", prompt_template="Write to a@b.io about {x}",
                                prompt_variables={"x": "a@b.io"}) as call:
            call.set_output("hi a@b.io")
            call.set_usage(input_tokens=5, output_tokens=2)
        with flightlog.tool_call("send", arguments={"to": "a@b.io"}) as tool:
            tool.set_result("sent to a@b.io")
        with flightlog.retrieval("a@b.io") as r:
            r.set_documents([{"id": "d1", "score": 0.5, "content": "a@b.io"}])
        run.set_output("done a@b.io")


CONTENT_KEYS = ["flightlog.input", "flightlog.output", "gen_ai.input.messages", "gen_ai.output.messages",
                "flightlog.prompt.template", "flightlog.prompt.variables", "gen_ai.tool.call.arguments",
                "gen_ai.tool.call.result", "gen_ai.retrieval.query.text"]


def test_capture_content_false_records_metadata_only(spans_with):
    exporter = spans_with(capture_content=False)
    run_everything()
    attributes = {}
    for span in exporter.get_finished_spans():
        attributes.update(span.attributes)
    for key in CONTENT_KEYS:
        assert key not in attributes, key
    assert "a@b.io" not in json.dumps({k: str(v) for k, v in attributes.items()})
    assert attributes["gen_ai.usage.input_tokens"] == 5
    assert "flightlog.prompt.hash" in attributes
    assert json.loads(attributes["gen_ai.retrieval.documents"]) == [{"id": "d1", "score": 0.5}]


def test_redaction_applies_to_every_content_attribute(spans_with):
    exporter = spans_with(redact=[r"[\w.]+@[\w.]+"])
    run_everything()
    seen = 0
    for span in exporter.get_finished_spans():
        assert span.attributes.get("flightlog.redacted") is True, span.name
        for key in CONTENT_KEYS + ["gen_ai.retrieval.documents"]:
            if key in span.attributes:
                seen += 1
                assert "a@b.io" not in span.attributes[key], key
                assert REDACTED in span.attributes[key], key
    assert seen == len(CONTENT_KEYS) + 1


def test_long_content_is_truncated_with_a_marker(spans_with):
    exporter = spans_with(max_attribute_length=10)
    with flightlog.tool_call("t") as tool:
        tool.set_result("x" * 25)
    (span,) = exporter.get_finished_spans()
    assert span.attributes["gen_ai.tool.call.result"] == "x" * 10 + "…[truncated 15 chars]"


from hypothesis import given, strategies as st  # noqa: E402

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=20,
)


@given(st.text(), st.integers(min_value=1, max_value=50))
def test_truncate_keeps_a_prefix_and_counts_the_rest(text, limit):
    out = truncate(text, limit)
    if len(text) <= limit:
        assert out == text
    else:
        assert out.startswith(text[:limit])
        assert out.endswith(f"…[truncated {len(text) - limit} chars]")


@given(json_values)
def test_format_content_as_json_roundtrips_plain_data(value):
    text, changed = format_content(value, redact=None, max_length=None, as_json=True)
    assert json.loads(text) == value and not changed


@given(json_values)
def test_regex_redaction_leaves_no_match_and_valid_json(value):
    hook = compile_redactor(r"\d+")
    text, _ = format_content(value, redact=hook, max_length=None, as_json=True)
    decoded = json.loads(text)

    def strings(v):
        if isinstance(v, str):
            yield v
        elif isinstance(v, list):
            for x in v:
                yield from strings(x)
        elif isinstance(v, dict):
            for x in v.values():
                yield from strings(x)

    assert not any(re.search(r"\d", s.replace(REDACTED, "")) for s in strings(decoded))


@given(st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "assistant"]),
                                        "content": st.text()}), max_size=5))
def test_to_messages_keeps_role_and_text_of_plain_messages(messages):
    converted = to_messages(messages, default_role="user")
    assert [(m["role"], m["parts"][0]["content"]) for m in converted] == [(m["role"], m["content"]) for m in messages]
