"""Human checkpoints: record (and for tier 3, wait for) a human decision on a risky action.

Tiers:
  1. autonomous - the agent acts alone; the checkpoint is only recorded.
  2. notify     - the agent acts; ``approver`` (if given) is called in the background as a
                  notification and not waited for (the inbox records a ``notified`` entry).
  3. approve    - the agent waits for ``approver`` up to ``timeout_s``; the outcome
                  (approved, rejected or timed_out) is recorded either way.

The tier asked for is a floor: the central policy in force for the agent (``flightlog.policy``)
may raise it from the tool, its arguments and the confidence (autonomy = f(context,
confidence, criticality)), and says why (``flightlog.checkpoint.tier_reasons``). The
approver is a callable or the collector's approval inbox (``_inbox.py``).
"""

from __future__ import annotations

import contextvars
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Union

from opentelemetry import context as otel_context
from opentelemetry import trace

from . import _control, _env
from . import semconv as K
from ._budget import RunState
from ._content import format_content, identity_callable_name, redact_strings, to_jsonable
from ._context import RUN_CONTEXT_KEY
from ._exceptions import ConfigurationError
from ._http import api_base, api_headers
from ._inbox import Cancel, Inbox, Proposal, ask, default_idempotency_key, notify
from ._setup import get_state
from ._spans import _Step

_logger = logging.getLogger("flightlog")


_MAX_NAME_LENGTH = 120


@dataclasses.dataclass(frozen=True)
class Approval:
    """What an approver returns when it wants to name itself or give a reason (else a bool)."""

    approved: bool
    approver: str | None = None
    reason: str | None = None


@dataclasses.dataclass(frozen=True)
class CheckpointRequest:
    """What an approver is called with."""

    action: str
    tier: int
    confidence: float | None
    agent: str | None
    trace_id: str
    details: Mapping[str, Any] | None = None
    tool: str | None = None
    arguments: Any = None
    tier_reasons: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Decision:
    """The outcome of ``flightlog.checkpoint()``; truthy when the agent may go ahead.

    ``decision`` is one of ``approved``, ``rejected``, ``timed_out``, ``autonomous``, ``notified``.
    ``arguments`` is what to use: the approver's edited arguments when ``edited``, else the
    checkpoint's. ``approval_id`` names the inbox approval behind a tier-3 decision;
    ``tier_reasons`` says why the central policy raised the tier.
    """

    decision: str
    action: str
    tier: int
    approver: str | None = None
    reason: str | None = None
    wait_ms: float = 0.0
    approval_id: str | None = None
    arguments: Any = None
    edited: bool = False
    tier_reasons: tuple[str, ...] = ()
    decided_at: str | None = None

    @property
    def approved(self) -> bool:
        return self.decision in ("approved", "autonomous", "notified")

    def __bool__(self) -> bool:
        return self.approved


Approver = Callable[[CheckpointRequest], Union[bool, Approval]]


class _CheckpointStep(_Step):
    span_type = "checkpoint"
    operation = "checkpoint"

    def __init__(self, action: str, tier: int, confidence: float | None, attributes: Mapping[str, Any] | None,
                 tool: str | None = None, tier_reasons: tuple[str, ...] = ()) -> None:
        super().__init__(attributes=attributes)
        self.action = action
        self.tier = tier
        self.confidence = confidence
        self.tool = tool
        self.tier_reasons = tier_reasons
        self.decision: Decision | None = None
        self.approval_hash: str | None = None

    def _span_name(self) -> str:
        config = self.config
        action, _ = format_content(self.action, redact=config.redact, max_length=_MAX_NAME_LENGTH)
        return f"checkpoint {action}"

    def _start_attributes(self) -> dict[str, Any]:
        return {K.CHECKPOINT_ACTION: self._metadata_text(self.action), K.CHECKPOINT_TIER: self.tier,
                K.CHECKPOINT_CONFIDENCE: self.confidence, K.CHECKPOINT_TOOL: self.tool,
                K.CHECKPOINT_TIER_REASONS: list(self.tier_reasons) if self.tier_reasons else None}

    def _finish_attributes(self) -> dict[str, Any]:
        d = self.decision
        if d is None:
            return {}
        return {K.CHECKPOINT_DECISION: d.decision, K.CHECKPOINT_APPROVER: d.approver,
                K.CHECKPOINT_REASON: None if d.reason is None else self._metadata_text(d.reason),
                K.CHECKPOINT_WAIT_MS: d.wait_ms, K.APPROVAL_ID: d.approval_id,
                K.APPROVAL_DECIDED_AT: d.decided_at, K.APPROVAL_ARGUMENTS_HASH: self.approval_hash,
                K.APPROVAL_EDITED: True if d.edited else (False if d.approval_id else None)}


