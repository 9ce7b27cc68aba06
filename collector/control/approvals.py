"""Approvals: a tier-3 checkpoint waiting for a named person (docs/control.md, "Approval inbox").

An agent (ingest key) proposes an action with its arguments, bound to their hash; a person
with the ``approve`` permission (or an admin) approves, rejects or approves with edited
arguments; the agent, long-polling, gets the decision and consumes it once, for exactly the
arguments that were approved. Pending approvals expire to their ``on_timeout`` outcome. Every
step is a new version in ``approvals`` (so restarts and other collectors see it), an event span
in the audit chain and a governance-log entry, and notifies the project's webhooks.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from flightlog import semconv as sc
from flightlog.policy import arguments_hash
from flightlog.storage import Store
from flightlog.storage import control as db
from flightlog.storage.leases import Lease
from flightlog.storage.governance import log_change
from flightlog.storage.keys import KeyRecord

from flightlog.collector.control.events import Emit, event_row
from flightlog.collector.errors import BadRequest, CollectorError, Forbidden, NotFound

log = logging.getLogger(__name__)

MAX_WAIT_S = 60.0
STORE_POLL_S = 2.0  # a waiter also re-reads the store this often (a decision made by another collector)


class Conflict(CollectorError):
    """The approval is not in a state that allows this (already decided, expired, consumed)."""

    status = 409


def public(row: dict[str, Any]) -> dict[str, Any]:
    """An approval as the API shows it."""

    def iso(value: Any) -> str | None:
        return value.isoformat() if isinstance(value, datetime) else None

    def parsed(text: str) -> Any:
        return json.loads(text) if text else None

    return {
        "id": row["ApprovalId"], "project": row["Project"], "status": row["Status"], "tier": int(row["Tier"]),
        "action": row["Action"], "tool": row["ToolName"], "arguments": parsed(row["Arguments"]),
        "arguments_hash": row["ArgumentsHash"], "edited_arguments": parsed(row["EditedArguments"]),
        "edited_arguments_hash": row["EditedArgumentsHash"] or None,
        "confidence": row["Confidence"], "agent": row["AgentName"], "agent_version": row["AgentVersion"],
        "prompt_id": row["PromptId"], "prompt_version": row["PromptVersion"], "trace_id": row["TraceId"],
        "span_id": row["SpanId"], "decided_by": parsed(row["DecidedBy"]),
        "policy": {"id": row["PolicyId"], "version": int(row["PolicyVersion"])} if row["PolicyId"] else None,
        "on_timeout": row["OnTimeout"], "requested_at": iso(row["RequestedAt"]), "expires_at": iso(row["ExpiresAt"]),
        "decided_at": iso(row["DecidedAt"]), "approver": row["Approver"] or None,
        "approver_key_id": row["ApproverKeyId"] or None, "reason": row["Reason"] or None,
        "consumed_at": iso(row["ConsumedAt"]), "escalated_at": iso(row["EscalatedAt"]),
        "idempotency_key": row["IdempotencyKey"],
    }


class ApprovalService:
    """Creates, decides, consumes and expires approvals; wakes long-polling waiters."""

    def __init__(self, store: Store, *, emit: Emit, notify: Callable[[str, str, dict[str, Any]], object],
                 redact: Callable[[Any], Any] = lambda value: value, lease: Lease | None = None) -> None:
        self.store = store
        self._emit = emit
        self._notify = notify
        self._redact = redact
        # One decision at a time, so each is made once: in this process, and with a lease among every
        # collector on a shared server (docs/decisions/0030).
        local = threading.Lock()
        self._lock = lease.hold if lease is not None else (lambda: local)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: dict[str, asyncio.Event] = {}

    # -- create -------------------------------------------------------------------------------
    def create(self, key: KeyRecord, request: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """A new approval, or the existing one with the same idempotency key; (approval, created)."""
        project = key.project
        with self._lock():
            existing = db.find_by_idempotency_key(self.store, project, request["idempotency_key"])
            if existing is not None:
                return public(existing), False
            arguments = self._redact(request.get("arguments"))
            digest = arguments_hash(arguments)
            if request.get("arguments_hash") and request["arguments_hash"] != digest:
                raise BadRequest("arguments_hash is not the sha256 of the arguments' canonical JSON "
                                 "(after redaction): send the hash of exactly these arguments")
            now = db.utc_now()
            tier = int(request["tier"])
            row = {
                "Project": project, "ApprovalId": uuid.uuid4().hex[:20], "IdempotencyKey": request["idempotency_key"],
                "Status": "pending" if tier == 3 else "notified", "Tier": tier, "Action": request["action"],
                "ToolName": request.get("tool") or "", "Arguments": _json(arguments), "ArgumentsHash": digest,
                "EditedArguments": "", "EditedArgumentsHash": "", "Confidence": request.get("confidence"),
                "AgentName": request.get("agent") or "", "AgentVersion": request.get("agent_version") or "",
                "PromptId": request.get("prompt_id") or "", "PromptVersion": request.get("prompt_version") or "",
                "TraceId": request.get("trace_id") or "", "SpanId": request.get("span_id") or "",
                "DecidedBy": _json(request.get("decided_by")) if request.get("decided_by") else "",
                "PolicyId": (request.get("policy") or {}).get("id") or "",
                "PolicyVersion": int((request.get("policy") or {}).get("version") or 0),
                "OnTimeout": request.get("on_timeout") or "reject", "RequestedAt": now,
                "ExpiresAt": now + timedelta(seconds=float(request.get("timeout_s") or 900)),
                "DecidedAt": None, "Approver": "", "ApproverKeyId": "", "Reason": "", "ConsumedAt": None,
                "EscalatedAt": None,
            }
            db.put_approval(self.store, row)
        event = "approval.requested" if tier == 3 else "checkpoint.notified"
        self._record(row, event, actor=key.display_name)
        return public(row), True

    # -- read -----------------------------------------------------------------------------------
    def get(self, project: str, approval_id: str) -> dict[str, Any]:
        row = db.get_approval(self.store, project, approval_id)
        if row is None:
            raise NotFound(f"no approval {approval_id!r} in project {project!r}")
        return public(row)

    async def wait(self, project: str, approval_id: str, timeout_s: float) -> dict[str, Any]:
        """The approval once it is no longer pending, or as it is after ``timeout_s`` (long-poll)."""
        from starlette.concurrency import run_in_threadpool

        self._loop = asyncio.get_running_loop()
        event = self._waiters.setdefault(approval_id, asyncio.Event())
        deadline = self._loop.time() + min(max(timeout_s, 0.0), MAX_WAIT_S)
        try:
            while True:
                approval = await run_in_threadpool(self.get, project, approval_id)
                remaining = deadline - self._loop.time()
                if approval["status"] != "pending" or remaining <= 0:
                    return approval
                try:
                    await asyncio.wait_for(event.wait(), timeout=min(remaining, STORE_POLL_S))
                except asyncio.TimeoutError:
                    pass
                event.clear()
        finally:
            if self._waiters.get(approval_id) is event and not event.is_set():
                self._waiters.pop(approval_id, None)

    # -- decide, consume, expire ------------------------------------------------------------------
    def decide(self, key: KeyRecord, approval_id: str, decision: str, reason: str,
               edited_arguments: Any = None) -> dict[str, Any]:
        """Approve or reject a pending approval, as the named key; edited arguments replace the
        proposed ones for this approval only."""
        if not (key.role == "admin" or "approve" in key.permissions):
            raise Forbidden("deciding approvals needs an admin key or a key with the approve permission")
        if decision not in ("approve", "reject"):
            raise BadRequest("decision must be 'approve' or 'reject'")
        with self._lock():
            row = self._pending(key.project, approval_id)
            if row["Tier"] != 3:
                raise Conflict(f"approval {approval_id} is a tier-{row['Tier']} notification; nothing to decide")
            edited = ""
            if edited_arguments is not None:
                if decision != "approve":
                    raise BadRequest("edited arguments come with an approval, not a rejection")
                edited = _json(self._redact(edited_arguments))
            row = {**row, "Status": "approved" if decision == "approve" else "rejected", "DecidedAt": db.utc_now(),
                   "Approver": key.display_name, "ApproverKeyId": key.key_id, "Reason": reason,
                   "EditedArguments": edited,
                   "EditedArgumentsHash": arguments_hash(json.loads(edited)) if edited else ""}
            db.put_approval(self.store, row)
        self._record(row, "approval.decided", actor=key.display_name)
        self._wake(approval_id)
        return public(row)

    def consume(self, key: KeyRecord, approval_id: str, used_hash: str) -> dict[str, Any]:
        """The agent takes its decision, once, for the arguments it will use (approved or edited)."""
        with self._lock():
            row = db.get_approval(self.store, key.project, approval_id)
            if row is None:
                raise NotFound(f"no approval {approval_id!r} in project {key.project!r}")
            if row["ConsumedAt"] is not None:
                raise Conflict(f"approval {approval_id} was already used at {row['ConsumedAt'].isoformat()}")
            if row["Status"] != "approved" and not (row["Status"] == "expired" and row["OnTimeout"] == "approve"):
                raise Conflict(f"approval {approval_id} is {row['Status']}, not approved")
            allowed = row["EditedArgumentsHash"] or row["ArgumentsHash"]
            if used_hash != allowed:
                raise Conflict(f"approval {approval_id} was given for other arguments "
                               f"(hash {allowed[:12]}…, not {used_hash[:12]}…)")
            row = {**row, "ConsumedAt": db.utc_now()}
            db.put_approval(self.store, row)
        self._record(row, "approval.consumed", actor=key.display_name)
        return public(row)

    def expire_due(self, escalate_after: Callable[[str], timedelta | None] = lambda project: None) -> int:
        """Expire pending approvals past their deadline; escalate, once, those undecided for
        longer than their project's ``escalate_after``. Returns how many changed."""
        now = db.utc_now()
        changed = 0
        for due in db.due_approvals(self.store, expire_before=now, escalate_before=now):
            if due["ExpiresAt"] > now:
                after = escalate_after(due["Project"])
                if after is None or due["Tier"] != 3 or due["RequestedAt"] > now - after:
                    continue
            with self._lock():
                row = db.get_approval(self.store, due["Project"], due["ApprovalId"])
                if row is None or row["Status"] != "pending":
                    continue
                if row["ExpiresAt"] <= now:
                    row = {**row, "Status": "expired", "DecidedAt": now,
                           "Reason": f"no decision before {row['ExpiresAt'].isoformat()}: {row['OnTimeout']}ed"}
                    event = "approval.expired"
                else:
                    row = {**row, "EscalatedAt": now}
                    event = "approval.escalated"
                db.put_approval(self.store, row)
            self._record(row, event, actor="flightlog")
            if event == "approval.expired":
                self._wake(row["ApprovalId"])
            changed += 1
        return changed

    # -- internals --------------------------------------------------------------------------------
    def _pending(self, project: str, approval_id: str) -> dict[str, Any]:
        row = db.get_approval(self.store, project, approval_id)
        if row is None:
            raise NotFound(f"no approval {approval_id!r} in project {project!r}")
        if row["Status"] != "pending":
            raise Conflict(f"approval {approval_id} is already {row['Status']}")
        if row["ExpiresAt"] <= datetime.now(timezone.utc):
            raise Conflict(f"approval {approval_id} expired at {row['ExpiresAt'].isoformat()}")
        return row

    def _wake(self, approval_id: str) -> None:
        event, loop = self._waiters.get(approval_id), self._loop
        if event is not None and loop is not None:
            loop.call_soon_threadsafe(event.set)

    def _record(self, row: dict[str, Any], event: str, *, actor: str) -> None:
        """The change as an event span (chained), a governance entry and a notification."""
        approval = public(row)
        self._emit([event_row(
            row["Project"], event, {
                sc.APPROVAL_ID: row["ApprovalId"], sc.APPROVAL_STATUS: row["Status"], sc.CONTROL_ACTOR: actor,
                sc.CHECKPOINT_ACTION: row["Action"], sc.CHECKPOINT_TOOL: row["ToolName"],
                sc.APPROVAL_ARGUMENTS_HASH: row["EditedArgumentsHash"] or row["ArgumentsHash"],
                sc.CONTROL_REASON: row["Reason"],
            }, trace_id=row["TraceId"], parent_span_id=row["SpanId"], agent=row["AgentName"],
            agent_version=row["AgentVersion"], text=row["Reason"], decision=row["Status"],
            approver=row["Approver"], tier=int(row["Tier"]))])
        log_change(self.store, row["Project"], actor, event, {
            "approval_id": row["ApprovalId"], "status": row["Status"], "action": row["Action"],
            "arguments_hash": row["EditedArgumentsHash"] or row["ArgumentsHash"], "reason": row["Reason"],
            "edited": bool(row["EditedArguments"]), "trace_id": row["TraceId"]})
        try:
            self._notify(row["Project"], event, {"approval": approval})
        except Exception:  # a notification problem must not undo a recorded decision; it is logged
            log.exception("could not queue the %s notification of approval %s", event, row["ApprovalId"])


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
