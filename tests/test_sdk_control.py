"""The kill switch and central policies from the agent's side (docs/control.md, docs/sdk.md
"Approvals, pauses and policy"): the SDK keeps the control state in memory, refreshed by one
background long-poll, refuses paused work with ``AgentPaused`` within seconds, and applies the
policy in force — tools, limits, tiers — with no network call on the hot path.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import flightlog
from flightlog import _control
from flightlog._env import DEFAULT_CONTROL_WAIT_S
from flightlog._remote_budget import REMOTE

from conftest import RunningCollector, start_collector, wait_until
from support.agents import Agent, approvals_of, call, control_version, decide, new_key, pause, pending_approval, \
    put_policy

pytestmark = pytest.mark.slow

PAUSE_DEADLINE_S = 5.0


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    running = start_collector(tmp_path_factory.mktemp("control-sdk"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def approver(collector: RunningCollector) -> str:
    return new_key(collector, "engineer", "Dana Reviewer", ["approve"])


def synced(collector: RunningCollector) -> None:
    """Wait until this process's SDK holds the collector's current control state."""
    version = control_version(collector)
    wait_until(lambda: _control.CLIENT is not None and _control.CLIENT.snapshot.version == version,
               timeout=30, interval=0.02, what="the SDK to receive the control state")


@pytest.fixture
def sdk(collector: RunningCollector) -> Iterator[Callable[..., InMemorySpanExporter]]:
    """``sdk(agent_name=..., **init)``: the SDK in this process against the collector (spans in memory)."""

    def start(**settings: Any) -> InMemorySpanExporter:
        memory = InMemorySpanExporter()
        flightlog.init(**{"endpoint": collector.url, "api_key": collector.ingest_key, "agent_version": "2.3.0",
                          "tracer_provider": TracerProvider(), "exporter": memory, "batch": False, **settings})
        synced(collector)
        return memory

    yield start
    flightlog.shutdown()
    REMOTE.forget()


def spans_named(memory: InMemorySpanExporter, prefix: str) -> list[Any]:
    return [s for s in memory.get_finished_spans() if s.name.startswith(prefix)]


# -- the kill switch -------------------------------------------------------------------------------
def test_a_pause_reaches_a_running_agent_within_5_s_and_resume_lets_it_go_on(collector, tmp_path) -> None:
    stop_file = tmp_path / "stop"
    agent = Agent(collector, tmp_path, AGENT_MODE="loop", AGENT_NAME="loop-bot", AGENT_STOP_FILE=str(stop_file))
    latencies: dict[str, list[float]] = {"pause": [], "resume": []}
    try:
        agent.wait("ok")
        for cycle in range(3):
            asked = time.time()
            pause(collector, agent="loop-bot")
            refused = agent.wait("paused", timeout=30, after=cycle)
            latencies["pause"].append(refused["t"] - asked)
            assert "agent 'loop-bot' is paused" in refused["message"] and "100x" in refused["message"]
            asked = time.time()
            pause(collector, resume=True, agent="loop-bot")
            latencies["resume"].append(agent.wait("ok", timeout=30, after=cycle + 1)["t"] - asked)
        stop_file.write_text("done")
        agent.finish()
    finally:
        agent.kill()
    print(f"pause → refusal: {', '.join(f'{s:.3f}s' for s in latencies['pause'])}; "
          f"resume → running: {', '.join(f'{s:.3f}s' for s in latencies['resume'])}")
    assert max(latencies["pause"]) <= PAUSE_DEADLINE_S, latencies
    assert max(latencies["resume"]) <= PAUSE_DEADLINE_S, latencies


def test_paused_runs_llm_calls_and_tool_calls_are_refused_and_recorded(collector, sdk) -> None:
    memory = sdk(agent_name="ks-bot")
    with pytest.raises(flightlog.AgentPaused) as refused:
        with flightlog.agent_run("ks-bot") as run:
            with flightlog.llm_call("gpt-4o") as call_:
                call_.set_output("ok")
            pause(collector, agent="ks-bot")
            synced(collector)  # a pause arriving while the run is under way stops its next call
            with flightlog.tool_call("lookup_order", arguments={"id": 1}):
                pytest.fail("a paused agent's tool call must not start")
    assert isinstance(refused.value, flightlog.FlightlogError)
    assert (refused.value.agent, refused.value.tool, refused.value.scope) == ("ks-bot", "lookup_order", "agent ks-bot")
    (tool,) = spans_named(memory, "execute_tool")
    assert tool.status.status_code is StatusCode.ERROR
    assert "is paused" in tool.attributes["flightlog.control.refused"]
    (run_span,) = spans_named(memory, "invoke_agent")
    assert run_span.attributes["flightlog.control.refused"] == tool.attributes["flightlog.control.refused"]
    assert any(e.name == "flightlog.control.refused" for e in run_span.events)

    with pytest.raises(flightlog.AgentPaused, match="agent 'ks-bot' is paused"):
        with flightlog.agent_run("ks-bot"):
            pytest.fail("a paused agent's run must not start")
    refused_run = spans_named(memory, "invoke_agent")[-1]
    assert refused_run.status.status_code is StatusCode.ERROR and refused_run.attributes["flightlog.control.refused"]
    with pytest.raises(flightlog.AgentPaused):
        with flightlog.llm_call("gpt-4o"):  # outside a run: the configured agent
            pytest.fail("must not start")
    with flightlog.agent_run("another-bot"):
        with flightlog.llm_call("gpt-4o"):
            pass  # other agents go on
    pause(collector, resume=True, agent="ks-bot")
    synced(collector)
    with flightlog.agent_run("ks-bot"):
        with flightlog.tool_call("lookup_order"):
            pass


def test_pausing_an_agent_stops_the_sub_agents_of_its_runs(collector, sdk) -> None:
    sdk(agent_name="outer-bot")
    try:
        with flightlog.agent_run("outer-bot"):
            with flightlog.agent_run("inner-bot"):
                with flightlog.llm_call("gpt-4o"):
                    pass
            pause(collector, agent="outer-bot")
            synced(collector)
            with pytest.raises(flightlog.AgentPaused, match="agent 'outer-bot' is paused"):
                with flightlog.agent_run("inner-bot"):
                    pytest.fail("a sub-agent of a paused agent's run must not start")
        with flightlog.agent_run("inner-bot"):
            with flightlog.llm_call("gpt-4o"):
                pass  # on its own, the sub-agent is not paused
    finally:
        pause(collector, resume=True, agent="outer-bot")


def test_a_tool_pause_leaves_the_other_tools_working(collector, sdk) -> None:
    memory = sdk(agent_name="tool-bot")
    pause(collector, agent="tool-bot", tool="issue_refund")
    try:
        synced(collector)
        with flightlog.agent_run("tool-bot"):
            with flightlog.llm_call("gpt-4o"):
                pass
            with flightlog.tool_call("lookup_order"):
                pass
            with pytest.raises(flightlog.AgentPaused, match="tool 'issue_refund' of agent 'tool-bot' is paused"):
                with flightlog.tool_call("issue_refund", arguments={"amount": 1}):
                    pytest.fail("the paused tool must not run")
            with flightlog.tool_call("lookup_order"):
                pass
        with flightlog.agent_run("other-bot"):
            with flightlog.tool_call("issue_refund"):
                pass  # the pause is of tool-bot's issue_refund only
    finally:
        pause(collector, resume=True, agent="tool-bot", tool="issue_refund")
    assert [s.attributes.get("flightlog.control.refused") is not None
            for s in spans_named(memory, "execute_tool")] == [False, True, False, False]


def test_an_agent_version_pause_stops_that_version_only(collector, sdk) -> None:
    sdk(agent_name="ver-bot")
    pause(collector, agent="ver-bot", agent_version="2.3.0")
    try:
        synced(collector)
        with pytest.raises(flightlog.AgentPaused, match="version '2.3.0'"):
            with flightlog.agent_run("ver-bot"):  # init(agent_version="2.3.0")
                pass
        with flightlog.agent_run("ver-bot", version="2.3.1"):
            with flightlog.llm_call("gpt-4o"):
                pass
    finally:
        pause(collector, resume=True, agent="ver-bot", agent_version="2.3.0")


def test_a_project_pause_stops_every_agent(collector, sdk) -> None:
    sdk(agent_name="any-bot")
    pause(collector, agent="")
    try:
        synced(collector)
        for name in ("any-bot", "someone-else"):
            with pytest.raises(flightlog.AgentPaused, match="the whole project is paused"):
                with flightlog.agent_run(name):
                    pass
    finally:
        pause(collector, resume=True, agent="")
    synced(collector)
    with flightlog.agent_run("any-bot"):
        pass


def test_fail_closed_for_a_closed_policy_and_fail_open_otherwise(tmp_path) -> None:
    data = tmp_path / "going-away"
    running = start_collector(data)
    port = int(running.url.rsplit(":", 1)[1])
    try:
        put_policy(running, {"agent": "closed-bot", "on_unreachable": "closed"})
        put_policy(running, {"agent": "open-bot", "on_unreachable": "open"})
        flightlog.init(endpoint=running.url, api_key=running.ingest_key, control_staleness_s=1.5,
                       tracer_provider=TracerProvider(), exporter=InMemorySpanExporter(), batch=False)
        synced(running)
        for name in ("closed-bot", "open-bot"):
            with flightlog.agent_run(name):
                pass  # the collector answers: both run
        running.proc.kill()  # the collector crashes
        running.proc.wait(30)

        def closed_refused() -> str | None:
            try:
                with flightlog.agent_run("closed-bot"):
                    return None
            except flightlog.AgentPaused as exc:
                return str(exc)

        gone = time.monotonic()
        message = wait_until(closed_refused, timeout=15, interval=0.05, what="the closed agent to be refused")
        assert time.monotonic() - gone >= 1.0, "refused only once the state is older than the staleness bound"
        assert "control state is unknown" in message and "on_unreachable: closed" in message
        for _ in range(3):
            with flightlog.agent_run("open-bot"):
                with flightlog.llm_call("gpt-4o"):
                    pass  # fail-open: the other agent goes on
            with flightlog.agent_run("unknown-bot"):
                pass  # an agent without a policy too
        running = start_collector(data, port=port)
        wait_until(lambda: closed_refused() is None, timeout=30, what="the closed agent to run again")
    finally:
        flightlog.shutdown()
        running.stop()


# -- central policy ----------------------------------------------------------------------------------
def test_a_centrally_denied_or_not_allowed_tool_is_refused(collector, sdk) -> None:
    stored = put_policy(collector, {"agent": "policy-bot", "tools": {"allowed": ["lookup_order", "issue_refund",
                                                                               "delete_account"],
                                                                   "denied": ["delete_account"]}})
    memory = sdk(agent_name="policy-bot")
    with flightlog.agent_run("policy-bot"):
        with flightlog.tool_call("lookup_order"):
            pass
        with pytest.raises(flightlog.PolicyDenied) as denied:
            with flightlog.tool_call("delete_account"):
                pytest.fail("a denied tool must not run")
        with pytest.raises(flightlog.BudgetExceeded) as not_allowed:  # PolicyDenied is a BudgetExceeded
            with flightlog.tool_call("shell"):
                pytest.fail("a tool outside the allowed list must not run")
    assert (denied.value.kind, denied.value.value) == ("denied_tools", "delete_account")
    assert (denied.value.policy_id, denied.value.policy_version) == ("policy-bot", stored["version"])
    assert f"policy policy-bot v{stored['version']} denies tool 'delete_account'" in str(denied.value)
    assert isinstance(not_allowed.value, flightlog.PolicyDenied) and not_allowed.value.kind == "allowed_tools"
    refused = {s.attributes["gen_ai.tool.name"]: s for s in spans_named(memory, "execute_tool")}
    assert refused["delete_account"].attributes["flightlog.limit.kind"] == "denied_tools"
    assert refused["shell"].attributes["flightlog.limit.kind"] == "allowed_tools"
    assert "lookup_order" not in [k for k, s in refused.items() if s.attributes.get("flightlog.limit.kind")]


def test_every_span_of_a_run_names_the_policy_in_force(collector, sdk) -> None:
    put_policy(collector, {"agent": "named-bot", "limits": {"max_llm_calls": 10}})
    stored = put_policy(collector, {"agent": "named-bot", "limits": {"max_llm_calls": 9}})  # version 2
    memory = sdk(agent_name="named-bot")
    with flightlog.agent_run("named-bot"):
        with flightlog.llm_call("gpt-4o"):
            pass
        with flightlog.tool_call("lookup_order"):
            pass
        flightlog.checkpoint("look it up", tier=1)
        with flightlog.agent_run("helper-bot"):  # no policy of its own: the enclosing run's applies
            with flightlog.llm_call("gpt-4o"):
                pass
    spans = memory.get_finished_spans()
    assert len(spans) == 6
    assert {(s.attributes["flightlog.policy.id"], s.attributes["flightlog.policy.version"]) for s in spans} == {
        ("named-bot", stored["version"])}
    assert stored["version"] == 2


def test_an_agent_version_policy_wins_over_the_agent_wide_one(collector, sdk) -> None:
    put_policy(collector, {"agent": "versioned-bot", "tools": {"denied": ["issue_refund"]}})
    specific = put_policy(collector, {"agent": "versioned-bot", "agent_version": "2.3.0",
                                      "tools": {"denied": ["lookup_order"]}})
    memory = sdk(agent_name="versioned-bot")
    with flightlog.agent_run("versioned-bot"):  # version 2.3.0
        with flightlog.tool_call("issue_refund"):
            pass
        with pytest.raises(flightlog.PolicyDenied, match="versioned-bot@2.3.0"):
            with flightlog.tool_call("lookup_order"):
                pass
    with flightlog.agent_run("versioned-bot", version="1.0"):
        with pytest.raises(flightlog.PolicyDenied, match="denies tool 'issue_refund'"):
            with flightlog.tool_call("issue_refund"):
                pass
    runs = spans_named(memory, "invoke_agent")
    assert [r.attributes["flightlog.policy.id"] for r in runs] == ["versioned-bot@2.3.0", "versioned-bot"]
    assert runs[0].attributes["flightlog.policy.version"] == specific["version"]


@pytest.mark.parametrize("local,central,refused_at,source", [
    (5, 2, 3, "policy"),   # the policy is stricter: its limit refuses the third call
    (1, 2, 2, "local"),    # the local Limits are stricter: they refuse the second
])
def test_the_stricter_of_local_limits_and_the_policy_wins(collector, sdk, local, central, refused_at,
                                                         source) -> None:
    agent = f"limits-bot-{source}"
    stored = put_policy(collector, {"agent": agent, "limits": {"max_llm_calls": central}})
    sdk(agent_name=agent)
    calls = 0
    with pytest.raises(flightlog.BudgetExceeded) as exceeded:
        with flightlog.agent_run(agent, limits=flightlog.Limits(max_llm_calls=local)):
            for _ in range(10):
                with flightlog.llm_call("gpt-4o"):
                    calls += 1
    assert calls == refused_at - 1 and exceeded.value.kind == "max_llm_calls"
    assert not isinstance(exceeded.value, flightlog.PolicyDenied)
    mentions_policy = f"policy {agent} v{stored['version']}" in str(exceeded.value)
    assert mentions_policy == (source == "policy"), str(exceeded.value)
    assert exceeded.value.limit == min(local, central)


def test_tiers_come_from_the_policy_confidence_and_arguments(collector, approver, sdk) -> None:
    stored = put_policy(collector, {
        "agent": "tier-bot", "tools": {"tiers": {"issue_refund": 2}},
        "escalations": [{"tool": "issue_refund", "when": "amount > 200", "tier": 3},
                        {"when": "confidence < 0.8", "tier": 3}]})
    memory = sdk(agent_name="tier-bot")
    with flightlog.agent_run("tier-bot") as run:
        trace_id = f"{run.span.get_span_context().trace_id:032x}"
        small = flightlog.checkpoint("refund order 1", tier=1, tool="issue_refund", arguments={"amount": 50},
                                     confidence=0.95)
        plain = flightlog.checkpoint("look up order 1", tier=1, tool="lookup_order", arguments={"id": 1},
                                     confidence=0.95)
        box: dict[str, Any] = {}
        worker = flightlog.start_thread(lambda: box.update(big=flightlog.checkpoint(
            "refund order 2", tier=1, tool="issue_refund", arguments={"amount": 420}, confidence=0.95)))
        approval = pending_approval(collector, trace_id)  # a tier-1 checkpoint escalated to the inbox
        assert approval["tier"] == 3 and approval["arguments"] == {"amount": 420}
        assert approval["policy"] == {"id": "tier-bot", "version": stored["version"]}
        decide(collector, approver, approval["id"], "approve", "a large refund, but right")
        worker.join(60)
        unsure = flightlog.start_thread(lambda: box.update(unsure=flightlog.checkpoint(
            "look up order 3", tier=1, tool="lookup_order", confidence=0.5, approver=lambda request: True)))
        unsure.join(60)
    assert (small.tier, small.decision, small.tier_reasons) == (2, "notified", ("issue_refund needs tier 2",))
    assert (plain.tier, plain.decision, plain.tier_reasons) == (1, "autonomous", ())
    big = box["big"]
    assert (big.tier, big.decision, big.approver) == (3, "approved", "Dana Reviewer")
    assert big.tier_reasons == ("issue_refund needs tier 2", "issue_refund: amount > 200 → tier 3")
    assert (box["unsure"].tier, box["unsure"].tier_reasons) == (3, ("confidence < 0.8 → tier 3",))
    recorded = {s.attributes["flightlog.checkpoint.action"]: s.attributes for s in spans_named(memory, "checkpoint")}
    assert recorded["refund order 2"]["flightlog.checkpoint.tier"] == 3
    assert list(recorded["refund order 2"]["flightlog.checkpoint.tier_reasons"]) == list(big.tier_reasons)
    assert recorded["refund order 2"]["flightlog.approval.id"] == approval["id"]
    assert "flightlog.checkpoint.tier_reasons" not in recorded["look up order 1"]
    assert [a["id"] for a in approvals_of(collector, trace_id)] == [approval["id"]], "only tier 3 asks"


def test_a_policy_turns_on_the_daily_budget_check(collector, sdk) -> None:
    resp = call(collector, "PUT", "/api/admin/budgets", collector.admin_key,
                json={"scope": "user", "subject": "u-policy", "max_tokens": 100})
    assert resp.status_code == 200, resp.text
    put_policy(collector, {"agent": "budget-policy-bot", "daily_budget": True})
    sdk(agent_name="budget-policy-bot", exporter=None, tracer_provider=TracerProvider())  # real OTLP export
    with flightlog.agent_run("budget-policy-bot", user_id="u-policy"):
        with flightlog.llm_call("gpt-4o-mini") as call_:
            call_.set_usage(input_tokens=150, output_tokens=50)  # today: 200 > 100 tokens
    assert flightlog.flush(timeout_s=30)
    collector.drain()
    REMOTE.forget()
    with pytest.raises(flightlog.BudgetExceeded, match="daily_budget"):
        with flightlog.agent_run("budget-policy-bot", user_id="u-policy"):  # no local Limits at all
            with flightlog.llm_call("gpt-4o-mini"):
                pytest.fail("the call must not start")


# -- overhead: memory only on the hot path -------------------------------------------------------------
def _api_requests(collector: RunningCollector) -> dict[str, float]:
    text = httpx.get(collector.url + "/metrics", headers={"Authorization": f"Bearer {collector.read_key}"},
                     timeout=10).text
    counts: dict[str, float] = {}
    for route, value in re.findall(r'^flightlog_http_requests_total\{route="([^"]+)",status="[^"]+"\} (\S+)$',
                                   text, re.M):
        if route.startswith("/api/"):
            counts[route] = counts.get(route, 0.0) + float(value)
    return counts


def test_the_checks_make_no_network_call_per_run_llm_or_tool_call(collector, tmp_path) -> None:
    put_policy(collector, {"agent": "count-bot", "tools": {"denied": ["shell"]}, "limits": {"max_tool_calls": 100},
                           "on_unreachable": "closed"})
    pause(collector, agent="count-bot", tool="shell")  # pauses and policies are in force, and checked
    before = _api_requests(collector)
    agent = Agent(collector, tmp_path, AGENT_MODE="count", AGENT_NAME="count-bot", AGENT_RUNS="300")
    try:
        counted = agent.wait("counted", timeout=120)
        agent.finish()
        after = _api_requests(collector)
    finally:
        agent.kill()
        pause(collector, resume=True, agent="count-bot", tool="shell")
    made = {route: after.get(route, 0) - before.get(route, 0) for route in after if
            after.get(route, 0) != before.get(route, 0)}
    print(f"{counted['runs']} runs (1 LLM + 2 tool calls each) in {counted['seconds']:.2f}s; the control "
          f"thread's requests: {counted['polls']}; API requests seen by the collector: {made}; socket connects "
          f"on the agent's thread: {counted['main_connects']}")
    assert counted["refused"] == counted["runs"], "the paused tool and the denied one were refused every time"
    assert counted["main_connects"] == 0, "the agent's own thread never opened a connection"
    # the first fetch, then one long-poll answered 304 every 20 s (DEFAULT_CONTROL_WAIT_S) while it lives
    long_polls = math.ceil(counted["alive"] / DEFAULT_CONTROL_WAIT_S)
    assert counted["polls"] <= 1 + long_polls, "one long-poll in the background, not a request per call"
    assert set(made) <= {"/api/control/state"}, made
    assert made.get("/api/control/state", 0) <= 1 + long_polls, made
