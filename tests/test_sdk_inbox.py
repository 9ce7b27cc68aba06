"""The approval inbox from the agent's side (docs/control.md, docs/sdk.md "Approvals, pauses and
policy"): an agent process under the real SDK, exporting over OTLP to a collector on loopback,
blocks on a tier-3 ``flightlog.inbox()`` checkpoint; a named person decides through the API;
the agent goes on (or not) with exactly the arguments that were approved.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import flightlog
from flightlog.policy import arguments_hash

from conftest import RunningCollector, start_collector, wait_until
from support.agents import (Agent, approvals_of, call, checkpoint_span, decide, new_key, pending_approval)

pytestmark = pytest.mark.slow

ARGS = {"order_id": "88123", "amount": 4950}


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    running = start_collector(tmp_path_factory.mktemp("inbox"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def approver(collector: RunningCollector) -> str:
    """A person's key: an engineer named Dana Reviewer, holding the approve permission."""
    return new_key(collector, "engineer", "Dana Reviewer", ["approve"])


@pytest.fixture
def sdk(collector: RunningCollector) -> Iterator[InMemorySpanExporter]:
    """The SDK in this process, talking to the collector; spans kept in memory."""
    memory = InMemorySpanExporter()
    flightlog.init(agent_name="inbox-inproc", agent_version="1.0", endpoint=collector.url,
                   api_key=collector.ingest_key, tracer_provider=TracerProvider(), exporter=memory, batch=False)
    yield memory
    flightlog.shutdown()


def checkpoint_attributes(memory: InMemorySpanExporter) -> dict:
    (span,) = [s for s in memory.get_finished_spans() if s.attributes.get("flightlog.span.type") == "checkpoint"]
    return dict(span.attributes)


def test_a_named_person_approves_and_the_agent_proceeds(collector, approver, tmp_path) -> None:
    agent = Agent(collector, tmp_path, AGENT_NAME="refund-approve", AGENT_TIMEOUT_S="120")
    try:
        started = agent.wait("started")
        approval = pending_approval(collector, started["trace_id"])
        assert (approval["tool"], approval["arguments"], approval["tier"]) == ("issue_refund", ARGS, 3)
        assert approval["arguments_hash"] == arguments_hash(ARGS)
        assert (approval["agent"], approval["agent_version"]) == ("refund-approve", "2.3.0")
        assert (approval["prompt_id"], approval["prompt_version"]) == ("refunds", "7")
        assert approval["decided_by"]["model"] == "gpt-4o" and approval["confidence"] == 0.9
        assert approval["on_timeout"] == "reject" and approval["idempotency_key"].startswith("flightlog:")
        assert not agent.find("decision"), "the agent waits for the decision"
        decide(collector, approver, approval["id"], "approve", "matches the order line")
        decision = agent.wait("decision")
        assert (decision["decision"], decision["approved"], decision["approver"]) == ("approved", True,
                                                                                       "Dana Reviewer")
        assert decision["approval_id"] == approval["id"] and decision["reason"] == "matches the order line"
        assert agent.wait("tool")["arguments"] == ARGS
        agent.finish()
    finally:
        agent.kill()
    trace = collector.wait_for_trace(started["trace_id"], 7)  # run, LLM, checkpoint, tool + 3 control events
    span = checkpoint_span(trace)
    assert span["span_id"] == approval["span_id"] and span["approver"] == "Dana Reviewer"
    assert span["checkpoint_decision"] == "approved" and span["checkpoint_tier"] == 3
    attributes = span["span_attributes"]
    assert attributes["flightlog.approval.id"] == approval["id"]
    assert attributes["flightlog.checkpoint.tool"] == "issue_refund"
    assert attributes["flightlog.checkpoint.reason"] == "matches the order line"
    assert attributes["flightlog.approval.arguments_hash"] == arguments_hash(ARGS)
    assert attributes["flightlog.approval.edited"] in (False, "false")
    assert attributes["flightlog.approval.decided_at"]
    events = {s["span_name"] for s in trace["spans"] if s["parent_span_id"] == span["span_id"]}
    assert {"approval.requested", "approval.decided", "approval.consumed"} <= events
    used = call(collector, "GET", f"/api/approvals/{approval['id']}", collector.read_key).json()
    assert used["status"] == "approved" and used["consumed_at"], "the decision was used, once"


