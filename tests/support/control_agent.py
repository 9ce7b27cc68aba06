"""An agent process for the control-loop tests: the real flightlog SDK exporting over OTLP/HTTP
to a collector on loopback (``FLIGHTLOG_ENDPOINT`` / ``FLIGHTLOG_API_KEY``), driven by
``AGENT_*`` variables. It prints one JSON object per line on stdout, flushed at once.

``AGENT_MODE=inbox``: one run with an LLM call and an inbox checkpoint of ``issue_refund``
(``AGENT_ARGUMENTS`` JSON, ``AGENT_TIER``, ``AGENT_TIMEOUT_S``, ``AGENT_IDEMPOTENCY_KEY``,
``AGENT_TRACEPARENT`` to continue a trace context, ``AGENT_ASYNC=1`` for ``acheckpoint``);
prints ``started`` (trace id, checkpoint parent), then ``decision``; on approval it calls the
tool with ``decision.arguments`` and prints ``tool``.

``AGENT_MODE=loop``: runs (LLM call + tool call ``AGENT_TOOL``) until ``AGENT_STOP_FILE``
exists; prints ``ok`` / ``paused`` (with ``time.time()``) whenever the outcome changes.

``AGENT_MODE=count``: ``AGENT_RUNS`` runs with one LLM call, two tool calls and one refused
one (``shell``) each, with an audit hook counting every socket connect made on the agent's own
(main) thread; prints ``counted`` (with the control thread's request count and the seconds since ``init()``).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

import flightlog


def say(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, **fields}, default=str), flush=True)


def main() -> None:
    mode = os.environ.get("AGENT_MODE", "inbox")
    agent = os.environ.get("AGENT_NAME", "refund-bot")
    if mode == "count":  # before init(): the audit hook sees every connect from now on
        count()
        return
    flightlog.init(agent_name=agent, agent_version=os.environ.get("AGENT_VERSION", "2.3.0"), project="default")
    try:
        {"inbox": inbox, "loop": loop}[mode](agent)
    finally:
        flightlog.shutdown(timeout_s=10)


def inbox(agent: str) -> None:
    arguments = json.loads(os.environ.get("AGENT_ARGUMENTS", '{"order_id": "88123", "amount": 4950}'))
    parent = None
    if os.environ.get("AGENT_TRACEPARENT"):
        parent = flightlog.extract({"traceparent": os.environ["AGENT_TRACEPARENT"]})
    kwargs = {"tier": int(os.environ.get("AGENT_TIER", "3")), "tool": "issue_refund", "arguments": arguments,
              "confidence": float(os.environ.get("AGENT_CONFIDENCE", "0.9")),
              "idempotency_key": os.environ.get("AGENT_IDEMPOTENCY_KEY") or None}
    if os.environ.get("AGENT_TIMEOUT_S"):
        kwargs["approver"] = flightlog.inbox(timeout_s=float(os.environ["AGENT_TIMEOUT_S"]))
    with flightlog.agent_run(agent, parent=parent, input="refund order 88123") as run:
        ctx = run.span.get_span_context()
        say("started", trace_id=f"{ctx.trace_id:032x}", run_span_id=f"{ctx.span_id:016x}", pid=os.getpid())
        with flightlog.llm_call("gpt-4o", prompt_id="refunds", prompt_version="7") as call:
            call.set_output("issue_refund(order_id=88123, amount=4950)")
        if os.environ.get("AGENT_ASYNC") == "1":
            import asyncio

            decision = asyncio.run(flightlog.acheckpoint(f"refund order {arguments.get('order_id')}", **kwargs))
        else:
            decision = flightlog.checkpoint(f"refund order {arguments.get('order_id')}", **kwargs)
        say("decision", decision=decision.decision, approved=bool(decision), approver=decision.approver,
            reason=decision.reason, approval_id=decision.approval_id, arguments=decision.arguments,
            edited=decision.edited, tier=decision.tier, tier_reasons=list(decision.tier_reasons))
        if decision:
            with flightlog.tool_call("issue_refund", arguments=decision.arguments) as tool:
                tool.set_result("refunded")
            say("tool", arguments=decision.arguments)


def loop(agent: str) -> None:
    stop_file = os.environ["AGENT_STOP_FILE"]
    tool = os.environ.get("AGENT_TOOL", "lookup_order")
    last = None
    runs = 0
    while not os.path.exists(stop_file):
        try:
            with flightlog.agent_run(agent):
                with flightlog.llm_call("gpt-4o") as call:
                    call.set_output("look it up")
                with flightlog.tool_call(tool, arguments={"order_id": "1"}) as call:
                    call.set_result("found")
            outcome, message = "ok", ""
        except flightlog.AgentPaused as exc:
            outcome, message = "paused", str(exc)
        runs += 1
        if outcome != last:
            say(outcome, t=time.time(), runs=runs, message=message)
            last = outcome
        time.sleep(0.01)  # the agent's own pace: about a hundred runs a second


def count() -> None:
    main_thread = threading.get_ident()
    connects = {"main": 0, "other": 0}

    def hook(event: str, args: tuple) -> None:
        if event == "socket.connect":
            connects["main" if threading.get_ident() == main_thread else "other"] += 1

    sys.addaudithook(hook)
    alive_from = time.perf_counter()
    flightlog.init(agent_name=os.environ.get("AGENT_NAME", "count-bot"), agent_version="1.0", project="default")
    with flightlog.agent_run("warm-up"):
        pass  # the first check waits for the first control state (once per process)
    before = dict(connects)
    runs = int(os.environ.get("AGENT_RUNS", "200"))
    started = time.perf_counter()
    refused = 0
    for i in range(runs):
        with flightlog.agent_run(os.environ.get("AGENT_NAME", "count-bot"), user_id="u-1"):
            with flightlog.llm_call("gpt-4o") as call:
                call.set_output("ok")
                call.set_usage(input_tokens=3, output_tokens=1)
            for tool in ("lookup_order", "issue_refund"):
                with flightlog.tool_call(tool, arguments={"i": i}) as call:
                    call.set_result("done")
            try:
                with flightlog.tool_call("shell", arguments={"cmd": "true"}):
                    pass
            except (flightlog.AgentPaused, flightlog.PolicyDenied):
                refused += 1
    elapsed = time.perf_counter() - started
    main_connects = connects["main"] - before["main"]
    from flightlog import _control

    polls = _control.CLIENT.polls if _control.CLIENT is not None else -1
    alive = time.perf_counter() - alive_from
    flightlog.shutdown(timeout_s=10)
    say("counted", runs=runs, main_connects=main_connects, seconds=elapsed, refused=refused, polls=polls,
        alive=alive)


if __name__ == "__main__":
    main()
