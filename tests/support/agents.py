"""Agent processes for the control-loop tests (``control_agent.py`` under the real SDK), and the
API calls a person or an admin makes meanwhile (decide, pause, set a policy)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from conftest import RunningCollector, clean_env, wait_until

AGENT_SCRIPT = Path(__file__).resolve().parent / "control_agent.py"


class Agent:
    """``control_agent.py`` as a subprocess; its stdout JSON lines collected by a thread."""

    def __init__(self, collector: RunningCollector, log_dir: Path, **env: str) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"agent-{time.monotonic_ns()}.log"
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            [sys.executable, str(AGENT_SCRIPT)],
            env={**clean_env(), "FLIGHTLOG_ENDPOINT": collector.url, "FLIGHTLOG_API_KEY": collector.ingest_key,
                 "PYTHONUNBUFFERED": "1", **env},
            stdout=subprocess.PIPE, stderr=self.log_path.open("wb"), text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            event["received"] = time.time()
            with self._lock:
                self.events.append(event)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def find(self, event: str) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if e["event"] == event]

    def wait(self, event: str, timeout: float = 60.0, after: int = 0) -> dict[str, Any]:
        """The first ``event`` line (beyond the first ``after`` of them); fails if the agent dies first."""

        def seen() -> dict[str, Any] | None:
            found = self.find(event)
            if len(found) > after:
                return found[after]
            if self.proc.poll() is not None:
                self._reader.join(5)
                found = self.find(event)
                if len(found) > after:
                    return found[after]
                raise AssertionError(f"the agent exited ({self.proc.returncode}) before {event!r}:\n{self.log()}")
            return None

        return wait_until(seen, timeout=timeout, interval=0.02, what=f"the agent's {event!r}")

    def finish(self, timeout: float = 60.0) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        assert code == 0, f"the agent exited with {code}:\n{self.log()}"
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


def call(collector: RunningCollector, method: str, path: str, key: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, collector.url + path, headers={"Authorization": f"Bearer {key}"}, timeout=60,
                         **kwargs)


def new_key(collector: RunningCollector, role: str, name: str, permissions: list[str] | None = None) -> str:
    resp = call(collector, "POST", "/api/admin/keys", collector.admin_key,
                json={"role": role, "name": name, "permissions": permissions or []})
    assert resp.status_code == 200, resp.text
    return resp.json()["key"]


def approvals_of(collector: RunningCollector, trace_id: str, status: str = "") -> list[dict[str, Any]]:
    resp = call(collector, "GET", "/api/approvals", collector.read_key, params={"status": status, "limit": 500})
    assert resp.status_code == 200, resp.text
    return [a for a in resp.json()["items"] if a["trace_id"] == trace_id]


def pending_approval(collector: RunningCollector, trace_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """The one pending approval of this trace, once the agent has asked."""
    return wait_until(lambda: (found := approvals_of(collector, trace_id, "pending")) and found[0],
                      timeout=timeout, what=f"a pending approval of trace {trace_id}")


def decide(collector: RunningCollector, key: str, approval_id: str, decision: str, reason: str,
           arguments: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"decision": decision, "reason": reason}
    if arguments is not None:
        body["arguments"] = arguments
    resp = call(collector, "POST", f"/api/approvals/{approval_id}/decide", key, json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def pause(collector: RunningCollector, resume: bool = False, **scope: str) -> dict[str, Any]:
    resp = call(collector, "POST", "/api/control/resume" if resume else "/api/control/pause", collector.admin_key,
                json={"reason": "test: refunds 100x too large", **scope})
    assert resp.status_code == 200, resp.text
    return resp.json()


def put_policy(collector: RunningCollector, policy: dict[str, Any]) -> dict[str, Any]:
    resp = call(collector, "PUT", "/api/policies", collector.admin_key, json=policy)
    assert resp.status_code == 200, resp.text
    return resp.json()


def control_version(collector: RunningCollector) -> str:
    resp = call(collector, "GET", "/api/control/state", collector.ingest_key)
    assert resp.status_code == 200, resp.text
    return resp.json()["version"]


def checkpoint_span(trace: dict[str, Any]) -> dict[str, Any]:
    (span,) = [s for s in trace["spans"] if s["span_type"] == "checkpoint"]
    return span