def test_a_rejection_stops_the_action(collector, approver, tmp_path) -> None:
    # No approver named: init(approvals="inbox") (here FLIGHTLOG_APPROVALS) makes the inbox the default.
    agent = Agent(collector, tmp_path, AGENT_NAME="refund-reject", FLIGHTLOG_APPROVALS="inbox")
    try:
        started = agent.wait("started")
        approval = pending_approval(collector, started["trace_id"])
        decide(collector, approver, approval["id"], "reject", "4950 is not 49.50")
        decision = agent.wait("decision")
        assert (decision["decision"], decision["approved"]) == ("rejected", False)
        assert (decision["approver"], decision["reason"]) == ("Dana Reviewer", "4950 is not 49.50")
        agent.finish()
        assert not agent.find("tool"), "a rejected action is not taken"
    finally:
        agent.kill()
    span = checkpoint_span(collector.wait_for_trace(started["trace_id"], 5))
    assert span["checkpoint_decision"] == "rejected" and span["approver"] == "Dana Reviewer"
    assert approval["expires_at"] and approval["on_timeout"] == "reject"


def test_no_decision_in_time_is_a_rejection_by_default(collector, tmp_path) -> None:
    agent = Agent(collector, tmp_path, AGENT_NAME="refund-timeout", AGENT_TIMEOUT_S="2")
    try:
        started = agent.wait("started")
        approval = pending_approval(collector, started["trace_id"])
        decision = agent.wait("decision", timeout=30)
        assert (decision["decision"], decision["approved"], decision["approver"]) == ("timed_out", False, None)
        assert "no decision" in decision["reason"] and decision["approval_id"] == approval["id"]
        agent.finish()
        assert not agent.find("tool")
    finally:
        agent.kill()
    expired = call(collector, "GET", f"/api/approvals/{approval['id']}", collector.read_key).json()
    assert expired["status"] == "expired" and expired["consumed_at"] is None
    assert checkpoint_span(collector.wait_for_trace(started["trace_id"], 4))["checkpoint_decision"] == "timed_out"


def test_the_agent_uses_the_arguments_the_approver_edited(collector, approver, tmp_path) -> None:
    edited = {**ARGS, "amount": 49.5}
    agent = Agent(collector, tmp_path, AGENT_NAME="refund-edit", AGENT_TIMEOUT_S="120")
    try:
        started = agent.wait("started")
        approval = pending_approval(collector, started["trace_id"])
        decide(collector, approver, approval["id"], "approve", "the order line says 49.50", arguments=edited)
        decision = agent.wait("decision")
        assert decision["approved"] and decision["edited"] is True and decision["arguments"] == edited
        assert agent.wait("tool")["arguments"] == edited
        agent.finish()
    finally:
        agent.kill()
    trace = collector.wait_for_trace(started["trace_id"], 7)
    attributes = checkpoint_span(trace)["span_attributes"]
    assert attributes["flightlog.approval.edited"] in (True, "true")
    assert attributes["flightlog.approval.arguments_hash"] == arguments_hash(edited)
    (tool,) = [s for s in trace["spans"] if s["span_type"] == "tool"]
    assert json.loads(tool["span_attributes"]["gen_ai.tool.call.arguments"]) == edited
    used = call(collector, "GET", f"/api/approvals/{approval['id']}", collector.read_key).json()
    assert used["consumed_at"] and used["edited_arguments_hash"] == arguments_hash(edited)


def test_an_agent_restart_resumes_the_same_approval(collector, approver, tmp_path) -> None:
    """The agent continues a trace context it was handed (a queued job's traceparent): after a
    crash, the restarted process asks again and gets the same approval, not a second one."""
    traceparent = "00-" + "5e" * 16 + "-" + "7a" * 8 + "-01"
    env = {"AGENT_NAME": "refund-restart", "AGENT_TIMEOUT_S": "120", "AGENT_TRACEPARENT": traceparent}
    first = Agent(collector, tmp_path, **env)
    try:
        started = first.wait("started")
        assert started["trace_id"] == "5e" * 16
        approval = pending_approval(collector, started["trace_id"])
    finally:
        first.kill()  # SIGKILL while waiting: no goodbye to the collector
    second = Agent(collector, tmp_path, **env)
    try:
        assert second.wait("started")["run_span_id"] != started["run_span_id"], "a new process, a new run span"
        wait_until(lambda: second.proc.poll() is None and len(approvals_of(collector, "5e" * 16)) == 1,
                   what="the restarted agent to be waiting")
        decide(collector, approver, approval["id"], "approve", "ok after the restart")
        decision = second.wait("decision")
        assert decision["approved"] and decision["approval_id"] == approval["id"]
        second.finish()
    finally:
        second.kill()
    assert [a["id"] for a in approvals_of(collector, "5e" * 16)] == [approval["id"]], "no second approval"


