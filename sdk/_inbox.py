"""The approval inbox approver (``flightlog.inbox()``): a tier-3 checkpoint decided by a named
person through the collector (docs/control.md, "Approval inbox").

The checkpoint proposes the action (``POST /api/approvals``, ingest key) with its tool and its
arguments — redacted with the SDK's content redaction, and bound to their hash
(``flightlog.policy.arguments_hash`` of the redacted arguments) — then long-polls
``GET /api/approvals/{id}/wait`` until it is decided or expires. An approval is stored by the
collector, so the wait survives a collector restart (the SDK reconnects and goes on waiting until
the deadline), and an idempotency key makes a restarted agent find the approval it already
asked for. Once approved, the SDK consumes the decision (``POST /api/approvals/{id}/consume``)
with the hash of the arguments it will use — the edited ones if the approver edited them — so
a decision for arguments A never releases a call with arguments B (the collector answers 409,
and the checkpoint's outcome is a rejection).

Tier 3 never approves by accident: when the collector cannot be reached to propose or to
consume, the outcome is a rejection saying so; when no decision arrives in time, ``on_timeout``
applies (``reject`` by default: decision ``timed_out``).
"""

from __future__ import annotations

import dataclasses
import email.utils
import hashlib
import logging
import threading
import time
import urllib.parse
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from . import _env, _http
from ._exceptions import ConfigurationError
from .policy import arguments_hash

_logger = logging.getLogger("flightlog")

_CREATE_ATTEMPTS_S = 5.0  # keep trying to propose for this long before the outcome is a rejection
_CONSUME_ATTEMPTS_S = 15.0  # and to consume an approval (a collector restart takes a few seconds)
_EXPIRY_GRACE_S = 3.0  # the collector expires approvals within a second of their deadline
_MAX_POLL_S = 10.0  # one long-poll (the collector allows 60; a collector stopping waits for open ones)
_RETRY_MIN_S, _RETRY_MAX_S = 0.2, 2.0
_REQUEST_TIMEOUT_S = 10.0
_MAX_TEXT = {"action": 10_000, "tool": 200, "agent": 200, "agent_version": 200, "prompt_id": 200,
             "prompt_version": 200, "model": 200}


class Inbox:
    """The collector's approval inbox as a checkpoint approver; made by ``flightlog.inbox()``.

    Use it as ``flightlog.checkpoint(action, tier=3, approver=flightlog.inbox(...))``, or make it
    the default approver of tier-3 checkpoints with ``flightlog.init(approvals="inbox")``.
    """

    def __init__(self, timeout_s: float = _env.DEFAULT_INBOX_TIMEOUT_S, on_timeout: str = "reject") -> None:
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not 0 < timeout_s <= 7 * 86_400:
            raise ConfigurationError(f"inbox timeout_s must be a number in (0, 604800] seconds, got {timeout_s!r}")
        if on_timeout not in ("reject", "approve"):
            raise ConfigurationError(f"inbox on_timeout must be 'reject' or 'approve', got {on_timeout!r}")
        self.timeout_s = float(timeout_s)
        self.on_timeout = on_timeout

    def __repr__(self) -> str:
        return f"flightlog.inbox(timeout_s={self.timeout_s:g}, on_timeout={self.on_timeout!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Inbox) and (other.timeout_s, other.on_timeout) == (self.timeout_s, self.on_timeout)

    def __hash__(self) -> int:
        return hash((self.timeout_s, self.on_timeout))


def inbox(timeout_s: float = _env.DEFAULT_INBOX_TIMEOUT_S, on_timeout: str = "reject") -> Inbox:
    """An approver that asks a named person through the collector's approval inbox.

    Example::

        decision = flightlog.checkpoint("refund $420 to order 1182", tier=3, tool="issue_refund",
                                        arguments={"order_id": "1182", "amount": 420},
                                        approver=flightlog.inbox(timeout_s=600))
        if decision:
            issue_refund(**decision.arguments)   # the approved (or the approver's edited) arguments

    ``timeout_s``: how long the approval stays open (the collector expires it then);
    ``on_timeout``: ``"reject"`` (default: the decision is ``timed_out``, falsy) or ``"approve"``.
    """
    return Inbox(timeout_s, on_timeout)


