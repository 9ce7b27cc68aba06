"""Tests for hard limits per agent run (flightlog.Limits and BudgetExceeded).

Crossing a limit refuses the *next* LLM or tool call before any of its code runs; the
violation is recorded on the refused span and on the run span.
"""

from __future__ import annotations

import pytest
from opentelemetry.trace import StatusCode

import flightlog
from flightlog import BudgetExceeded, Limits


def llm(tokens=0, cost=None):
    with flightlog.llm_call("m") as call:
        call.set_usage(input_tokens=tokens, output_tokens=0)
        if cost is not None:
            call.set_cost(cost)


def tool(name="t"):
    with flightlog.tool_call(name):
        pass


@pytest.mark.parametrize("limits,steps,kind,allowed_steps", [
    (Limits(max_llm_calls=2), [llm, llm, llm], "max_llm_calls", 2),
    (Limits(max_tool_calls=1), [tool, tool], "max_tool_calls", 1),
    (Limits(max_tokens=100), [lambda: llm(60), lambda: llm(60), lambda: llm(1)], "max_tokens", 2),
    (Limits(max_tokens=100), [lambda: llm(150), tool], "max_tokens", 1),
    (Limits(max_cost_usd=0.10), [lambda: llm(cost=0.06), lambda: llm(cost=0.05), llm], "max_cost_usd", 2),
    (Limits(denied_tools={"rm"}), [tool, lambda: tool("rm")], "denied_tools", 1),
    (Limits(allowed_tools={"search"}), [lambda: tool("search"), lambda: tool("shell")], "allowed_tools", 1),
    (Limits(max_wall_time_s=0), [llm], "max_wall_time_s", 0),
])
def test_crossing_a_limit_refuses_the_next_call(exporter, limits, steps, kind, allowed_steps):
    done = 0
    with pytest.raises(BudgetExceeded) as info:
        with flightlog.agent_run("bot", limits=limits):
            for step in steps:
                step()
                done += 1
    assert done == allowed_steps
    assert info.value.kind == kind
    assert kind in str(info.value)
    spans = exporter.get_finished_spans()
    refused = [s for s in spans if s.attributes.get("flightlog.limit.kind") == kind
               and s.attributes["flightlog.span.type"] != "agent"]
    assert len(refused) == 1
    assert refused[0].status.status_code is StatusCode.ERROR
    assert refused[0].attributes["error.type"] == "flightlog.BudgetExceeded"
    run = next(s for s in spans if s.attributes["flightlog.span.type"] == "agent")
    assert run.attributes["flightlog.limit.kind"] == kind
    assert run.attributes["flightlog.limit.violation"] == str(info.value)
    assert run.status.status_code is StatusCode.ERROR


def test_refused_call_body_never_runs(exporter):
    ran = []
    with pytest.raises(BudgetExceeded):
        with flightlog.agent_run("bot", limits=Limits(max_llm_calls=0)):
            with flightlog.llm_call("m"):
                ran.append(True)
    assert ran == []


def test_budget_message_names_limit_value_and_threshold(exporter):
    with pytest.raises(BudgetExceeded) as info:
        with flightlog.agent_run("planner", limits=Limits(max_tokens=1000)):
            llm(1530)
            llm()
    message = str(info.value)
    assert "max_tokens" in message and "1530" in message and "1000" in message and "planner" in message
    assert (info.value.value, info.value.limit, info.value.run) == (1530, 1000, "planner")


def test_outer_run_limit_bounds_a_nested_run_and_is_marked_on_the_outer_run(exporter):
    with pytest.raises(BudgetExceeded) as info:
        with flightlog.agent_run("bot", limits=Limits(max_llm_calls=2)):
            with flightlog.agent_run("bot"):  # same name: the marks must still find the right run
                llm()
                llm()
                llm()
    assert info.value.run == "bot"
    runs = [s for s in exporter.get_finished_spans() if s.attributes["flightlog.span.type"] == "agent"]
    inner, outer = runs  # the inner run ends first
    assert outer.attributes["flightlog.limit.kind"] == "max_llm_calls"
    assert "flightlog.limit.kind" not in inner.attributes
    assert inner.parent.span_id == outer.context.span_id


def test_decorated_tool_is_refused_by_denied_tools(exporter):
    @flightlog.tool_call
    def delete_everything():
        raise AssertionError("must not run")

    @flightlog.agent_run(limits=Limits(denied_tools=["delete_everything"]))
    def agent():
        delete_everything()

    with pytest.raises(BudgetExceeded):
        agent()


def test_run_span_records_usage_totals(exporter):
    with flightlog.agent_run("bot", limits=Limits(max_tokens=10_000)):
        llm(10, cost=0.5)
        llm(5, cost=0.25)
        tool()
    run = next(s for s in exporter.get_finished_spans() if s.name == "invoke_agent bot")
    assert run.attributes["flightlog.run.input_tokens"] == 15
    assert run.attributes["flightlog.run.cost_usd"] == pytest.approx(0.75)
    assert (run.attributes["flightlog.run.llm_calls"], run.attributes["flightlog.run.tool_calls"]) == (2, 1)


def test_calls_outside_any_run_are_never_limited(exporter):
    for _ in range(5):
        llm(10_000)


@pytest.mark.parametrize("kwargs", [
    {"max_tokens": -1},
    {"max_llm_calls": 1.5},
    {"max_cost_usd": float("nan")},
    {"max_wall_time_s": "10"},
    {"allowed_tools": "search"},
    {"denied_tools": [1]},
])
def test_bad_limits_raise_value_error(kwargs):
    with pytest.raises(ValueError):
        Limits(**kwargs)


def test_budget_exceeded_is_the_documented_flightlog_error():
    assert issubclass(BudgetExceeded, flightlog.FlightlogError)
    assert "only" in BudgetExceeded.__doc__


def test_llm_calls_of_other_instrumentations_count_toward_the_limits(exporter):
    """An instrumentor's LLM span (OpenInference shape here) inside a run counts as a call and
    adds its tokens; flightlog cannot refuse that call, but refuses its next step."""
    import flightlog._setup

    tracer = flightlog._setup.get_state().provider.get_tracer("openinference.instrumentation.openai")
    with pytest.raises(flightlog.BudgetExceeded, match="max_tokens"):
        with flightlog.agent_run("bot", limits=flightlog.Limits(max_tokens=1000, max_llm_calls=5)) as run:
            with tracer.start_as_current_span("ChatCompletion", attributes={
                    "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o",
                    "llm.token_count.prompt": 900, "llm.token_count.completion": 150}):
                pass
            with flightlog.llm_call("gpt-4o"):  # 1,050 tokens used: refused before it starts
                pass
    assert run.state.llm_calls == 1
    assert (run.state.input_tokens, run.state.output_tokens) == (900, 150)
    agent = next(s for s in exporter.get_finished_spans() if s.name == "invoke_agent bot")
    assert agent.attributes["flightlog.limit.kind"] == "max_tokens"