def _ask(approver: Approver, request: CheckpointRequest, timeout_s: float) -> tuple[str, str | None, str | None]:
    """Call ``approver`` on a daemon thread and wait up to ``timeout_s``: (decision, approver, reason)."""
    default_name = identity_callable_name(approver)
    box: list[Any] = []

    def target() -> None:
        try:
            box.append(("ok", approver(request)))
        except Exception as exc:  # noqa: BLE001 - approver is user code; a crash is a rejection
            box.append(("error", exc))

    worker = threading.Thread(target=contextvars.copy_context().run, args=(target,),
                              name="flightlog-checkpoint", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if not box:
        return "timed_out", default_name, f"no decision within {timeout_s:g}s"
    status, value = box[0]
    if status == "error":
        return "rejected", default_name, f"approver raised {type(value).__name__}: {value}"
    if isinstance(value, Approval):
        return ("approved" if value.approved else "rejected"), value.approver or default_name, value.reason
    return ("approved" if value else "rejected"), default_name, None


_UNSET: Any = object()


def _validate(tier: Any, confidence: Any, approver: Any, timeout_s: Any, tool: Any,
              idempotency_key: Any) -> None:
    if tier not in (1, 2, 3) or isinstance(tier, bool):
        raise ConfigurationError(f"checkpoint tier must be 1, 2 or 3, got {tier!r}")
    if confidence is not None and (isinstance(confidence, bool) or not isinstance(confidence, (int, float))
                                   or not 0.0 <= confidence <= 1.0):
        raise ConfigurationError(f"checkpoint confidence must be within [0, 1], got {confidence!r}")
    if timeout_s is not None and (isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float))
                                  or timeout_s < 0):
        raise ConfigurationError(f"checkpoint timeout_s must be a number >= 0, got {timeout_s!r}")
    if approver is not None and not (callable(approver) or isinstance(approver, Inbox)):
        raise ConfigurationError("checkpoint approver must be callable or flightlog.inbox()")
    if tool is not None and (not isinstance(tool, str) or not tool):
        raise ConfigurationError(f"checkpoint tool must be a tool name, got {tool!r}")
    if idempotency_key is not None and (not isinstance(idempotency_key, str) or not 0 < len(idempotency_key) <= 300):
        raise ConfigurationError("checkpoint idempotency_key must be a string of 1 to 300 characters")
    if tier == 3 and approver is None and get_state().config.approvals != "inbox":
        raise ConfigurationError("a tier-3 checkpoint needs an approver: a callable, flightlog.inbox(), "
                                 "or flightlog.init(approvals='inbox')")


def _policy_in_force(run: RunState | None) -> Any:
    """The central policy of the nearest run that has one, else of the configured agent."""
    for state in (run.chain() if run is not None else ()):
        if state.policy is not None:
            return state.policy
    client = _control.CLIENT
    if client is None:
        return None
    config = get_state().config
    return client.policy_for(config.agent_name, config.agent_version)


def checkpoint(action: str, *, tier: int = 1, confidence: float | None = None,
               approver: Approver | Inbox | None = None, timeout_s: float | None = None,
               details: Mapping[str, Any] | None = None, tool: str | None = None, arguments: Any = None,
               idempotency_key: str | None = None, attributes: Mapping[str, Any] | None = None) -> Decision:
    """Record a human checkpoint for ``action``; for tier 3, block until ``approver`` decides.

    Example::

        decision = flightlog.checkpoint("refund $420 to order 1182", tier=3, confidence=0.62,
                                        tool="issue_refund", arguments={"order_id": "1182", "amount": 420},
                                        approver=flightlog.inbox(timeout_s=600))
        if decision:            # approved (tier 3), or tiers 1-2
            issue_refund(**decision.arguments)

    ``approver`` is a callable (it gets a ``CheckpointRequest`` and returns a bool or an
    ``Approval``; if it raises, the action is rejected; if it is slower than ``timeout_s``,
    default 300, the decision is ``timed_out``) or ``flightlog.inbox()`` (a named person decides
    through the collector; ``timeout_s`` defaults to the inbox's). A tier-3 checkpoint without
    one uses the inbox if ``init(approvals="inbox")`` was set.

    ``tool`` and ``arguments`` name what the action will call with what: the central policy in
    force for the agent computes the tier from them and ``confidence`` (it may raise ``tier``,
    never lower it; a checkpoint it raises to tier 3 without an approver goes to the inbox),
    and an inbox approval is bound to the arguments' hash. ``idempotency_key`` replaces the
    default one (derived from the trace context, the action and the arguments) that lets a
    restarted agent resume the approval it already asked for.

    Writes ``flightlog.checkpoint.{action,tier,tier_reasons,tool,confidence,decision,approver,
    reason,wait_ms}`` and, for inbox decisions, ``flightlog.approval.{id,decided_at,
    arguments_hash,edited}``. Raises ``ConfigurationError`` (a ``ValueError``) for a bad
    tier/confidence/timeout, or a tier-3 checkpoint without an approver.
    """
    _validate(tier, confidence, approver, timeout_s, tool, idempotency_key)
    return _checkpoint(action, tier, confidence, approver, timeout_s, details, tool, arguments,
                       idempotency_key, attributes, None)