def test_a_decision_for_other_arguments_does_not_release_the_call(collector, approver, tmp_path) -> None:
    """Two processes share an explicit idempotency key but not the arguments: the approval (for
    the first one's arguments) cannot be used by the second."""
    key = f"refund-88123-{time.monotonic_ns()}"
    first = Agent(collector, tmp_path, AGENT_NAME="refund-other", AGENT_TIMEOUT_S="120", AGENT_IDEMPOTENCY_KEY=key)
    try:
        approval = pending_approval(collector, first.wait("started")["trace_id"])
    finally:
        first.kill()
    assert approval["idempotency_key"] == key
    other = {**ARGS, "amount": 9999}
    second = Agent(collector, tmp_path, AGENT_NAME="refund-other", AGENT_TIMEOUT_S="120", AGENT_IDEMPOTENCY_KEY=key,
                   AGENT_ARGUMENTS=json.dumps(other))
    try:
        second.wait("started")
        decide(collector, approver, approval["id"], "approve", "4950 is fine")
        decision = second.wait("decision")
        assert (decision["decision"], decision["approved"]) == ("rejected", False)
        assert "other arguments" in decision["reason"] and decision["approval_id"] == approval["id"]
        second.finish()
        assert not second.find("tool"), "a decision for arguments A never releases a call with arguments B"
    finally:
        second.kill()
    unused = call(collector, "GET", f"/api/approvals/{approval['id']}", collector.read_key).json()
    assert unused["consumed_at"] is None


def test_the_wait_survives_a_collector_restart(tmp_path) -> None:
    data = tmp_path / "restarting"
    running = start_collector(data)
    port = int(running.url.rsplit(":", 1)[1])
    agent = None
    try:
        key = new_key(running, "engineer", "Dana Reviewer", ["approve"])
        agent = Agent(running, tmp_path, AGENT_NAME="refund-survive", AGENT_TIMEOUT_S="180")
        started = agent.wait("started")
        approval = pending_approval(running, started["trace_id"])
        running.proc.kill()  # the collector goes away mid-long-poll (a crash; a deploy is the gentle case)
        running.proc.wait(30)
        running = start_collector(data, port=port)  # same store, same address
        assert not agent.find("decision"), "the agent kept waiting while the collector was away"
        decide(running, key, approval["id"], "approve", "decided after the restart")
        decision = agent.wait("decision", timeout=60)
        assert decision["approved"] and decision["approver"] == "Dana Reviewer"
        assert decision["approval_id"] == approval["id"]
        agent.finish()
    finally:
        if agent is not None:
            agent.kill()
        running.stop()


def test_an_unreachable_inbox_is_a_rejection_not_an_approval() -> None:
    memory = InMemorySpanExporter()
    flightlog.init(agent_name="offline-bot", endpoint="http://127.0.0.1:9", api_key="k", control=False,
                   tracer_provider=TracerProvider(), exporter=memory, batch=False)
    try:
        decision = flightlog.checkpoint("refund order 1", tier=3, tool="issue_refund", arguments=ARGS,
                                        approver=flightlog.inbox(timeout_s=60))
    finally:
        flightlog.shutdown()
    assert (decision.decision, bool(decision), decision.approval_id) == ("rejected", False, None)
    assert "could not reach the approval inbox" in decision.reason
    attributes = checkpoint_attributes(memory)
    assert attributes["flightlog.checkpoint.decision"] == "rejected"
    assert "could not reach" in attributes["flightlog.checkpoint.reason"]


def test_arguments_are_redacted_before_they_leave_the_process(collector, approver) -> None:
    memory = InMemorySpanExporter()
    flightlog.init(agent_name="redact-bot", endpoint=collector.url, api_key=collector.ingest_key,
                   redact=[r"[\w.+-]+@[\w-]+\.[\w.]+"], tracer_provider=TracerProvider(), exporter=memory,
                   batch=False)
    arguments = {"order_id": "7", "email": "ann@example.com"}
    box: dict = {}
    try:
        with flightlog.agent_run("redact-bot") as run:
            trace_id = f"{run.span.get_span_context().trace_id:032x}"
            waiter = flightlog.start_thread(lambda: box.update(decision=flightlog.checkpoint(
                "mail the refund receipt", tier=3, tool="send_mail", arguments=arguments,
                approver=flightlog.inbox(timeout_s=60))), daemon=True)
            approval = pending_approval(collector, trace_id)
            assert approval["arguments"] == {"order_id": "7", "email": "[REDACTED]"}
            assert approval["arguments_hash"] == arguments_hash({"order_id": "7", "email": "[REDACTED]"})
            decide(collector, approver, approval["id"], "approve", "fine")
            waiter.join(60)
    finally:
        flightlog.shutdown()
    decision = box["decision"]
    assert decision.approved and decision.arguments == arguments, "the agent uses its real arguments"
    assert checkpoint_attributes(memory)["flightlog.redacted"] is True


