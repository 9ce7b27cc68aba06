"""The kill switch and central policies: what every agent process fetches, caches and checks
before each run, LLM call and tool call (docs/control.md).

The control state of a project is its active pauses and the policy in force per agent (and
agent version), with a ``version`` (an ETag) that changes whenever either does, so agents can
long-poll for changes (``If-None-Match`` / ``wait_s``) instead of asking on their hot path.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flightlog import semconv as sc
from flightlog.policy import parse_policy
from flightlog.storage import Store
from flightlog.storage import control as db
from flightlog.storage.leases import Lease
from flightlog.storage.governance import log_change
from flightlog.storage.keys import KeyRecord

from flightlog.collector.control.events import Emit, event_row
from flightlog.collector.errors import BadRequest, NotFound

MAX_WAIT_S = 30.0
STORE_POLL_S = 2.0  # changes made through another collector are seen within this


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def scope_text(agent: str, agent_version: str, tool: str) -> str:
    """A pause's scope for people: ``project``, ``agent refund-bot``, ``refund-bot 2.3.0 tool issue_refund``."""
    if not agent:
        return "the whole project"
    return f"agent {agent}" + (f" {agent_version}" if agent_version else "") + (f" tool {tool}" if tool else "")


class ControlState:
    """Pauses and policies of every project; wakes long-polling agents when they change."""

    def __init__(self, store: Store, *, emit: Emit, notify: Callable[[str, str, dict[str, Any]], object],
                 lease: Lease | None = None) -> None:
        self.store = store
        self._emit = emit
        self._notify = notify
        local = threading.Lock()  # a policy version is numbered once: with a lease across collectors
        self._lock = lease.hold if lease is not None else (lambda: local)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed: dict[str, asyncio.Event] = {}

    # -- reading ----------------------------------------------------------------------------------
    def state(self, project: str) -> dict[str, Any]:
        """The project's control state: ``{"version", "pauses", "policies"}``."""
        pauses = [{"agent": p["AgentName"], "agent_version": p["AgentVersion"], "tool": p["ToolName"],
                   "reason": p["Reason"], "by": p["ChangedBy"], "at": _iso(p["ChangedAt"]),
                   "scope": scope_text(p["AgentName"], p["AgentVersion"], p["ToolName"])}
                  for p in db.pauses(self.store, project)]
        policies = [self._policy_doc(p) for p in db.policies(self.store, project)]
        body = json.dumps({"pauses": pauses, "policies": policies}, sort_keys=True, default=str)
        return {"version": hashlib.sha256(body.encode()).hexdigest()[:24], "pauses": pauses, "policies": policies}

    async def wait_for_change(self, project: str, known_version: str, wait_s: float) -> dict[str, Any]:
        """The state once its version differs from ``known_version``, or after ``wait_s``."""
        from starlette.concurrency import run_in_threadpool

        self._loop = asyncio.get_running_loop()
        event = self._changed.setdefault(project, asyncio.Event())
        deadline = self._loop.time() + min(max(wait_s, 0.0), MAX_WAIT_S)
        while True:
            state = await run_in_threadpool(self.state, project)
            remaining = deadline - self._loop.time()
            if state["version"] != known_version or remaining <= 0:
                return state
            try:
                await asyncio.wait_for(event.wait(), timeout=min(remaining, STORE_POLL_S))
            except asyncio.TimeoutError:
                pass
            event.clear()

    def policy(self, project: str, agent: str, agent_version: str = "") -> dict[str, Any]:
        for p in db.policies(self.store, project, agent):
            if p["AgentVersion"] == agent_version:
                return self._policy_doc(p)
        raise NotFound(f"no policy for agent {agent!r}" + (f" version {agent_version!r}" if agent_version else "")
                       + f" in project {project!r}")

    def history(self, project: str, agent: str) -> list[dict[str, Any]]:
        return [self._policy_doc(p) for p in db.policy_history(self.store, project, agent)]

    # -- changing -----------------------------------------------------------------------------------
    def set_pause(self, key: KeyRecord, *, agent: str, agent_version: str, tool: str, paused: bool,
                  reason: str) -> dict[str, Any]:
        if (agent_version or tool) and not agent:
            raise BadRequest("an agent version or a tool is paused within an agent: name the agent")
        with self._lock():
            db.set_pause(self.store, key.project, agent, agent_version, tool, paused=paused, reason=reason,
                         by=key.display_name)
        event = "agent.paused" if paused else "agent.resumed"
        scope = scope_text(agent, agent_version, tool)
        self._emit([event_row(key.project, event, {sc.CONTROL_SCOPE: scope, sc.CONTROL_REASON: reason,
                                                   sc.CONTROL_ACTOR: key.display_name},
                              agent=agent, agent_version=agent_version, text=reason)])
        details = {"agent": agent, "agent_version": agent_version, "tool": tool, "reason": reason}
        log_change(self.store, key.project, key.key_id, event, details)
        self._notify(key.project, event, {"pause": {**details, "scope": scope, "by": key.display_name}})
        self._wake(key.project)
        return {**details, "paused": paused, "scope": scope, "by": key.display_name}

    def put_policy(self, key: KeyRecord, document: dict[str, Any]) -> dict[str, Any]:
        try:
            policy = parse_policy(document)
        except ValueError as exc:
            raise BadRequest(f"invalid policy: {exc}") from exc
        body = json.dumps(policy.to_dict(), sort_keys=True)
        digest = hashlib.sha256(body.encode()).hexdigest()
        with self._lock():
            version = db.put_policy(self.store, key.project, policy.agent, policy.agent_version, body, digest,
                                    key.display_name)
        self._emit([event_row(key.project, "policy.set", {
            sc.POLICY_ID: policy.id, sc.POLICY_VERSION: version, sc.CONTROL_ACTOR: key.display_name,
            sc.POLICY_SHA256: digest}, agent=policy.agent, agent_version=policy.agent_version, text=body)])
        log_change(self.store, key.project, key.key_id, "policy.set",
                   {"policy_id": policy.id, "version": version, "sha256": digest})
        self._wake(key.project)
        return self.policy(key.project, policy.agent, policy.agent_version)

    # -- internals ------------------------------------------------------------------------------------
    @staticmethod
    def _policy_doc(row: dict[str, Any]) -> dict[str, Any]:
        policy = parse_policy(json.loads(row["Body"]), version=int(row["PolicyVersion"]))
        return {"id": policy.id, "agent": row["AgentName"], "agent_version": row["AgentVersion"],
                "version": int(row["PolicyVersion"]), "sha256": row["Sha256"], "changed_by": row["ChangedBy"],
                "changed_at": _iso(row["ChangedAt"]), "policy": policy.to_dict()}

    def _wake(self, project: str) -> None:
        event, loop = self._changed.get(project), self._loop
        if event is not None and loop is not None:
            loop.call_soon_threadsafe(event.set)