async def acheckpoint(action: str, *, tier: int = 1, confidence: float | None = None,
                      approver: Approver | Inbox | None = None, timeout_s: float | None = None,
                      details: Mapping[str, Any] | None = None, tool: str | None = None, arguments: Any = None,
                      idempotency_key: str | None = None, attributes: Mapping[str, Any] | None = None) -> Decision:
    """``checkpoint`` for asyncio agents: the same arguments and ``Decision``, and the wait for
    a decision runs on a thread of its own, so the event loop goes on meanwhile.

    Cancelling the awaiting task ends the wait; the checkpoint is recorded as rejected.
    """
    import asyncio

    _validate(tier, confidence, approver, timeout_s, tool, idempotency_key)
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Decision] = loop.create_future()
    cancel = Cancel()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def target() -> None:
        try:
            result, error = _checkpoint(action, tier, confidence, approver, timeout_s, details, tool, arguments,
                                        idempotency_key, attributes, cancel), None
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task, raised there
            result, error = None, exc
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:  # the loop is closed: nobody awaits this checkpoint any more
            pass

    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(target,), name="flightlog-acheckpoint", daemon=True).start()
    try:
        return await future
    except asyncio.CancelledError:
        cancel.set()
        raise


def _checkpoint(action: Any, tier: int, confidence: float | None, approver: Approver | Inbox | None,
                timeout_s: float | None, details: Mapping[str, Any] | None, tool: str | None, arguments: Any,
                idempotency_key: str | None, attributes: Mapping[str, Any] | None, cancel: Cancel | None) -> Decision:
    action = str(action)
    confidence = None if confidence is None else float(confidence)
    run = otel_context.get_value(RUN_CONTEXT_KEY)
    run = run if isinstance(run, RunState) else None
    policy = _policy_in_force(run)
    requested = tier
    reasons: tuple[str, ...] = ()
    if policy is not None:
        try:
            tier, why = policy.tier(tool, to_jsonable(arguments), confidence, requested)
            reasons = tuple(why)
        except Exception:  # noqa: BLE001 - a policy problem must not break the agent; the asked tier stands
            _logger.exception("flightlog: could not compute the checkpoint tier from policy %s", policy.id)
    if approver is None and tier >= 2:
        # init(approvals="inbox"): the inbox is the default approver (tier 3) and is told (tier 2);
        # a checkpoint the policy raised to tier 3 goes to the inbox in any case.
        inbox_default = get_state().config.approvals == "inbox"
        if inbox_default or (tier == 3 and requested < 3):
            approver = Inbox()
        elif tier == 3:  # only reachable if init() changed between _validate and here
            raise ConfigurationError("a tier-3 checkpoint needs an approver callable")

    step = _CheckpointStep(action, tier, confidence, attributes, tool, reasons)
    with step:
        started = time.monotonic()
        outcome = _Outcome("autonomous")
        if tier == 2:
            outcome = _Outcome("notified")
            if isinstance(approver, Inbox):
                outcome.approver = "inbox"
                proposal = _proposal(step, approver, action, tool, arguments, tier, confidence, policy,
                                     timeout_s, idempotency_key)
                threading.Thread(target=_inbox_notify, args=(proposal,), name="flightlog-notify",
                                 daemon=True).start()
            elif approver is not None:
                outcome.approver = identity_callable_name(approver)
                request = _request(step, action, tier, confidence, details, tool, arguments, reasons)
                threading.Thread(target=contextvars.copy_context().run, args=(_notify, approver, request),
                                 name="flightlog-notify", daemon=True).start()
        elif tier == 3:
            if isinstance(approver, Inbox):
                proposal = _proposal(step, approver, action, tool, arguments, tier, confidence, policy,
                                     timeout_s, idempotency_key)
                decided = ask(proposal, cancel)
                outcome = _Outcome(decided.decision, decided.approver, decided.reason, decided.approval_id,
                                   decided.decided_at, decided.edited,
                                   decided.edited_arguments if decided.edited else arguments)
                step.approval_hash = decided.arguments_hash or proposal.arguments_hash
            else:
                assert approver is not None
                wait = _env.DEFAULT_CHECKPOINT_TIMEOUT_S if timeout_s is None else timeout_s
                outcome = _Outcome(*_ask(approver, _request(step, action, tier, confidence, details, tool,
                                                            arguments, reasons), wait))
        wait_ms = round((time.monotonic() - started) * 1000.0, 3)
        step.decision = Decision(outcome.decision, action, tier, outcome.approver, outcome.reason, wait_ms,
                                 approval_id=outcome.approval_id,
                                 arguments=arguments if outcome.arguments is _UNSET else outcome.arguments,
                                 edited=outcome.edited, tier_reasons=reasons, decided_at=outcome.decided_at)
    return step.decision


