"""What the control-loop UI tests do as an agent or an admin would, over the real wire: send a
run's spans (OTLP/HTTP, the real exporter), propose approvals (ingest key), create named keys
and store policies (admin key)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from flightlog import semconv as sc
from flightlog.policy import arguments_hash

AGENT, VERSION = "refund-bot", "2.3.0"
USER_ASK = "My order 88123 arrived broken, please refund it."
LLM_ANSWER = "The order total is 4950 cents; I will refund 4950 for order 88123."
POLICY = {
    "agent": AGENT,
    "tools": {"allowed": ["lookup_order", "issue_refund"], "denied": ["delete_account"], "tiers": {"issue_refund": 2}},
    "escalations": [{"tool": "issue_refund", "when": "amount > 200", "tier": 3},
                    {"when": "confidence < 0.8", "tier": 3}],
    "limits": {"max_cost_usd": 1.0, "max_llm_calls": 10},
    "daily_budget": True,
    "on_unreachable": "closed",
}


@dataclass(frozen=True)
class Run:
    trace_id: str
    llm_span_id: str
    checkpoint_span_id: str


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def send_run(url: str, ingest_key: str, *, user_text: str = USER_ASK, answer: str = LLM_ANSWER) -> Run:
    """One agent run: the user's ask, an LLM call that decides to refund, a tool call and the
    checkpoint that asks a person; exported like any instrumented agent."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": AGENT}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(
        endpoint=f"{url}/v1/traces", headers={"x-api-key": ingest_key})))
    tracer = provider.get_tracer("tests.control_ui")
    agent = {sc.AGENT_NAME: AGENT, sc.AGENT_VERSION: VERSION}
    with tracer.start_as_current_span(f"invoke_agent {AGENT}") as root:
        root.set_attributes({sc.OPERATION: "invoke_agent", **agent, sc.INPUT: user_text})
        with tracer.start_as_current_span("chat gpt-4o") as llm:
            llm.set_attributes({
                sc.OPERATION: "chat", sc.REQUEST_MODEL: "gpt-4o", **agent,
                sc.PROMPT_ID: "refund-policy", sc.PROMPT_VERSION: "v7",
                sc.INPUT_TOKENS: 120, sc.OUTPUT_TOKENS: 30,
                sc.INPUT_MESSAGES: json.dumps([{"role": "user", "parts": [{"type": "text", "content": user_text}]}]),
                sc.OUTPUT_MESSAGES: json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": answer}]}]),
            })
        with tracer.start_as_current_span("execute_tool lookup_order") as tool:
            tool.set_attributes({sc.OPERATION: "execute_tool", sc.TOOL_NAME: "lookup_order", **agent,
                                 sc.TOOL_ARGUMENTS: json.dumps({"order_id": "88123"}),
                                 sc.TOOL_RESULT: json.dumps({"order_id": "88123", "total_cents": 4950})})
        with tracer.start_as_current_span("checkpoint issue_refund") as checkpoint:
            checkpoint.set_attributes({sc.SPAN_TYPE: "checkpoint", **agent, sc.CHECKPOINT_TIER: 3,
                                       sc.CHECKPOINT_ACTION: "refund order 88123"})
        run = Run(trace_id=format(root.get_span_context().trace_id, "032x"),
                  llm_span_id=format(llm.get_span_context().span_id, "016x"),
                  checkpoint_span_id=format(checkpoint.get_span_context().span_id, "016x"))
    provider.shutdown()
    return run


def propose(url: str, ingest_key: str, run: Run, arguments: Any, *, action: str = "refund order 88123",
            policy_version: int | None = None, **extra: Any) -> dict[str, Any]:
    """``POST /api/approvals`` as the agent's SDK does for a tier-3 checkpoint."""
    body = {"idempotency_key": f"ui-test-{uuid.uuid4().hex}", "action": action, "tool": "issue_refund",
            "arguments": arguments, "arguments_hash": arguments_hash(arguments), "tier": 3, "confidence": 0.72,
            "agent": AGENT, "agent_version": VERSION, "prompt_id": "refund-policy", "prompt_version": "v7",
            "trace_id": run.trace_id, "span_id": run.checkpoint_span_id,
            "decided_by": {"span_id": run.llm_span_id, "model": "gpt-4o", "prompt_id": "refund-policy",
                           "prompt_version": "v7"},
            "timeout_s": 600, **extra}
    if policy_version is not None:
        body["policy"] = {"id": AGENT, "version": policy_version}
    resp = httpx.post(f"{url}/api/approvals", headers=auth(ingest_key), json=body, timeout=30)
    assert resp.status_code == 201, resp.text
    return resp.json()


def new_key(url: str, admin_key: str, role: str, name: str, permissions: list[str] | None = None) -> str:
    resp = httpx.post(f"{url}/api/admin/keys", headers=auth(admin_key), timeout=30,
                      json={"role": role, "name": name, "permissions": permissions or []})
    assert resp.status_code == 200, resp.text
    return resp.json()["key"]


def put_policy(url: str, admin_key: str, document: dict[str, Any]) -> dict[str, Any]:
    resp = httpx.put(f"{url}/api/policies", headers=auth(admin_key), json=document, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()


def approval(url: str, read_key: str, approval_id: str) -> dict[str, Any]:
    resp = httpx.get(f"{url}/api/approvals/{approval_id}", headers=auth(read_key), timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()


def control_state(url: str, read_key: str) -> dict[str, Any]:
    resp = httpx.get(f"{url}/api/control/state", headers=auth(read_key), timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()
