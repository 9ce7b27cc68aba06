"""The kill switch and central policies, as the SDK applies them (docs/control.md).

``init()`` starts one background thread per process (:class:`ControlClient`) that keeps the
project's control state — its active pauses and the policy in force per agent (and agent
version) — in memory. It long-polls ``GET /api/control/state?wait_s=20`` with ``If-None-Match``:
the collector answers at once when a pause or a policy changes, else ``304`` after 20 s, so a
pause reaches the agent within a second or two and the thread re-polls at least every ~20 s.

The checks before a run, an LLM call and a tool call (:meth:`ControlClient.refusal`,
:meth:`ControlClient.policy_for`) read that snapshot only: a few dictionary lookups, never the
network. The one wait: the first check of a process waits (at most
``DEFAULT_CONTROL_STARTUP_WAIT_S``) for the first answer, so a paused agent that restarts does
not run once before it learns it is paused, and its first run already applies its policy.

Fail-open by default: while the collector cannot be reached, the last known state stays in
force (pauses included) and unknown state stops nothing. An agent whose last known policy says
``on_unreachable: closed`` is refused (``AgentPaused``) once the collector has been out of reach
(no answer and no open long-poll) for longer than ``control_staleness_s`` (default 30 s).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

from . import _env, _http
from ._exceptions import AgentPaused
from .policy import Policy, parse_policy

_logger = logging.getLogger("flightlog")
_RETRY_MIN_S = 0.25
_RETRY_MAX_S = 5.0
_REFUSED_RETRY_S = 60.0  # 401/403: the key cannot read the control state; ask again rarely


@dataclasses.dataclass(frozen=True)
class Pause:
    agent: str
    agent_version: str
    tool: str
    reason: str
    by: str
    scope: str


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """One version of the control state, indexed for the checks (replaced whole, never mutated)."""

    version: str = ""
    pauses: Mapping[tuple[str, str, str], Pause] = dataclasses.field(default_factory=dict)
    policies: Mapping[tuple[str, str], Policy] = dataclasses.field(default_factory=dict)
    paused_agents: frozenset[str] = frozenset()  # agents with any pause ("" = the whole project)
    closed_agents: frozenset[str] = frozenset()  # agents with an on_unreachable: closed policy


def parse_state(body: Any) -> Snapshot:
    """A :class:`Snapshot` from a ``GET /api/control/state`` answer (bad entries are skipped)."""
    if not isinstance(body, Mapping):
        raise ValueError("the control state is not a JSON object")
    pauses: dict[tuple[str, str, str], Pause] = {}
    for p in body.get("pauses") or ():
        if not isinstance(p, Mapping):
            continue
        pause = Pause(str(p.get("agent") or ""), str(p.get("agent_version") or ""), str(p.get("tool") or ""),
                      str(p.get("reason") or ""), str(p.get("by") or ""), str(p.get("scope") or ""))
        pauses[(pause.agent, pause.agent_version, pause.tool)] = pause
    policies: dict[tuple[str, str], Policy] = {}
    for doc in body.get("policies") or ():
        try:
            policy = parse_policy(doc["policy"], version=int(doc.get("version") or 0))
        except (KeyError, TypeError, ValueError) as exc:
            _logger.warning("flightlog: ignoring a policy the SDK cannot read (%s)", exc)
            continue
        policies[(policy.agent, policy.agent_version)] = policy
    return Snapshot(str(body.get("version") or ""), pauses, policies,
                    paused_agents=frozenset(agent for agent, _, _ in pauses),
                    closed_agents=frozenset(agent for (agent, _), p in policies.items() if p.fail_closed))


class ControlClient:
    """The background long-poll of the control state, and the in-memory checks against it."""

    def __init__(self, traces_url: str, headers: Mapping[str, str], *,
                 staleness_s: float = _env.DEFAULT_CONTROL_STALENESS_S,
                 wait_s: float = _env.DEFAULT_CONTROL_WAIT_S,
                 startup_wait_s: float = _env.DEFAULT_CONTROL_STARTUP_WAIT_S) -> None:
        self.url = _http.api_base(traces_url) + "/api/control/state"
        self.headers = _http.api_headers(headers)
        self.staleness_s = staleness_s
        self.wait_s = wait_s
        self.startup_wait_s = startup_wait_s
        self.snapshot = Snapshot()
        # When the collector was last known to be there: an answer, or a long-poll connection open
        # (start: now, nothing known). While a long-poll is open the state is fresh: the
        # collector answers it at once on a change, and a collector that goes away resets it.
        self.contact = time.monotonic()
        self._open_since: float | None = None
        self.known = False  # whether any state was ever received
        self.polls = 0  # requests sent (tests and stats)
        self._first = threading.Event()  # the first attempt finished (answer or failure)
        self._stop = threading.Event()
        self._request: _http.Request | None = None
        self._warned = False
        self._thread = threading.Thread(target=self._run, name="flightlog-control", daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 1.0) -> None:
        self._stop.set()
        request = self._request
        if request is not None:
            request.cancel()
        if self._thread.ident is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    def wait_first(self, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s``) for the first attempt to finish; True once it has."""
        return self._first.wait(timeout_s)

    # -- the long-poll -------------------------------------------------------------------------
    def _run(self) -> None:
        delay = _RETRY_MIN_S
        first = True
        while not self._stop.is_set():
            wait_s = 0.0 if first or not self.known else self.wait_s
            pause = self._poll(wait_s, timeout_s=self.startup_wait_s if first else wait_s + 10.0)
            first = False
            self._first.set()
            if pause is None:
                delay = _RETRY_MIN_S
                continue
            if pause == "backoff":
                pause, delay = delay, min(delay * 2, _RETRY_MAX_S)
            if self._stop.wait(float(pause)):
                break

    def _poll(self, wait_s: float, *, timeout_s: float) -> float | str | None:
        """One request; None when it answered (poll again now), else how long to wait first."""
        headers = dict(self.headers)
        if self.known and self.snapshot.version:
            headers["If-None-Match"] = f'"{self.snapshot.version}"'
        url = self.url + ("?" + urllib.parse.urlencode({"wait_s": f"{wait_s:g}"}) if wait_s else "")
        request = self._request = _http.Request()
        if self._stop.is_set():
            return "backoff"
        self.polls += 1

        def connected() -> None:
            self._open_since = self.contact = time.monotonic()

        try:
            answer = request.send("GET", url, headers=headers, timeout=timeout_s, on_connected=connected)
        except _http.Unreachable as exc:
            if not self._stop.is_set():
                self._warn(f"cannot reach {self.url} ({exc})")
            return "backoff"
        finally:
            if self._open_since is not None:  # connected until now (an answer, or a reset just now)
                self.contact = time.monotonic()
            self._open_since = None
            self._request = None
        if answer.status == 304:
            self._contact()
            return None
        if answer.status == 200:
            try:
                snapshot = parse_state(answer.json())
            except ValueError as exc:
                self._warn(f"{self.url} answered a control state the SDK cannot read ({exc})")
                return "backoff"
            self.snapshot = snapshot
            self.known = True
            self._contact()
            return None
        if answer.status in (401, 403):
            self._warn(f"{self.url} refused the key ({answer.status}: {answer.error()}); pauses and policies "
                       f"are not applied")
            return _REFUSED_RETRY_S
        self._warn(f"{self.url} answered {answer.status}: {answer.error()}")
        return "backoff"

    def _contact(self) -> None:
        self.contact = time.monotonic()
        if self._warned:
            self._warned = False
            _logger.info("flightlog: control state from %s available again", self.url)

    def _warn(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            _logger.warning("flightlog: %s; agents go on (fail-open) unless their policy says "
                            "on_unreachable: closed", message)

    # -- the checks (hot path: memory only) -----------------------------------------------------
    def age(self) -> float:
        """Seconds since the collector was last known to be there (0 while a long-poll is open,
        for as long as that poll may last)."""
        now = time.monotonic()
        opened = self._open_since
        if opened is not None and now - opened <= self.wait_s + 10.0:
            return 0.0
        return now - self.contact

    def _ready(self) -> None:
        if not self._first.is_set():
            self._first.wait(self.startup_wait_s)

    def policy_for(self, agent: str | None, agent_version: str | None) -> Policy | None:
        """The policy in force for ``agent`` (an ``agent_version``-specific one wins)."""
        self._ready()
        policies = self.snapshot.policies
        if not policies or not agent:
            return None
        if agent_version:
            policy = policies.get((agent, agent_version))
            if policy is not None:
                return policy
        return policies.get((agent, ""))

    def refusal(self, agent: str | None, agent_version: str | None, tool: str | None = None) -> AgentPaused | None:
        """Why this run / LLM call / tool call must not start (an ``AgentPaused``), or None."""
        if not self._first.is_set():
            self._first.wait(self.startup_wait_s)
        snapshot = self.snapshot
        agent = agent or ""
        version = agent_version or ""
        paused = snapshot.paused_agents
        if paused and ("" in paused or agent in paused):
            pauses = snapshot.pauses
            keys = [("", "", "")]
            if agent:
                keys += [(agent, "", ""), (agent, version, "")] if version else [(agent, "", "")]
                if tool:
                    keys += [(agent, "", tool), (agent, version, tool)] if version else [(agent, "", tool)]
            for key in keys:
                pause = pauses.get(key)
                if pause is not None:
                    what = f"tool {tool!r} of agent {agent!r}" if pause.tool else (
                        f"agent {agent!r}" + (f" version {version!r}" if pause.agent_version else "")
                        if pause.agent else "the whole project")
                    by = f" by {pause.by}" if pause.by else ""
                    return AgentPaused(f"flightlog kill switch: {what} is paused{by}: {pause.reason}",
                                       scope=pause.scope or what, reason=pause.reason, by=pause.by or None,
                                       agent=agent or None, agent_version=version or None, tool=tool)
        if agent in snapshot.closed_agents:
            policy = self.policy_for(agent, version)
            if policy is not None and policy.fail_closed:
                age = self.age()
                if age > self.staleness_s:
                    reason = (f"the control state is unknown: no answer from {self.url} for {age:.0f}s "
                              f"(more than {self.staleness_s:g}s) and policy {policy.id} v{policy.version} "
                              f"says on_unreachable: closed")
                    return AgentPaused(f"flightlog kill switch: {reason}", scope="unknown", reason=reason,
                                       agent=agent, agent_version=version or None, tool=tool)
        return None


CLIENT: ControlClient | None = None
_lock = threading.Lock()


def start(traces_url: str, headers: Mapping[str, str], *, staleness_s: float) -> ControlClient:
    """Start the process's control client (replacing a previous one)."""
    global CLIENT
    client = ControlClient(traces_url, headers, staleness_s=staleness_s)
    with _lock:
        previous, CLIENT = CLIENT, client
    if previous is not None:
        previous.stop(0)
    client.start()
    return client


def stop(timeout_s: float = 1.0) -> None:
    global CLIENT
    with _lock:
        client, CLIENT = CLIENT, None
    if client is not None:
        client.stop(timeout_s)
