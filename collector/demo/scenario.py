"""Deterministic demo traces: two weeks of four agents at work, with one incident to find.

``build_demo_requests(now_ns, seed=7)`` returns OTLP ``ExportTraceServiceRequest`` messages,
one resource (``service.name`` = the agent) per request, each carrying the spans of one or
more traces. The same ``now_ns`` and ``seed`` always give the same bytes.

The incident is causal, not pasted in: refund-bot 2.3.0 shipped prompt ``refund-policy``
``v7``, whose rule 5 tells the model to write refund amounts "without a decimal separator"
while the ``issue_refund`` tool still parses dollars. The one refund issued while v7 was
live (order 88123, $49.50) went out as 4950.00, and the payments ledger answered with an
"account overdraft alert". Search for ``overdraft`` (``INCIDENT_SEARCH_WORD``) to find it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from flightlog import semconv as sc

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans

from flightlog.collector.demo import text as txt
from flightlog.collector.demo.builder import DAY, HOUR, MINUTE, DemoTrace, day_text, js, key_values, token

DEMO_DAYS = 14

INCIDENT_TRACE_ID = "6e2b9c4f1a8d4d07b3e5f0c288123f49"
INCIDENT_SEARCH_WORD = "overdraft"
INCIDENT_AGENT = "refund-bot"
INCIDENT_AGENT_VERSION = "2.3.0"
INCIDENT_PROMPT_ID = "refund-policy"
INCIDENT_PROMPT_VERSION = "v7"
INCIDENT_ORDER_ID = "88123"
INCIDENT_USER_ID = "cust_30417"
INCIDENT_AGE_NS = 2 * DAY + 4 * HOUR  # how long before now_ns the incident trace started
V7_LIVE_AGE_NS = (2 * DAY + 9 * HOUR, 1 * DAY + 21 * HOUR)  # v7 deployed, then rolled back

# agent -> releases, oldest first: (live when age <= this, agent version, prompt versions)
_RELEASES: dict[str, list[tuple[int, str, dict[str, str]]]] = {
    "refund-bot": [
        (DEMO_DAYS * DAY, "2.2.4", {"refund-policy": "v6", "refund-intent": "v2"}),
        (9 * DAY, "2.2.5", {"refund-policy": "v6", "refund-intent": "v3"}),
        (V7_LIVE_AGE_NS[0], INCIDENT_AGENT_VERSION,
         {"refund-policy": INCIDENT_PROMPT_VERSION, "refund-intent": "v3"}),
        (V7_LIVE_AGE_NS[1], "2.3.1", {"refund-policy": "v6", "refund-intent": "v3"})],
    "research-assistant": [(DEMO_DAYS * DAY, "1.4.0", {"research-synthesis": "v3"}),
                           (6 * DAY, "1.5.0", {"research-synthesis": "v4"})],
    "sql-analyst": [(DEMO_DAYS * DAY, "0.9.2", {"sql-writer": "v11", "sql-summary": "v2"}),
                    (5 * DAY, "0.9.3", {"sql-writer": "v12", "sql-summary": "v2"})],
    "triage-bot": [(DEMO_DAYS * DAY, "3.0.1", {"triage-classify": "v4", "triage-reply": "v1"}),
                   (8 * DAY, "3.1.0", {"triage-classify": "v5", "triage-reply": "v1"})],
}
# --- the four agents: each adds child spans to a DemoTrace, then calls finish() ---------------


def _refund_bot(t: DemoTrace, rng: random.Random, prompts: dict[str, str], *,
                order_id: str = "", product: tuple[str, str, float] | None = None,
                reason: tuple[str, str] | None = None, name: str = "") -> None:
    name, order_id = name or rng.choice(txt.FIRST_NAMES), order_id or str(rng.randint(40000, 99999))
    sku, item, price = product or rng.choice(txt.PRODUCTS)
    reason_text, reason_code = reason or rng.choice(txt.DAMAGE_REASONS)
    policy = ("refund-policy", prompts["refund-policy"])
    if product:
        kind = "refund"
    elif policy[1] == INCIDENT_PROMPT_VERSION:  # no other eligible refund while v7 was live
        kind = rng.choice(["status", "late"])
    else:
        kind = rng.choices(["refund", "status", "late"], [6, 3, 1])[0]
    message = rng.choice({"refund": txt.REFUND_MESSAGES, "status": txt.STATUS_MESSAGES,
                          "late": txt.LATE_MESSAGES}[kind]).format(
        item=item, order_id=order_id, reason=reason_text)
    intent = {"intent": "order_status" if kind == "status" else "refund_request",
              "order_id": order_id, "sentiment": "negative"}
    t.llm("gpt-4o-mini", ("refund-intent", prompts["refund-intent"]), {"message": message},
          js(intent))
    days = 3 if product else rng.randint(2, 27) if kind == "refund" else rng.randint(45, 80)
    payment = rng.choice(txt.PAYMENTS)
    order = {"order_id": order_id, "status": "in_transit" if kind == "status" else "delivered",
             "delivered_at": None if kind == "status" else day_text(t.start_ns, days),
             "items": [{"sku": sku, "name": item, "price": price, "quantity": 1}],
             "payment_method": payment, "customer_id": t.user}
    if rng.random() < 0.06:
        t.tool("lookup_order", {"order_id": order_id}, None, 10_000,
               error=("TimeoutError", "lookup_order timed out after 10000 ms (orders-api)"))
    call = t.tool("lookup_order", {"order_id": order_id}, order, rng.randint(80, 600))
    facts = [{"role": "tool", "parts": [{"type": "tool_call_response", "id": call,
                                         "response": order}]}]
    variables = {"customer_name": name, "message": message}
    fill = dict(order_id=order_id, item=item, reason=reason_text, price=price, payment=payment,
                name=name, days=days, delivered=day_text(t.start_ns, days))
    if kind == "refund":
        return _issue_refund(t, rng, policy, variables, facts, fill, reason_code)
    fill.update(shipped=day_text(t.start_ns, 4), carrier=rng.choice(txt.CARRIERS),
                tracking=token(rng, "1Z", 16, "0123456789ABCDEF"), scan=rng.choice(txt.SCANS),
                eta=rng.choice(txt.ETAS))
    decision, reply = ((txt.STATUS_DECISION, txt.STATUS_REPLY) if kind == "status"
                       else (txt.LATE_DECISION, txt.LATE_REPLY))
    t.llm("gpt-4o", policy, variables, decision.format(**fill), context=facts)
    t.llm("gpt-4o", policy, variables, reply.format(**fill), context=facts)
    t.finish(message, reply.format(**fill))


def _issue_refund(t: DemoTrace, rng: random.Random, policy: tuple[str, str],
                  variables: dict[str, str], facts: list[dict], fill: dict[str, Any],
                  reason_code: str) -> None:
    price = fill["price"]
    # Rule 5 of the prompt decides how the model writes the amount; the tool reads dollars.
    amount_arg: float | int = price if policy[1] == "v6" else round(price * 100)
    call_id = token(rng, "call_", 24)
    args = {"order_id": fill["order_id"], "amount": amount_arg, "currency": "USD",
            "reason": reason_code}
    template = txt.REFUND_DECISION if policy[1] == "v6" else txt.INCIDENT_DECISION
    decision = template.format(**fill, return_note=txt.RETURN_NOTES[price < 100],
                               amount_arg=amount_arg, currency="USD")
    t.llm("gpt-4o", policy, variables, decision, context=facts, tool_call={
        "type": "tool_call", "id": call_id, "name": "issue_refund", "arguments": args})
    # The approval guard looks at the order line price, not at the tool argument.
    verdict, approver, wait = "autonomous", "policy:auto-under-200", rng.randint(2, 9)
    if price > 200:
        verdict = rng.choices(["approved", "rejected", "timed_out"], [7, 2, 1])[0]
        approver = rng.choice(txt.SUPPORT_APPROVERS) if verdict != "timed_out" else ""
        wait = 900_000 if verdict == "timed_out" else rng.randint(40_000, 1_200_000)
    t.checkpoint(f"issue_refund order {fill['order_id']} ${price:.2f} (order line price)",
                 2 if price > 200 else 1, verdict, approver, wait)
    if verdict in ("rejected", "timed_out"):
        reply = txt.REFUND_REJECTED_REPLY if verdict == "rejected" else txt.REFUND_PENDING_REPLY
        return t.finish(variables["message"], reply.format(**{**fill, "amount": price}))
    refunded = float(amount_arg)
    refund_id = token(rng, "rf_", 6, "ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
    result: dict[str, Any] = {"status": "issued", "refund_id": refund_id,
                              "amount": f"{refunded:.2f}", "currency": "USD"}
    if refunded > 1000:
        result["ledger_warning"] = (f"account {INCIDENT_SEARCH_WORD} alert: merchant settlement "
                                    f"balance is negative after refund {refund_id}")
    t.tool("issue_refund", args, result, rng.randint(300, 1400), call_id=call_id)
    extra = "" if price < 100 else "A prepaid return label is on its way by email. "
    reply = txt.REFUND_REPLY.format(**{**fill, "amount": refunded}, refund_id=refund_id,
                                    extra=extra)
    facts = facts + [{"role": "tool", "parts": [{"type": "tool_call_response", "id": call_id,
                                                 "response": result}]}]
    t.llm("gpt-4o", policy, variables, reply, context=facts)
    t.finish(variables["message"], reply)


def _research_assistant(t: DemoTrace, rng: random.Random, prompts: dict[str, str]) -> None:
    topic = rng.choice(txt.RESEARCH_TOPICS)
    question, args = topic["question"], {"query": topic["question"], "max_results": 5}
    t.retrieval("confluence-notion-index", question, topic["docs"])
    web = [{"title": a, "url": b, "snippet": c} for a, b, c in topic["web"]]
    if rng.random() < 0.1:
        t.tool("web_search", args, None, 30_000, error=("TimeoutError", txt.WEB_TIMEOUT))
        web = []  # the agent carries on with internal documents only
    else:
        t.tool("web_search", args, {"results": web}, rng.randint(700, 2600))
    variables = {"question": question,
                 "documents": "\n".join(f"[{d}] {c}" for d, c in topic["docs"]),
                 "web_results": "\n".join(f"- {w['title']} ({w['url']}): {w['snippet']}"
                                          for w in web) or "(none)"}
    t.llm("claude-sonnet-4", ("research-synthesis", prompts["research-synthesis"]), variables,
          topic["answer"])
    t.finish(question, topic["answer"])


def _sql_analyst(t: DemoTrace, rng: random.Random, prompts: dict[str, str]) -> None:
    q = rng.choice(txt.SQL_QUESTIONS)
    t.tool("get_schema", {"tables": ["events", "daily_revenue", "workspaces"]},
           {"schema": txt.SQL_SCHEMA}, rng.randint(20, 90))
    writer = ("sql-writer", prompts["sql-writer"])
    variables = {"schema": txt.SQL_SCHEMA, "question": q["question"]}
    answer = f"```sql\n{q['sql']}\n```\nThis query answers '{q['question']}' from the warehouse."
    model = "gpt-4o-mini"
    if rng.random() < 0.12:
        message = txt.RATE_LIMIT_ERROR.format(used=rng.randint(100, 999),
                                              requested=rng.randint(1500, 2600),
                                              wait=rng.randint(300, 900))
        t.llm(model, writer, variables, "", error=("RateLimitError", message))
        model = "gemini-2.5-flash"  # the agent falls back to another provider
    t.llm(model, writer, variables, answer)
    run_args = {"sql": q["sql"], "timeout_s": 30}
    if rng.random() < 0.06:
        error = ("DatabaseError", txt.SQL_MEMORY_ERROR)
        t.tool("run_sql", run_args, None, rng.randint(4000, 9000), error=error)
        failure = "The query ran out of memory on the warehouse; try a shorter date range."
        return t.finish(q["question"], failure, error)
    result = {"columns": q["columns"], "rows": q["rows"], "row_count": len(q["rows"]),
              "elapsed_ms": rng.randint(40, 2400)}
    t.tool("run_sql", run_args, result, result["elapsed_ms"] + 15)
    t.llm("gemini-2.5-flash", ("sql-summary", prompts["sql-summary"]),
          {**variables, "result": js(result)}, q["summary"])
    t.finish(q["question"], q["summary"])


def _triage_bot(t: DemoTrace, rng: random.Random, prompts: dict[str, str]) -> None:
    ticket = rng.choice(txt.TICKETS)
    classify = ("triage-classify", prompts["triage-classify"])
    fields = ("category", "severity", "summary") + (("queue",) if classify[1] == "v5" else ())
    t.llm("gpt-4o-mini", classify, {"ticket": ticket["text"]}, js({k: ticket[k] for k in fields}))
    notes = [r for r in txt.RUNBOOKS if ticket["category"] in r[0] or rng.random() < 0.25][:3]
    t.retrieval("support-runbooks", ticket["summary"], notes or txt.RUNBOOKS[:2])
    customer_id = f"ws_{t.session[4:10]}"
    t.tool("lookup_customer", {"customer_id": customer_id},
           {"company": txt.COMPANIES[int(t.session[4:10], 16) % len(txt.COMPANIES)],
            "plan": rng.choice(["starter", "growth", "enterprise"]),
            "mrr_usd": rng.randint(49, 9000), "csm": "r.kim@acme.example"}, rng.randint(30, 200))
    severity = ticket["severity"]
    tier = {"sev1": 3, "sev2": 2}.get(severity, 1)
    decision, approver, wait = "autonomous", "policy:auto-sev3-sev4", rng.randint(2, 9)
    if tier > 1:
        decision = rng.choices(["approved", "rejected", "timed_out"], [8, 1, 1])[0]
        approver = rng.choice(txt.ONCALL_APPROVERS) if decision != "timed_out" else ""
        wait = 300_000 if decision == "timed_out" else rng.randint(15_000, 240_000)
    t.checkpoint(f"create_ticket {severity} {ticket['queue']} (page on-call: {tier == 3})",
                 tier, decision, approver, wait)
    if decision == "rejected":  # the approver downgraded the ticket
        severity = {"sev1": "sev2", "sev2": "sev3"}[severity]
    ticket_id = f"SUP-{rng.randint(10000, 99999)}"
    t.tool("create_ticket", {"title": ticket["summary"], "priority": severity,
                             "queue": ticket["queue"], "customer_id": customer_id},
           {"ticket_id": ticket_id, "url": f"https://support.acme.example/t/{ticket_id}"},
           rng.randint(120, 500))
    hint = txt.RUNBOOKS[4][1] if ticket["category"] == "how_to" else txt.RUNBOOKS[5][1]
    reply = txt.TRIAGE_REPLY.format(
        name=t.user.split(".")[0].title(), ticket=ticket_id, queue=ticket["queue"],
        summary_lower=ticket["summary"][0].lower() + ticket["summary"][1:], severity=severity,
        next_step=txt.NEXT_STEPS[severity].format(hint=hint), when=txt.WHEN[severity])
    t.llm("claude-sonnet-4", ("triage-reply", prompts["triage-reply"]),
          {"ticket": ticket["text"], "notes": "\n".join(c for _, c in notes)}, reply)
    t.finish(ticket["text"], reply)


_Builder = Callable[[DemoTrace, random.Random, dict[str, str]], None]
# agent -> (builder, sessions over the 14 days, weights of 1/2/3 traces per session)
_AGENTS: dict[str, tuple[_Builder, int, tuple[int, int, int]]] = {
    "refund-bot": (_refund_bot, 58, (1, 0, 0)),
    "research-assistant": (_research_assistant, 30, (5, 3, 2)),
    "sql-analyst": (_sql_analyst, 34, (5, 3, 2)),
    "triage-bot": (_triage_bot, 52, (1, 0, 0)),
}


def _user(rng: random.Random, agent: str) -> str:
    if agent == "refund-bot":
        return f"cust_{rng.randint(10000, 99999)}"
    if agent == "triage-bot":
        first = rng.choice(txt.FIRST_NAMES).lower().replace("á", "a")
        return f"{first}.{rng.choice(['ops', 'it', 'admin'])}@customer.example"
    return f"{rng.choice(txt.ANALYSTS)}@acme.example"


def _release(agent: str, age_ns: int) -> tuple[str, dict[str, str]]:
    return [(v, p) for limit, v, p in _RELEASES[agent] if age_ns <= limit][-1]


def _traces(rng: random.Random, now_ns: int) -> list[DemoTrace]:
    traces: list[DemoTrace] = []
    for agent, (build, sessions, turn_weights) in _AGENTS.items():
        for _ in range(sessions):
            user = _user(rng, agent)
            prefix = "tkt-" if agent == "triage-bot" else "sess_"
            session = token(rng, prefix, 12, "0123456789abcdef")
            start = now_ns - rng.randint(2 * HOUR, DEMO_DAYS * DAY - 2 * HOUR)
            for _turn in range(rng.choices((1, 2, 3), turn_weights)[0]):
                version, prompts = _release(agent, now_ns - start)
                t = DemoTrace(rng, rng.randbytes(16), agent, version, user, session, start)
                build(t, rng, prompts)
                traces.append(t)
                start = t.cursor + rng.randint(1, 6) * MINUTE
    version, prompts = _release(INCIDENT_AGENT, INCIDENT_AGE_NS)
    incident = DemoTrace(rng, bytes.fromhex(INCIDENT_TRACE_ID), INCIDENT_AGENT, version,
                      INCIDENT_USER_ID, "sess_5f0e6a1c9b72", now_ns - INCIDENT_AGE_NS)
    _refund_bot(incident, rng, prompts, order_id=INCIDENT_ORDER_ID, product=txt.PRODUCTS[1],
                reason=txt.DAMAGE_REASONS[0], name="Hannah")
    return traces + [incident]


def build_demo_requests(now_ns: int | None = None, *,
                        seed: int = 7) -> list[ExportTraceServiceRequest]:
    """Two weeks of demo agent traces ending at ``now_ns``, as OTLP export requests.

    Deterministic for a given ``now_ns`` and ``seed``. Each request holds one resource (an
    agent at one version) with the spans of one to five consecutive traces of that agent;
    requests come in time order, as a batching exporter would send them.
    """
    now_ns = time.time_ns() if now_ns is None else now_ns
    rng = random.Random(seed)
    batches: list[list[DemoTrace]] = []
    for t in sorted(_traces(rng, now_ns), key=lambda t: (t.agent, t.start_ns)):
        last = batches[-1] if batches else []
        same = last and (last[0].agent, last[0].version) == (t.agent, t.version)
        if same and len(last) < rng.randint(1, 5):
            last.append(t)
        else:
            batches.append([t])
    batches.sort(key=lambda b: b[0].start_ns)
    scope = InstrumentationScope(name="flightlog", version="0.1.0")
    requests = []
    for batch in batches:
        resource = Resource(attributes=key_values({
            sc.SERVICE_NAME: batch[0].agent, sc.SERVICE_VERSION: batch[0].version,
            "deployment.environment": "production", "telemetry.sdk.name": "flightlog"}))
        spans = [s for t in batch for s in sorted(t.spans, key=lambda s: s.start_time_unix_nano)]
        requests.append(ExportTraceServiceRequest(resource_spans=[ResourceSpans(
            resource=resource, scope_spans=[ScopeSpans(scope=scope, spans=spans)])]))
    return requests