class Cancel:
    """Stops a wait from another thread (``acheckpoint`` cancelled): ends the long-poll in flight."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._request: _http.Request | None = None

    def set(self) -> None:
        self.event.set()
        request = self._request
        if request is not None:
            request.cancel()

    def is_set(self) -> bool:
        return self.event.is_set()

    def wait(self, seconds: float) -> bool:
        return self.event.wait(seconds)

    def request(self) -> _http.Request:
        self._request = _http.Request()
        return self._request


@dataclasses.dataclass
class Proposal:
    """Everything the checkpoint knows about the action, for the approval."""

    base_url: str
    headers: Mapping[str, str]
    action: str  # redacted like span text
    tool: str | None
    arguments: Any  # redacted, JSON-ready: what the approver sees and the hash covers
    tier: int
    confidence: float | None
    agent: str | None
    agent_version: str | None
    decided_by: Mapping[str, str] | None  # the run's latest LLM call (flightlog.decided_by.* keys)
    trace_id: str
    span_id: str
    idempotency_key: str
    policy: Any  # the Policy in force, or None
    timeout_s: float
    on_timeout: str

    @property
    def arguments_hash(self) -> str:
        return arguments_hash(self.arguments)

    def body(self) -> dict[str, Any]:
        from . import semconv as K

        decided = self.decided_by or {}
        body: dict[str, Any] = {
            "idempotency_key": self.idempotency_key, "action": _cut(self.action, "action"),
            "tool": _cut(self.tool or "", "tool"), "arguments": self.arguments, "arguments_hash": self.arguments_hash,
            "tier": self.tier, "confidence": self.confidence, "agent": _cut(self.agent or "", "agent"),
            "agent_version": _cut(self.agent_version or "", "agent_version"),
            "prompt_id": _cut(decided.get(K.DECIDED_BY_PROMPT_ID, ""), "prompt_id"),
            "prompt_version": _cut(decided.get(K.DECIDED_BY_PROMPT_VERSION, ""), "prompt_version"),
            "trace_id": self.trace_id, "span_id": self.span_id, "timeout_s": self.timeout_s,
            "on_timeout": self.on_timeout,
        }
        if decided:
            body["decided_by"] = {"span_id": decided.get(K.DECIDED_BY_SPAN_ID, ""),
                                  "model": _cut(decided.get(K.DECIDED_BY_MODEL, ""), "model"),
                                  "prompt_id": body["prompt_id"], "prompt_version": body["prompt_version"]}
        if self.policy is not None:
            body["policy"] = {"id": self.policy.id, "version": self.policy.version}
        return body


@dataclasses.dataclass
class Outcome:
    """What the inbox decided, for the checkpoint's ``Decision`` and span."""

    decision: str  # approved, rejected, timed_out (or notified for tier 2)
    approver: str | None = None
    reason: str | None = None
    approval_id: str | None = None
    decided_at: str | None = None
    arguments_hash: str | None = None
    edited: bool = False
    edited_arguments: Any = None


def _cut(text: str, field: str) -> str:
    limit = _MAX_TEXT[field]
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- idempotency keys ------------------------------------------------------------------------------
_occurrences: dict[tuple[str, str, str], int] = {}
_occurrences_lock = threading.Lock()
_MAX_OCCURRENCES = 10_000


