"""The control loop in the demo: the refund incident's counterfactual, through the real API.

With the policy ``issue_refund: amount > 200 → tier 3`` in force, refund-bot 2.3.0's refund of
4,950.00 (prompt v7 wrote the amount in cents) waits in the inbox instead of executing; an
earlier large refund was approved by a named support lead, another expired undecided; and the
incident's agent version is paused until the prompt is fixed. A newcomer opening the UI sees
the whole loop: one pending approval, one decided, one expired, one paused agent version.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from flightlog.policy import arguments_hash

from flightlog.collector.demo.scenario import (
    INCIDENT_AGENT,
    INCIDENT_AGENT_VERSION,
    INCIDENT_ORDER_ID,
    INCIDENT_PROMPT_ID,
    INCIDENT_PROMPT_VERSION,
    INCIDENT_TRACE_ID,
)

APPROVER_NAME = "Priya Shah (support lead)"
REFUND_POLICY = {
    "agent": INCIDENT_AGENT,
    "description": "Refunds above $200 need a person; the order tools only.",
    "tools": {"allowed": ["lookup_order", "issue_refund", "create_ticket"], "denied": ["delete_account"],
              "tiers": {"issue_refund": 1}},
    "escalations": [{"tool": "issue_refund", "when": "amount > 200", "tier": 3},
                    {"when": "confidence < 0.6", "tier": 3}],
    "limits": {"max_llm_calls": 12, "max_cost_usd": 0.5},
    "on_unreachable": "open",
}
PAUSE_REASON = f"refund amounts 100x too large since prompt {INCIDENT_PROMPT_VERSION} (order {INCIDENT_ORDER_ID})"


def _call(base_url: str, key: str, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        base_url + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return json.load(resp)
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"demo control setup: {method} {path} answered {exc.code}: {exc.read()[:300]!r}") from exc


def _propose(base_url: str, ingest_key: str, idem: str, arguments: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body = {"idempotency_key": idem, "tool": "issue_refund", "arguments": arguments,
            "arguments_hash": arguments_hash(arguments), "tier": 3, "agent": INCIDENT_AGENT,
            "policy": {"id": INCIDENT_AGENT, "version": 1}, **fields}
    return _call(base_url, ingest_key, "POST", "/api/approvals", body)


def seed_control(base_url: str, ingest_key: str, admin_key: str) -> dict[str, Any]:
    """Set the refund policy, the three approvals and the pause (idempotent: a second run finds
    the same approvals by their idempotency keys). Returns what it made."""
    state = _call(base_url, admin_key, "GET", "/api/control/state")
    if not any(p["agent"] == INCIDENT_AGENT for p in state["policies"]):
        _call(base_url, admin_key, "PUT", "/api/policies", REFUND_POLICY)
    keys = _call(base_url, admin_key, "GET", "/api/admin/keys")["keys"]
    approver = next((k for k in keys if k["name"] == APPROVER_NAME and not k["revoked"]), None)
    approver_key = None if approver else _call(base_url, admin_key, "POST", "/api/admin/keys", {
        "role": "engineer", "name": APPROVER_NAME, "permissions": ["approve"]})["key"]

    pending = _propose(
        base_url, ingest_key, "demo-incident-counterfactual",
        {"order_id": INCIDENT_ORDER_ID, "amount": 4950, "currency": "USD", "reason": "damaged_item"},
        action=f"issue_refund order {INCIDENT_ORDER_ID} $49.50 (order line price)", agent_version=INCIDENT_AGENT_VERSION,
        prompt_id=INCIDENT_PROMPT_ID, prompt_version=INCIDENT_PROMPT_VERSION, confidence=0.91,
        trace_id=INCIDENT_TRACE_ID, timeout_s=7 * 86_400,
        decided_by={"model": "gpt-4o", "prompt_id": INCIDENT_PROMPT_ID, "prompt_version": INCIDENT_PROMPT_VERSION})
    decided = _propose(
        base_url, ingest_key, "demo-large-refund-approved",
        {"order_id": "77410", "amount": 429.0, "currency": "USD", "reason": "not_delivered"},
        action="issue_refund order 77410 $429.00 (order line price)", agent_version="2.2.1",
        prompt_id=INCIDENT_PROMPT_ID, prompt_version="v6", confidence=0.84, timeout_s=3600)
    if decided["status"] == "pending" and approver_key:
        decided = _call(base_url, approver_key, "POST", f"/api/approvals/{decided['id']}/decide",
                        {"decision": "approve", "reason": "carrier confirms the parcel was lost"})
    expired = _propose(
        base_url, ingest_key, "demo-large-refund-expired",
        {"order_id": "69027", "amount": 312.0, "currency": "USD", "reason": "changed_mind"},
        action="issue_refund order 69027 $312.00 (order line price)", agent_version="2.2.1",
        prompt_id=INCIDENT_PROMPT_ID, prompt_version="v6", confidence=0.71, timeout_s=1)
    deadline = time.monotonic() + 30
    while expired["status"] == "pending" and time.monotonic() < deadline:  # the collector expires it within ~1 s
        expired = _call(base_url, ingest_key, "GET", f"/api/approvals/{expired['id']}/wait?timeout_s=5")
    if not any(p["agent"] == INCIDENT_AGENT and p["agent_version"] == INCIDENT_AGENT_VERSION
               for p in _call(base_url, admin_key, "GET", "/api/control/state")["pauses"]):
        _call(base_url, admin_key, "POST", "/api/control/pause",
              {"agent": INCIDENT_AGENT, "agent_version": INCIDENT_AGENT_VERSION, "reason": PAUSE_REASON})
    return {"pending": pending["id"], "decided": decided["id"], "expired": expired["id"]}
