"""Tests for the flightlog SDK's span helpers: agent_run, tool_call, retrieval, handoff (llm_call:
test_sdk_llm.py).

Covers the attribute keys each helper writes (the collector's mapping reads exactly these),
nesting and parenting, run facts copied onto every span, decorators on sync/async functions and
generators, and exceptions recorded on the span and re-raised unchanged.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import flightlog


@pytest.fixture
def exporter():
    exp = InMemorySpanExporter()
    flightlog.init(tracer_provider=TracerProvider(), exporter=exp, batch=False, project="acme",
                   agent_version="1.2.0")
    yield exp
    flightlog.shutdown()


def by_name(exporter: InMemorySpanExporter) -> dict:
    return {s.name: s for s in exporter.get_finished_spans()}


def test_agent_run_writes_identity_input_and_output(exporter):
    with flightlog.agent_run("support-bot", version="2.0", user_id="u-1", session_id="s-1",
                             input={"question": "hi"}) as run:
        run.set_output("hello")
    (span,) = exporter.get_finished_spans()
    assert span.name == "invoke_agent support-bot"
    for key, value in {
        "flightlog.span.type": "agent", "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "support-bot", "gen_ai.agent.version": "2.0", "user.id": "u-1",
        "gen_ai.conversation.id": "s-1", "flightlog.project": "acme",
        "flightlog.input": '{"question":"hi"}', "flightlog.output": "hello",
    }.items():
        assert span.attributes[key] == value, key


def test_agent_run_version_defaults_to_init_agent_version(exporter):
    with flightlog.agent_run("bot"):
        pass
    (span,) = exporter.get_finished_spans()
    assert span.attributes["gen_ai.agent.version"] == "1.2.0"


def test_tool_call_writes_name_id_arguments_and_result(exporter):
    with flightlog.tool_call("search", arguments={"q": "refund"}, call_id="call_7") as tool:
        tool.set_result({"hits": 2})
    (span,) = exporter.get_finished_spans()
    a = span.attributes
    assert span.name == "execute_tool search"
    assert (a["flightlog.span.type"], a["gen_ai.operation.name"]) == ("tool", "execute_tool")
    assert a["gen_ai.tool.name"] == "search"
    assert a["gen_ai.tool.call.id"] == "call_7"
    assert json.loads(a["gen_ai.tool.call.arguments"]) == {"q": "refund"}
    assert json.loads(a["gen_ai.tool.call.result"]) == {"hits": 2}


def test_tool_call_text_result_is_kept_as_text(exporter):
    with flightlog.tool_call("echo") as tool:
        tool.set_result("plain words")
    (span,) = exporter.get_finished_spans()
    assert span.attributes["gen_ai.tool.call.result"] == "plain words"


def test_retrieval_writes_query_and_documents(exporter):
    docs = [{"id": "d1", "score": 0.9, "content": "Refunds take 5 days."}]
    with flightlog.retrieval("refund time", source="kb", top_k=3) as r:
        r.set_documents(docs)
    (span,) = exporter.get_finished_spans()
    a = span.attributes
    assert span.name == "retrieval kb"
    assert (a["flightlog.span.type"], a["gen_ai.operation.name"]) == ("retrieval", "retrieval")
    assert a["gen_ai.retrieval.query.text"] == "refund time"
    assert json.loads(a["gen_ai.retrieval.documents"]) == docs
    assert a["flightlog.retrieval.document_count"] == 1
    assert a["gen_ai.data_source.id"] == "kb"


def test_handoff_records_from_and_to_agent(exporter):
    with flightlog.agent_run("triage"):
        with flightlog.handoff("billing", reason="invoice question"):
            pass
    spans = by_name(exporter)
    a = spans["handoff billing"].attributes
    assert (a["flightlog.span.type"], a["gen_ai.operation.name"]) == ("handoff", "handoff")
    assert a["flightlog.handoff.from_agent"] == "triage"
    assert a["flightlog.handoff.to_agent"] == "billing"


def test_nested_spans_are_children_of_the_run(exporter):
    with flightlog.agent_run("bot") as run:
        with flightlog.llm_call("m"):
            with flightlog.tool_call("inner"):
                pass
        with flightlog.tool_call("t"):
            pass
    spans = by_name(exporter)
    root = spans["invoke_agent bot"]
    assert root.parent is None
    assert spans["chat m"].parent.span_id == root.context.span_id
    assert spans["execute_tool t"].parent.span_id == root.context.span_id
    assert spans["execute_tool inner"].parent.span_id == spans["chat m"].context.span_id
    assert len({s.context.trace_id for s in spans.values()}) == 1
    assert run.span.get_span_context().span_id == root.context.span_id


@pytest.mark.parametrize("key,value", [
    ("gen_ai.agent.name", "bot"),
    ("gen_ai.agent.version", "9"),
    ("user.id", "u-1"),
    ("gen_ai.conversation.id", "s-1"),
    ("flightlog.project", "acme"),
])
def test_run_facts_are_copied_onto_every_span_in_the_run(exporter, key, value):
    with flightlog.agent_run("bot", version="9", user_id="u-1", session_id="s-1"):
        with flightlog.llm_call("m"):
            pass
        with flightlog.tool_call("t"):
            pass
        with flightlog.retrieval("q"):
            pass
        flightlog.checkpoint("look", tier=1)
    spans = exporter.get_finished_spans()
    assert len(spans) == 5
    for span in spans:
        assert span.attributes[key] == value, span.name


def test_nested_run_inherits_user_and_session_but_names_itself(exporter):
    with flightlog.agent_run("outer", user_id="u-1", session_id="s-1"):
        with flightlog.agent_run("inner"):
            with flightlog.llm_call("m"):
                pass
    a = by_name(exporter)["chat m"].attributes
    assert (a["gen_ai.agent.name"], a["user.id"], a["gen_ai.conversation.id"]) == ("inner", "u-1", "s-1")


def test_foreign_spans_inside_a_run_get_the_run_facts():
    exp = InMemorySpanExporter()
    provider = TracerProvider()
    flightlog.init(tracer_provider=provider, exporter=exp, batch=False)
    try:
        with flightlog.agent_run("bot", user_id="u-1"):
            with provider.get_tracer("openai-instrumentation").start_as_current_span("openai.chat"):
                pass
    finally:
        flightlog.shutdown()
    foreign = by_name(exp)["openai.chat"]
    assert foreign.attributes["gen_ai.agent.name"] == "bot"
    assert foreign.attributes["user.id"] == "u-1"


@pytest.mark.parametrize("exc", [ValueError("bad input"), KeyError("k"), RuntimeError("boom")])
def test_exception_is_recorded_and_reraised_unchanged(exporter, exc):
    with pytest.raises(type(exc)) as info:
        with flightlog.agent_run("bot"):
            with flightlog.tool_call("t"):
                raise exc
    assert info.value is exc
    for span in exporter.get_finished_spans():
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes["error.type"] == type(exc).__name__
        assert [e.name for e in span.events] == ["exception"]
        assert span.events[0].attributes["exception.type"] == type(exc).__name__


def test_error_type_is_qualified_for_non_builtin_exceptions(exporter):
    class PaymentDeclined(Exception):
        pass

    with pytest.raises(PaymentDeclined):
        with flightlog.tool_call("pay"):
            raise PaymentDeclined("no")
    (span,) = exporter.get_finished_spans()
    assert span.attributes["error.type"].endswith("PaymentDeclined")
    assert span.attributes["error.type"].startswith("test_sdk_spans.")


def test_decorated_sync_functions_record_arguments_and_return_values(exporter):
    @flightlog.tool_call
    def add(a, b=1):
        return a + b

    @flightlog.agent_run
    def calculator(question):
        return add(2, b=3)

    assert calculator("2+3?") == 5
    spans = by_name(exporter)
    run = spans["invoke_agent calculator"]
    tool = spans["execute_tool add"]
    assert run.attributes["flightlog.input"] == "2+3?"
    assert run.attributes["flightlog.output"] == "5"
    assert json.loads(tool.attributes["gen_ai.tool.call.arguments"]) == {"a": 2, "b": 3}
    assert tool.attributes["gen_ai.tool.call.result"] == "5"
    assert tool.parent.span_id == run.context.span_id


def test_decorated_async_functions_nest_and_record(exporter):
    @flightlog.llm_call("fake-model", provider="fake")
    async def complete(messages):
        flightlog.current_span().set_usage(input_tokens=4, output_tokens=2)
        return "pong"

    @flightlog.agent_run("async-bot")
    async def bot(question):
        return await complete([{"role": "user", "content": question}])

    assert asyncio.run(bot("ping")) == "pong"
    spans = by_name(exporter)
    llm = spans["chat fake-model"]
    assert llm.parent.span_id == spans["invoke_agent async-bot"].context.span_id
    assert llm.attributes["gen_ai.usage.input_tokens"] == 4
    assert json.loads(llm.attributes["gen_ai.input.messages"])[0]["parts"][0]["content"] == "ping"
    assert json.loads(llm.attributes["gen_ai.output.messages"])[0]["parts"][0]["content"] == "pong"


def test_decorator_opens_a_new_span_per_call(exporter):
    @flightlog.tool_call("t")
    def t():
        return 1

    t()
    t()
    spans = exporter.get_finished_spans()
    assert len(spans) == 2
    assert spans[0].context.span_id != spans[1].context.span_id


def test_decorated_function_keeps_its_name_and_exception(exporter):
    @flightlog.agent_run("bot")
    def failing():
        """Doc."""
        raise LookupError("x")

    assert failing.__name__ == "failing" and failing.__doc__ == "Doc."
    with pytest.raises(LookupError):
        failing()
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR


def test_decorated_generator_records_joined_chunks_and_is_not_current_between_items(exporter):
    @flightlog.llm_call("stream-model")
    def stream(prompt):
        for word in ("a", "b", "c"):
            yield word

    with flightlog.agent_run("bot"):
        seen = []
        for chunk in stream("hi"):
            seen.append(chunk)
            with flightlog.tool_call("between"):
                pass
    assert seen == ["a", "b", "c"]
    spans = exporter.get_finished_spans()
    by = {}
    for s in spans:
        by.setdefault(s.name, []).append(s)
    llm = by["chat stream-model"][0]
    run = by["invoke_agent bot"][0]
    out = json.loads(llm.attributes["gen_ai.output.messages"])
    assert out[0]["parts"][0]["content"] == "abc"
    assert all(t.parent.span_id == run.context.span_id for t in by["execute_tool between"])
    assert llm.parent.span_id == run.context.span_id


def test_decorated_generator_closed_early_ends_its_span_without_error(exporter):
    @flightlog.tool_call("numbers")
    def numbers():
        yield from range(100)

    gen = numbers()
    assert next(gen) == 0
    gen.close()
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.UNSET


def test_decorated_generator_error_is_recorded(exporter):
    @flightlog.tool_call("boom")
    def boom():
        yield 1
        raise OSError("disk")

    with pytest.raises(OSError):
        list(boom())
    (span,) = exporter.get_finished_spans()
    assert span.attributes["error.type"] == "OSError"


def test_decorated_async_generator_records_and_nests(exporter):
    @flightlog.llm_call("astream")
    async def stream(prompt):
        for word in ("x", "y"):
            yield word

    @flightlog.agent_run("bot")
    async def bot():
        return [c async for c in stream("q")]

    assert asyncio.run(bot()) == ["x", "y"]
    spans = by_name(exporter)
    llm = spans["chat astream"]
    assert llm.parent.span_id == spans["invoke_agent bot"].context.span_id
    assert json.loads(llm.attributes["gen_ai.output.messages"])[0]["parts"][0]["content"] == "xy"


def test_async_with_blocks_work(exporter):
    async def main():
        async with flightlog.agent_run("bot") as run:
            async with flightlog.tool_call("t"):
                pass
            run.set_output("ok")

    asyncio.run(main())
    assert by_name(exporter)["invoke_agent bot"].attributes["flightlog.output"] == "ok"


def test_current_span_outside_any_step_is_a_harmless_noop(exporter):
    noop = flightlog.current_span()
    assert not noop
    noop.set_output("x")
    noop.set_usage(input_tokens=1)
    assert not flightlog.current_run()
    assert exporter.get_finished_spans() == ()


def test_current_run_is_reachable_from_nested_code(exporter):
    @flightlog.tool_call("t")
    def t():
        flightlog.current_run().set_output("set from a tool")

    with flightlog.agent_run("bot"):
        t()
    assert by_name(exporter)["invoke_agent bot"].attributes["flightlog.output"] == "set from a tool"


@pytest.mark.parametrize("call", [
    lambda c: c.set_usage(input_tokens="many"),
    lambda c: c.set_usage(output_tokens=-1),
    lambda c: c.set_cost("free"),
    lambda c: c.set_output(object()),
])
def test_bad_recorded_values_are_logged_not_raised(exporter, call):
    with flightlog.llm_call("m") as c:
        call(c)
    (span,) = exporter.get_finished_spans()
    assert "gen_ai.usage.input_tokens" not in span.attributes


def test_helpers_work_without_init():
    flightlog.shutdown()
    with flightlog.agent_run("bot") as run:
        with flightlog.llm_call("m") as call:
            call.set_output("x")
        run.set_output("y")


def test_limits_still_apply_when_flightlog_is_disabled(monkeypatch):
    monkeypatch.setenv("FLIGHTLOG_DISABLED", "1")
    flightlog.init(tracer_provider=TracerProvider(), exporter=InMemorySpanExporter())
    try:
        with pytest.raises(flightlog.BudgetExceeded):
            with flightlog.agent_run("bot", limits=flightlog.Limits(max_llm_calls=1)):
                for _ in range(2):
                    with flightlog.llm_call("m"):
                        pass
    finally:
        flightlog.shutdown()


def test_set_error_marks_a_step_failed_without_raising(exporter):
    with flightlog.agent_run("bot"):
        with flightlog.llm_call("m") as call:
            call.set_output("refused")
            call.set_error("content filter", error_type="content_filter")
        with flightlog.tool_call("lookup") as tool:
            tool.set_result({"error": "orders-api timed out"})
            tool.set_error("orders-api timed out after 10 s", error_type="TimeoutError")
        with flightlog.tool_call("after"):  # a failed call decides nothing
            pass
    spans = by_name(exporter)
    tool = spans["execute_tool lookup"]
    assert tool.status.status_code is StatusCode.ERROR
    assert tool.status.description == "orders-api timed out after 10 s"
    assert tool.attributes["error.type"] == "TimeoutError"
    assert not tool.events  # no exception happened
    assert spans["chat m"].attributes["error.type"] == "content_filter"
    assert "flightlog.decided_by.model" not in spans["execute_tool after"].attributes


def test_set_error_message_is_redacted():
    exp = InMemorySpanExporter()
    flightlog.init(tracer_provider=TracerProvider(), exporter=exp, batch=False, redact=[r"sk-\w+"])
    try:
        with flightlog.tool_call("pay") as tool:
            tool.set_error("bad key sk-abc123")
    finally:
        flightlog.shutdown()
    (span,) = exp.get_finished_spans()
    assert span.status.description == "bad key [REDACTED]"