@dataclasses.dataclass
class _Outcome:
    decision: str
    approver: str | None = None
    reason: str | None = None
    approval_id: str | None = None
    decided_at: str | None = None
    edited: bool = False
    arguments: Any = _UNSET


def _agent_facts(step: _CheckpointStep) -> tuple[str | None, str | None]:
    run = step._run
    if run is not None:
        return run.facts.get(K.AGENT_NAME), run.facts.get(K.AGENT_VERSION)
    config = step.config
    return config.agent_name, config.agent_version


def anchor_span_id(step: _CheckpointStep) -> str:
    """The span a checkpoint hangs from, for its default idempotency key: the nearest ancestor
    that came from another process (a context continued with ``extract``: the same after an
    agent restarts), else the checkpoint's parent span."""
    parent = getattr(step.span, "parent", None)
    if parent is not None and parent.is_remote:
        return f"{parent.span_id:016x}"
    for run in (step._run.chain() if step._run is not None else ()):
        remote = getattr(run.span, "parent", None)
        if remote is not None and remote.is_remote:
            return f"{remote.span_id:016x}"
    return f"{parent.span_id:016x}" if parent is not None else "0" * 16


def _proposal(step: _CheckpointStep, approver: Inbox, action: str, tool: str | None, arguments: Any, tier: int,
              confidence: float | None, policy: Any, timeout_s: float | None,
              idempotency_key: str | None) -> Proposal:
    config = step.config
    redacted, changed = redact_strings(to_jsonable(arguments), config.redact)
    if changed:
        step._redacted = True
    agent, agent_version = _agent_facts(step)
    ctx = step.span.get_span_context()
    trace_id = trace.format_trace_id(ctx.trace_id)
    proposal = Proposal(
        base_url=api_base(config.endpoint), headers=api_headers(config.headers),
        action=format_content(action, redact=config.redact, max_length=None)[0], tool=tool, arguments=redacted,
        tier=tier, confidence=confidence, agent=agent, agent_version=agent_version,
        decided_by=step._run.decided_by() if step._run is not None else None, trace_id=trace_id,
        span_id=trace.format_span_id(ctx.span_id), idempotency_key="", policy=policy,
        timeout_s=approver.timeout_s if timeout_s is None else max(float(timeout_s), 0.001),
        on_timeout=approver.on_timeout)
    proposal.idempotency_key = idempotency_key or default_idempotency_key(
        trace_id, anchor_span_id(step), action, proposal.arguments_hash)
    return proposal


def _request(step: _CheckpointStep, action: str, tier: int, confidence: float | None,
             details: Mapping[str, Any] | None, tool: str | None = None, arguments: Any = None,
             reasons: tuple[str, ...] = ()) -> CheckpointRequest:
    ctx = step.span.get_span_context()
    return CheckpointRequest(action=action, tier=tier, confidence=confidence,
                             agent=step._run.name if step._run is not None else None,
                             trace_id=trace.format_trace_id(ctx.trace_id), details=details, tool=tool,
                             arguments=arguments, tier_reasons=reasons)


def _inbox_notify(proposal: Proposal) -> None:
    try:
        notify(proposal)
    except Exception:  # noqa: BLE001 - a failing notification must not reach the agent; logged
        _logger.exception("flightlog: tier-2 inbox notification failed")


def _notify(approver: Approver, request: CheckpointRequest) -> None:
    try:
        approver(request)
    except Exception:  # noqa: BLE001 - a failing notifier must not reach the agent; logged
        _logger.exception("flightlog: checkpoint notifier failed")
