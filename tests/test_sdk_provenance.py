"""Every step inside a run names the LLM call that led to it (``flightlog.decided_by.*``).

An engineer looking at a bad tool call, a refund approval or a handoff must see which model and
which prompt version decided it, without walking the trace by hand; the run names the call
behind its final output and every model it used.
"""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import flightlog

DECIDED = ("flightlog.decided_by.model", "flightlog.decided_by.prompt.id", "flightlog.decided_by.prompt.version",
           "flightlog.decided_by.prompt.hash", "flightlog.decided_by.span_id")


def spans_named(exporter: InMemorySpanExporter) -> dict:
    return {s.name: s for s in exporter.get_finished_spans()}


def span_id(span) -> str:
    return format(span.context.span_id, "016x")


def test_tool_call_names_the_llm_call_that_chose_it(exporter):
    with flightlog.agent_run("support") as run:
        with flightlog.tool_call("warmup"):  # before any model answered: nothing decided it
            pass
        with flightlog.llm_call("gpt-4o", prompt_id="triage", prompt_version=7, messages="refund?") as call:
            call.set_response_model("gpt-4o-2024-08-06")
            call.set_output("call issue_refund")
        with flightlog.tool_call("issue_refund", arguments={"order": "o-1"}):
            pass
        flightlog.checkpoint("refund $420", tier=3, approver=lambda request: True, timeout_s=5)
        with flightlog.retrieval("refund policy"):
            pass
        with flightlog.handoff("billing"):
            pass
        run.set_output("refunded")
    spans = spans_named(exporter)
    llm = spans["chat gpt-4o"]
    assert not any(k in spans["execute_tool warmup"].attributes for k in DECIDED)
    for name in ("execute_tool issue_refund", "checkpoint refund $420", "retrieval", "handoff billing"):
        a = spans[name].attributes
        assert a["flightlog.decided_by.model"] == "gpt-4o-2024-08-06", name  # the model that answered
        assert a["flightlog.decided_by.prompt.id"] == "triage"
        assert a["flightlog.decided_by.prompt.version"] == "7"
        assert a["flightlog.decided_by.prompt.hash"] == llm.attributes["flightlog.prompt.hash"]
        assert a["flightlog.decided_by.span_id"] == span_id(llm)
    agent = spans["invoke_agent support"].attributes
    assert agent["flightlog.decided_by.span_id"] == span_id(llm)
    assert agent["flightlog.run.models"] == ("gpt-4o-2024-08-06",)


def test_the_latest_successful_call_decides_and_failed_or_refused_calls_do_not(exporter):
    with pytest.raises(flightlog.BudgetExceeded):
        with flightlog.agent_run("planner", limits=flightlog.Limits(max_llm_calls=3)):
            with flightlog.llm_call("small-model", prompt_version="1"):
                pass
            with flightlog.llm_call("big-model", prompt_version="2"):
                pass
            with pytest.raises(TimeoutError):
                with flightlog.llm_call("flaky-model"):
                    raise TimeoutError("provider timed out")
            with flightlog.tool_call("search"):
                pass
            with flightlog.llm_call("refused-model"):  # 4th call: refused before it starts
                pass
    spans = spans_named(exporter)
    tool = spans["execute_tool search"].attributes
    assert tool["flightlog.decided_by.model"] == "big-model"
    assert tool["flightlog.decided_by.span_id"] == span_id(spans["chat big-model"])
    agent = spans["invoke_agent planner"].attributes
    assert agent["flightlog.decided_by.model"] == "big-model"
    assert agent["flightlog.run.models"] == ("small-model", "big-model")


def test_nested_run_inherits_until_it_calls_a_model_and_reports_its_models_upwards(exporter):
    with flightlog.agent_run("outer"):
        with flightlog.llm_call("router-model"):
            pass
        with flightlog.agent_run("inner"):
            with flightlog.tool_call("before"):  # the outer router chose this
                pass
            with flightlog.llm_call("worker-model"):
                pass
            with flightlog.tool_call("after"):
                pass
        with flightlog.tool_call("outer-after"):  # back in the outer run: its own latest call
            pass
    spans = spans_named(exporter)
    assert spans["execute_tool before"].attributes["flightlog.decided_by.model"] == "router-model"
    assert spans["execute_tool after"].attributes["flightlog.decided_by.model"] == "worker-model"
    assert spans["execute_tool outer-after"].attributes["flightlog.decided_by.model"] == "router-model"
    assert spans["invoke_agent inner"].attributes["flightlog.run.models"] == ("worker-model",)
    assert spans["invoke_agent outer"].attributes["flightlog.run.models"] == ("router-model", "worker-model")


def test_threads_started_inside_a_run_see_its_decider(exporter):
    with flightlog.agent_run("fanout"):
        with flightlog.llm_call("planner-model"):
            pass
        def work(i: int) -> None:
            with flightlog.tool_call(f"worker-{i}"):
                pass

        threads = [flightlog.start_thread(work, i) for i in range(3)]
        for thread in threads:
            thread.join(timeout=10)
    spans = spans_named(exporter)
    for i in range(3):
        assert spans[f"execute_tool worker-{i}"].attributes["flightlog.decided_by.model"] == "planner-model"


def test_outside_a_run_steps_carry_no_provenance(exporter):
    with flightlog.llm_call("gpt-4o"):
        pass
    with flightlog.tool_call("lookup"):
        pass
    tool = spans_named(exporter)["execute_tool lookup"].attributes
    assert not any(k in tool for k in DECIDED)


@pytest.mark.parametrize("attributes", [
    {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-0806"},
    {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-0806", "llm.prompt_template.version": "v3"},
])
def test_llm_spans_of_other_instrumentations_decide_too(exporter, attributes):
    """An OpenInference or OTel GenAI instrumentor's span (here written by hand, as they do) is
    the LLM call that led to the next flightlog step, like flightlog's own llm_call."""
    tracer = flightlog._setup.get_state().provider.get_tracer("openai-instrumentor")
    with flightlog.agent_run("bot"):
        with tracer.start_as_current_span("ChatCompletion", attributes=attributes) as foreign:
            pass
        with tracer.start_as_current_span("ChatCompletion", attributes=attributes) as failed:
            failed.set_status(trace.Status(trace.StatusCode.ERROR))
        with tracer.start_as_current_span("GET /orders"):  # not an LLM call
            pass
        with flightlog.tool_call("lookup"):
            pass
    spans = spans_named(exporter)
    tool = spans["execute_tool lookup"].attributes
    assert tool["flightlog.decided_by.model"] == "gpt-4o-0806"
    assert tool["flightlog.decided_by.span_id"] == f"{foreign.get_span_context().span_id:016x}"
    assert tool.get("flightlog.decided_by.prompt.version") == attributes.get("llm.prompt_template.version")
    assert spans["invoke_agent bot"].attributes["flightlog.run.models"] == ("gpt-4o-0806",)
