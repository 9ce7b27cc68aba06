"""Tests for carrying a flightlog trace across threads, asyncio tasks and processes
(flightlog.bind_context, start_thread, inject, extract)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor


import flightlog


def run_and_tools(exporter):
    spans = exporter.get_finished_spans()
    run = next(s for s in spans if s.name.startswith("invoke_agent"))
    tools = [s for s in spans if s.name.startswith("execute_tool")]
    return run, tools


def work(i):
    with flightlog.tool_call(f"worker-{i}"):
        return i


def test_bind_context_carries_the_run_into_a_thread_pool(exporter):
    with flightlog.agent_run("bot", user_id="u-1"):
        with ThreadPoolExecutor(max_workers=4) as pool:
            bound = flightlog.bind_context(work)
            assert sorted(pool.map(bound, range(8))) == list(range(8))
    run, tools = run_and_tools(exporter)
    assert len(tools) == 8
    for tool in tools:
        assert tool.parent.span_id == run.context.span_id
        assert tool.attributes["user.id"] == "u-1"


def test_start_thread_runs_the_target_in_the_callers_context(exporter):
    with flightlog.agent_run("bot"):
        thread = flightlog.start_thread(work, 1)
        thread.join()
    run, (tool,) = run_and_tools(exporter)
    assert tool.parent.span_id == run.context.span_id
    assert tool.attributes["gen_ai.agent.name"] == "bot"


def test_plain_thread_without_binding_starts_a_new_trace(exporter):
    with flightlog.agent_run("bot"):
        thread = threading.Thread(target=work, args=(1,))
        thread.start()
        thread.join()
    run, (tool,) = run_and_tools(exporter)
    assert tool.parent is None
    assert "gen_ai.agent.name" not in tool.attributes


def test_asyncio_tasks_inherit_the_run(exporter):
    @flightlog.tool_call
    async def fetch(i):
        await asyncio.sleep(0)
        return i

    async def main():
        async with flightlog.agent_run("bot", session_id="s-9"):
            return await asyncio.gather(*(asyncio.create_task(fetch(i)) for i in range(5)))

    assert asyncio.run(main()) == list(range(5))
    run, tools = run_and_tools(exporter)
    assert len(tools) == 5
    assert all(t.parent.span_id == run.context.span_id for t in tools)
    assert all(t.attributes["gen_ai.conversation.id"] == "s-9" for t in tools)


def test_inject_writes_a_w3c_traceparent(exporter):
    with flightlog.agent_run("bot") as run:
        carrier = flightlog.inject()
    ctx = run.span.get_span_context()
    version, trace_id, span_id, flags = carrier["traceparent"].split("-")
    assert (version, trace_id, span_id) == ("00", f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}")
    assert int(flags, 16) & 1  # sampled


def test_extract_continues_the_trace_in_another_run(exporter):
    with flightlog.agent_run("sender"):
        with flightlog.handoff("receiver"):
            message = {"task": "x", "headers": flightlog.inject({})}
    with flightlog.agent_run("receiver", parent=flightlog.extract(message["headers"])):
        pass
    spans = {s.name: s for s in exporter.get_finished_spans()}
    receiver = spans["invoke_agent receiver"]
    handoff = spans["handoff receiver"]
    assert receiver.context.trace_id == handoff.context.trace_id
    assert receiver.parent.span_id == handoff.context.span_id


def test_extract_of_an_empty_carrier_starts_a_new_trace(exporter):
    with flightlog.agent_run("outer"):
        with flightlog.agent_run("detached", parent=flightlog.extract({})):
            pass
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert spans["invoke_agent detached"].parent is None


def test_link_starts_a_trace_of_its_own_that_points_at_the_sender(exporter):
    with flightlog.agent_run("scheduler"):
        with flightlog.handoff("digest") as handoff:
            message = {"headers": flightlog.inject()}
    with flightlog.agent_run("outer"):  # even inside another run: linked, not joined
        with flightlog.agent_run("digest", link=flightlog.extract(message["headers"])):
            with flightlog.llm_call("m"):
                pass
    spans = {s.name: s for s in exporter.get_finished_spans()}
    sender = handoff.span.get_span_context()
    digest = spans["invoke_agent digest"]
    assert digest.parent is None
    assert digest.context.trace_id not in (sender.trace_id, spans["invoke_agent outer"].context.trace_id)
    assert spans["chat m"].context.trace_id == digest.context.trace_id
    (link,) = digest.links
    assert (link.context.trace_id, link.context.span_id) == (sender.trace_id, sender.span_id)
    assert link.attributes["flightlog.link.type"] == "follows_from"


def test_link_to_an_empty_carrier_is_just_a_new_trace(exporter):
    with flightlog.agent_run("lonely", link=flightlog.extract({})):
        pass
    (span,) = exporter.get_finished_spans()
    assert span.parent is None and not span.links


CHILD = textwrap.dedent("""
    import json, sys
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    import flightlog

    exporter = InMemorySpanExporter()
    flightlog.init(tracer_provider=TracerProvider(), exporter=exporter, batch=False)
    message = json.loads(sys.stdin.read())
    context = flightlog.extract(message["headers"])
    joined = message["mode"] == "parent"
    with flightlog.agent_run("child-agent", parent=context if joined else None, link=None if joined else context):
        with flightlog.llm_call("m"):
            pass
    flightlog.shutdown()
    print(json.dumps([
        {"name": s.name, "trace_id": format(s.context.trace_id, "032x"),
         "parent": format(s.parent.span_id, "016x") if s.parent else None,
         "links": [format(link.context.span_id, "016x") for link in s.links]}
        for s in exporter.get_finished_spans()
    ]))
""")


def run_child(message: dict) -> dict:
    child = subprocess.run([sys.executable, "-c", CHILD], input=json.dumps(message), capture_output=True,
                           text=True, timeout=60)
    assert child.returncode == 0, child.stderr
    return {s["name"]: s for s in json.loads(child.stdout)}


def test_a_second_process_can_link_instead_of_joining(exporter):
    with flightlog.agent_run("parent-agent"):
        with flightlog.handoff("child-agent") as handoff:
            child_spans = run_child({"task": "summarise", "headers": flightlog.inject(), "mode": "link"})
    ctx = handoff.span.get_span_context()
    root = child_spans["invoke_agent child-agent"]
    assert root["parent"] is None and root["links"] == [f"{ctx.span_id:016x}"]
    assert root["trace_id"] != f"{ctx.trace_id:032x}"
    assert child_spans["chat m"]["trace_id"] == root["trace_id"]


def test_a_second_process_continues_the_trace(exporter):
    with flightlog.agent_run("parent-agent"):
        with flightlog.handoff("child-agent") as handoff:
            message = json.dumps({"task": "summarise", "headers": flightlog.inject(), "mode": "parent"})
            child = subprocess.run([sys.executable, "-c", CHILD], input=message, capture_output=True,
                                   text=True, timeout=60)
    assert child.returncode == 0, child.stderr
    child_spans = {s["name"]: s for s in json.loads(child.stdout)}
    ctx = handoff.span.get_span_context()
    assert {s["trace_id"] for s in child_spans.values()} == {f"{ctx.trace_id:032x}"}
    assert child_spans["invoke_agent child-agent"]["parent"] == f"{ctx.span_id:016x}"
    parent_trace_ids = {s.context.trace_id for s in exporter.get_finished_spans()}
    assert parent_trace_ids == {ctx.trace_id}