def default_idempotency_key(trace_id: str, anchor_span_id: str, action: str, args_hash: str) -> str:
    """The same for the same checkpoint of the same trace context: trace id, the span it hangs
    from (see ``anchor_span_id`` in ``_checkpoint``), the action, the arguments' hash, and how
    many such checkpoints this process already made there (the n-th identical one is its own)."""
    digest = hashlib.sha256(action.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    where = (trace_id, anchor_span_id, f"{digest}:{args_hash}")
    with _occurrences_lock:
        n = _occurrences.get(where, 0)
        if len(_occurrences) >= _MAX_OCCURRENCES:
            _occurrences.clear()
        _occurrences[where] = n + 1
    text = f"{trace_id}:{anchor_span_id}:{digest}:{args_hash}:{n}"
    return "flightlog:" + hashlib.sha256(text.encode()).hexdigest()[:40]


# -- the exchange with the collector -------------------------------------------------------------
def _url(proposal: Proposal, path: str, **params: Any) -> str:
    query = ("?" + urllib.parse.urlencode(params)) if params else ""
    return f"{proposal.base_url}/api/approvals{path}{query}"


def notify(proposal: Proposal) -> None:
    """Tier 2: record the action in the inbox (``notified``) for people to see; nothing waits."""
    try:
        answer = _http.send("POST", _url(proposal, ""), headers=proposal.headers, body=proposal.body(),
                            timeout=_REQUEST_TIMEOUT_S)
        if answer.status not in (200, 201):
            _logger.warning("flightlog: the approval inbox refused a tier-2 notification (%s: %s)",
                            answer.status, answer.error())
    except _http.Unreachable as exc:
        _logger.warning("flightlog: could not send a tier-2 notification to %s (%s)", proposal.base_url, exc)


def ask(proposal: Proposal, cancel: Cancel | None = None) -> Outcome:
    """Tier 3: propose, wait for the decision, consume it; never raises."""
    cancel = cancel or Cancel()
    approval, problem, server_now = _create(proposal, cancel)
    if approval is None:
        return Outcome("rejected", reason="cancelled while proposing the approval" if cancel.is_set() else problem)
    approval_id = str(approval.get("id"))
    deadline = time.monotonic() + _remaining(approval, proposal.timeout_s, server_now)
    approval, unreachable = _wait(proposal, approval, deadline, cancel)
    status = approval.get("status")
    common: dict[str, Any] = {"approval_id": approval_id, "approver": approval.get("approver") or None,
                              "decided_at": approval.get("decided_at") or None}
    if cancel.is_set() and status == "pending":
        return Outcome("rejected", reason="cancelled while waiting for the decision", approval_id=approval_id)
    if status == "rejected":
        return Outcome("rejected", reason=approval.get("reason"), **common)
    if status == "approved":
        return _consume(proposal, approval, common, approval.get("reason"), cancel)
    if status == "expired":
        if approval.get("on_timeout") == "approve":
            reason = f"no decision within {proposal.timeout_s:g}s: approved on timeout (on_timeout='approve')"
            return _consume(proposal, approval, {**common, "approver": None}, reason, cancel)
        return Outcome("timed_out", reason=approval.get("reason") or f"no decision within {proposal.timeout_s:g}s",
                       approval_id=approval_id, decided_at=approval.get("decided_at") or None)
    if status == "pending":
        why = f"no decision within {proposal.timeout_s:g}s"
        if unreachable:
            why += f" (the collector at {proposal.base_url} could not be reached: {unreachable})"
        return Outcome("timed_out", reason=why, approval_id=approval_id)
    return Outcome("rejected", reason=f"approval {approval_id} is {status!r}, not a tier-3 decision",
                   approval_id=approval_id)


def _create(proposal: Proposal, cancel: Cancel) -> tuple[dict[str, Any] | None, str, datetime | None]:
    """The approval (new, or the one with this idempotency key), why not, and the collector's
    time of the answer (its ``Date``: deadlines are the collector's clock, not this machine's)."""
    body = proposal.body()
    stop = time.monotonic() + _CREATE_ATTEMPTS_S
    delay = _RETRY_MIN_S
    problem = ""
    while True:
        try:
            answer = cancel.request().send("POST", _url(proposal, ""), headers=proposal.headers, body=body,
                                           timeout=_REQUEST_TIMEOUT_S)
        except _http.Unreachable as exc:
            problem = f"could not reach the approval inbox at {proposal.base_url} ({exc}): tier 3 is never approved " \
                      f"without a decision"
        else:
            if answer.status in (200, 201) and isinstance(answer.json(), dict):
                return answer.json(), "", _date(answer.headers.get("date"))
            problem = (f"the approval inbox at {proposal.base_url} refused the approval "
                       f"({answer.status}: {answer.error()})")
            if answer.status < 500 and answer.status != 429:
                return None, problem, None
        if cancel.is_set() or time.monotonic() + delay > stop or cancel.wait(delay):
            return None, problem, None
        delay = min(delay * 2, _RETRY_MAX_S)


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


def _remaining(approval: Mapping[str, Any], timeout_s: float, server_now: datetime | None) -> float:
    """Seconds until the approval's deadline (its ``expires_at``; a resumed approval keeps its own),
    measured on the collector's clock when its answer said what time it was."""
    try:
        expires = datetime.fromisoformat(str(approval["expires_at"]))
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=timezone.utc)
        now = server_now if server_now is not None and server_now.tzinfo is not None else datetime.now(timezone.utc)
        left = (expires - now).total_seconds() + (1.0 if server_now is not None else 0.0)  # Date has whole seconds
    except (KeyError, TypeError, ValueError):
        left = timeout_s
    return max(0.0, min(left, 7 * 86_400.0))


