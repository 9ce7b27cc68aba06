"""Human checkpoints: record (and for tier 3, wait for) a human decision on a risky action.

Tiers:
  1. autonomous - the agent acts alone; the checkpoint is only recorded.
  2. notify     - the agent acts; ``approver`` (if given) is called in the background as a
                  notification and not waited for.
  3. approve    - the agent waits for ``approver`` up to ``timeout_s``; the outcome
                  (approved, rejected or timed_out) is recorded either way.
"""

from __future__ import annotations

import contextvars
import dataclasses
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Union

from opentelemetry import trace

from . import _env
from . import semconv as K
from ._content import format_content, identity_callable_name
from ._exceptions import ConfigurationError
from ._spans import _Step


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


@dataclasses.dataclass(frozen=True)
class Decision:
    """The outcome of ``flightlog.checkpoint()``; truthy when the agent may go ahead.

    ``decision`` is one of ``approved``, ``rejected``, ``timed_out``, ``autonomous``, ``notified``.
    """

    decision: str
    action: str
    tier: int
    approver: str | None = None
    reason: str | None = None
    wait_ms: float = 0.0

    @property
    def approved(self) -> bool:
        return self.decision in ("approved", "autonomous", "notified")

    def __bool__(self) -> bool:
        return self.approved


Approver = Callable[[CheckpointRequest], Union[bool, Approval]]


class _CheckpointStep(_Step):
    span_type = "checkpoint"
    operation = "checkpoint"

    def __init__(self, action: str, tier: int, confidence: float | None,
                 attributes: Mapping[str, Any] | None) -> None:
        super().__init__(attributes=attributes)
        self.action = action
        self.tier = tier
        self.confidence = confidence
        self.decision: Decision | None = None

    def _span_name(self) -> str:
        config = self.config
        action, _ = format_content(self.action, redact=config.redact, max_length=_MAX_NAME_LENGTH)
        return f"checkpoint {action}"

    def _start_attributes(self) -> dict[str, Any]:
        return {K.CHECKPOINT_ACTION: self._metadata_text(self.action), K.CHECKPOINT_TIER: self.tier,
                K.CHECKPOINT_CONFIDENCE: self.confidence}

    def _finish_attributes(self) -> dict[str, Any]:
        d = self.decision
        if d is None:
            return {}
        return {K.CHECKPOINT_DECISION: d.decision, K.CHECKPOINT_APPROVER: d.approver,
                K.CHECKPOINT_REASON: None if d.reason is None else self._metadata_text(d.reason),
                K.CHECKPOINT_WAIT_MS: d.wait_ms}


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


def checkpoint(action: str, *, tier: int = 1, confidence: float | None = None, approver: Approver | None = None,
               timeout_s: float = _env.DEFAULT_CHECKPOINT_TIMEOUT_S, details: Mapping[str, Any] | None = None,
               attributes: Mapping[str, Any] | None = None) -> Decision:
    """Record a human checkpoint for ``action``; for tier 3, block until ``approver`` decides.

    Example::

        decision = flightlog.checkpoint("refund $420 to order 1182", tier=3, confidence=0.62,
                                        approver=ask_on_slack, timeout_s=120)
        if decision:            # approved (tier 3), or tiers 1-2
            issue_refund()

    ``approver`` gets a ``CheckpointRequest`` and returns a bool or an ``Approval``. If it
    raises, the action is rejected; if it is too slow, the decision is ``timed_out`` (falsy).
    Writes ``flightlog.checkpoint.{action,tier,confidence,decision,approver,reason,wait_ms}``.
    Raises ``ConfigurationError`` (a ``ValueError``) for a bad tier/confidence/timeout or a
    tier-3 checkpoint without an approver.
    """
    if tier not in (1, 2, 3) or isinstance(tier, bool):
        raise ConfigurationError(f"checkpoint tier must be 1, 2 or 3, got {tier!r}")
    if confidence is not None and (isinstance(confidence, bool) or not isinstance(confidence, (int, float))
                                   or not 0.0 <= confidence <= 1.0):
        raise ConfigurationError(f"checkpoint confidence must be within [0, 1], got {confidence!r}")
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or timeout_s < 0:
        raise ConfigurationError(f"checkpoint timeout_s must be a number >= 0, got {timeout_s!r}")
    if approver is not None and not callable(approver):
        raise ConfigurationError("checkpoint approver must be callable")
    if tier == 3 and approver is None:
        raise ConfigurationError("a tier-3 checkpoint needs an approver callable")

    action = str(action)
    step = _CheckpointStep(action, tier, None if confidence is None else float(confidence), attributes)
    with step:
        started = time.monotonic()
        if tier == 1:
            outcome, who, reason = "autonomous", None, None
        elif tier == 2:
            outcome, who, reason = "notified", None, None
            if approver is not None:
                who = identity_callable_name(approver)
                request = _request(step, action, tier, confidence, details)
                threading.Thread(target=contextvars.copy_context().run, args=(_notify, approver, request),
                                 name="flightlog-notify", daemon=True).start()
        else:
            assert approver is not None
            outcome, who, reason = _ask(approver, _request(step, action, tier, confidence, details), timeout_s)
        wait_ms = round((time.monotonic() - started) * 1000.0, 3)
        step.decision = Decision(outcome, action, tier, who, reason, wait_ms)
    return step.decision


def _request(step: _CheckpointStep, action: str, tier: int, confidence: float | None,
             details: Mapping[str, Any] | None) -> CheckpointRequest:
    ctx = step.span.get_span_context()
    return CheckpointRequest(action=action, tier=tier, confidence=confidence,
                             agent=step._run.name if step._run is not None else None,
                             trace_id=trace.format_trace_id(ctx.trace_id), details=details)


def _notify(approver: Approver, request: CheckpointRequest) -> None:
    try:
        approver(request)
    except Exception:  # noqa: BLE001 - a failing notifier must not reach the agent; logged
        import logging

        logging.getLogger("flightlog").exception("flightlog: checkpoint notifier failed")