def test_tier_2_with_the_inbox_notifies_without_waiting(collector, sdk) -> None:
    with flightlog.agent_run("notify-bot") as run:
        trace_id = f"{run.span.get_span_context().trace_id:032x}"
        decision = flightlog.checkpoint("send the newsletter", tier=2, tool="send_mail",
                                        arguments={"list": "all"}, approver=flightlog.inbox())
    assert (decision.decision, bool(decision), decision.approver) == ("notified", True, "inbox")
    notified = wait_until(lambda: approvals_of(collector, trace_id, "notified"), what="the tier-2 notification")
    assert notified[0]["tier"] == 2 and notified[0]["arguments"] == {"list": "all"}


def test_acheckpoint_waits_without_blocking_the_event_loop(collector, approver, sdk) -> None:
    ticks: list[float] = []

    async def ticker(stop: asyncio.Event) -> None:
        while not stop.is_set():
            ticks.append(time.monotonic())
            await asyncio.sleep(0.02)

    async def agent() -> flightlog.Decision:
        stop = asyncio.Event()
        beat = asyncio.create_task(ticker(stop))
        with flightlog.agent_run("async-bot") as run:
            trace_id = f"{run.span.get_span_context().trace_id:032x}"

            def person() -> None:  # another process's job; a thread here
                approval = pending_approval(collector, trace_id)
                wait_until(lambda: len(ticks) >= 40, what="the loop to tick while the agent waits")
                decide(collector, approver, approval["id"], "approve", "async is fine")

            threading.Thread(target=person, daemon=True).start()
            started = time.monotonic()
            decision = await flightlog.acheckpoint("refund order 5", tier=3, tool="issue_refund",
                                                   arguments={"order_id": "5", "amount": 5},
                                                   approver=flightlog.inbox(timeout_s=60))
            waited = time.monotonic() - started
        stop.set()
        await beat
        during = [t for t in ticks if started <= t <= started + waited]
        assert waited > 0.5 and len(during) >= 20, (waited, len(during))
        gaps = [b - a for a, b in zip(during, during[1:])]
        assert max(gaps) < 0.5, f"the event loop was blocked for {max(gaps):.2f}s"
        return decision

    decision = asyncio.run(agent())
    assert decision.approved and decision.approver == "Dana Reviewer"
    assert checkpoint_attributes(sdk)["flightlog.checkpoint.approver"] == "Dana Reviewer"


def test_cancelling_acheckpoint_ends_the_wait_as_a_rejection(collector, sdk) -> None:
    async def agent() -> None:
        with flightlog.agent_run("cancel-bot") as run:
            trace_id = f"{run.span.get_span_context().trace_id:032x}"
            task = asyncio.create_task(flightlog.acheckpoint("refund order 6", tier=3, tool="issue_refund",
                                                             arguments={"order_id": "6"},
                                                             approver=flightlog.inbox(timeout_s=60)))
            while not approvals_of(collector, trace_id, "pending"):
                await asyncio.sleep(0.05)  # polls the API while the checkpoint waits
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(agent())
    attributes = wait_until(lambda: [s for s in sdk.get_finished_spans()
                                     if s.attributes.get("flightlog.span.type") == "checkpoint"],
                            what="the cancelled checkpoint's span")[0].attributes
    assert attributes["flightlog.checkpoint.decision"] == "rejected"
    assert "cancelled" in attributes["flightlog.checkpoint.reason"]


def test_an_explicit_idempotency_key_and_the_default_one(collector, approver, sdk) -> None:
    with flightlog.agent_run("idem-bot") as run:
        trace_id = f"{run.span.get_span_context().trace_id:032x}"
        box: dict = {}
        worker = flightlog.start_thread(lambda: box.update(d=flightlog.checkpoint(
            "refund order 9", tier=3, arguments={"amount": 1}, idempotency_key="my-own-key-9",
            approver=flightlog.inbox(timeout_s=60))), daemon=True)
        approval = pending_approval(collector, trace_id)
        assert approval["idempotency_key"] == "my-own-key-9"
        decide(collector, approver, approval["id"], "approve", "ok")
        worker.join(60)
    assert box["d"].approval_id == approval["id"]
