"""Steps leave no reference cycles behind.

A long-running agent makes millions of spans. If a step and its context (or a run and its
state) pointed at each other, every one would wait for Python's cycle collector instead of being
freed when it ends: memory grows between collections and each collection pauses the agent
longer. ``gc.collect()`` returns the number of unreachable objects it found, so after running
every kind of step with the collector disabled it must find none.
"""

from __future__ import annotations

import asyncio
import gc


import flightlog


@flightlog.tool_call
def lookup(order_id: str) -> dict:
    return {"order": order_id, "status": "shipped"}


@flightlog.llm_call("gpt-4o", provider="openai", prompt_id="triage", prompt_version="3")
def answer(messages: list) -> str:
    return "It shipped."


@flightlog.retrieval(source="kb")
def search(query: str):
    yield {"id": "doc-1", "score": 0.9, "content": "Shipping takes 3 days."}


@flightlog.agent_run
async def bot(question: str) -> str:
    order = lookup("o-1")
    docs = list(search(question))
    with flightlog.handoff("billing", reason="refund question"):
        pass
    flightlog.checkpoint("send reply", tier=3, confidence=0.9, approver=lambda request: True)
    await asyncio.sleep(0)
    return answer([{"role": "user", "content": f"{question} {order} {docs}"}])


def one_turn() -> None:
    with flightlog.agent_run("support", user_id="u-1", limits=flightlog.Limits(max_llm_calls=10)) as run:
        with flightlog.llm_call("gpt-4o", messages=[{"role": "user", "content": "hi"}]) as call:
            call.set_output("hello")
            call.set_usage(input_tokens=3, output_tokens=1)
        with flightlog.tool_call("lookup", arguments={"id": 1}) as tool:
            tool.set_result("ok")
        run.set_output(asyncio.run(bot("where is my order?")))


def test_finished_steps_leave_no_garbage_cycles(exporter):
    one_turn()  # warm up: first-use caches, lazily created module state
    exporter.clear()
    gc.collect()
    spans_per_turn = None
    gc.disable()
    try:
        for _ in range(20):
            one_turn()
        spans_per_turn = len(exporter.get_finished_spans()) // 20
        exporter.clear()
        unreachable = gc.collect()
    finally:
        gc.enable()
    assert spans_per_turn is not None and spans_per_turn >= 9  # every step kind above really ran
    assert unreachable == 0, f"{unreachable} objects were only freed by the cycle collector"