def _wait(proposal: Proposal, approval: dict[str, Any], deadline: float,
          cancel: Cancel) -> tuple[dict[str, Any], str]:
    """Long-poll until the approval is no longer pending, or the deadline (plus the collector's
    expiry grace) has passed; reconnects after errors. Returns it and the last network problem."""
    approval_id = approval["id"]
    delay = _RETRY_MIN_S
    unreachable = ""
    while approval.get("status") == "pending" and not cancel.is_set():
        left = deadline + _EXPIRY_GRACE_S - time.monotonic()
        if left <= 0:
            break
        poll = min(_MAX_POLL_S, left)
        try:
            answer = cancel.request().send("GET", _url(proposal, f"/{approval_id}/wait", timeout_s=f"{poll:.3f}"),
                                           headers=proposal.headers, timeout=poll + _REQUEST_TIMEOUT_S)
        except _http.Unreachable as exc:
            unreachable = str(exc)
        else:
            if answer.status == 200 and isinstance(answer.json(), dict):
                approval, unreachable, delay = answer.json(), "", _RETRY_MIN_S
                continue
            unreachable = f"{answer.status}: {answer.error()}"
            if answer.status == 404:
                return {**approval, "status": "missing", "reason": unreachable}, unreachable
        if cancel.wait(min(delay, max(0.0, deadline + _EXPIRY_GRACE_S - time.monotonic()))):
            break
        delay = min(delay * 2, _RETRY_MAX_S)
    return approval, unreachable


def _consume(proposal: Proposal, approval: Mapping[str, Any], common: dict[str, Any], reason: str | None,
             cancel: Cancel) -> Outcome:
    """Use the decision once, for the arguments the agent will use; any refusal is a rejection."""
    edited = approval.get("edited_arguments") is not None
    used = approval.get("edited_arguments") if edited else proposal.arguments
    used_hash = arguments_hash(used)
    stop = time.monotonic() + _CONSUME_ATTEMPTS_S
    delay = _RETRY_MIN_S
    while True:
        try:
            answer = cancel.request().send("POST", _url(proposal, f"/{approval['id']}/consume"),
                                           headers=proposal.headers, body={"arguments_hash": used_hash},
                                           timeout=_REQUEST_TIMEOUT_S)
        except _http.Unreachable as exc:
            problem = f"approved, but the collector at {proposal.base_url} could not be reached to use the decision ({exc})"
        else:
            if answer.status == 200:
                return Outcome("approved", reason=reason, arguments_hash=used_hash, edited=edited,
                               edited_arguments=used if edited else None, **common)
            problem = f"the decision cannot be used ({answer.status}: {answer.error()})"
            if answer.status < 500 and answer.status != 429:
                return Outcome("rejected", reason=problem, arguments_hash=used_hash, **common)
        if cancel.is_set() or time.monotonic() + delay > stop or cancel.wait(delay):
            return Outcome("rejected", reason=problem, arguments_hash=used_hash, **common)
        delay = min(delay * 2, _RETRY_MAX_S)
