"""Tests for human checkpoints (flightlog.checkpoint): tiers, decisions, timeouts and attributes."""

from __future__ import annotations

import threading

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import flightlog
from flightlog import Approval


def only_span(exporter):
    (span,) = [s for s in exporter.get_finished_spans() if s.attributes["flightlog.span.type"] == "checkpoint"]
    return span


def approve(request):
    return True


def reject(request):
    return Approval(False, approver="alice", reason="too risky")


def explode(request):
    raise RuntimeError("pager down")


@pytest.mark.parametrize("tier,approver,decision,approved,who,reason", [
    (1, None, "autonomous", True, None, None),
    (3, approve, "approved", True, "approve", None),
    (3, reject, "rejected", False, "alice", "too risky"),
    (3, explode, "rejected", False, "explode", "approver raised RuntimeError: pager down"),
])
def test_checkpoint_decisions_are_returned_and_recorded(exporter, tier, approver, decision, approved, who, reason):
    result = flightlog.checkpoint("refund $420", tier=tier, confidence=0.6, approver=approver, timeout_s=5)
    assert (result.decision, bool(result), result.approver, result.reason) == (decision, approved, who, reason)
    a = only_span(exporter).attributes
    assert only_span(exporter).name == "checkpoint refund $420"
    assert (a["flightlog.span.type"], a["gen_ai.operation.name"]) == ("checkpoint", "checkpoint")
    assert a["flightlog.checkpoint.action"] == "refund $420"
    assert a["flightlog.checkpoint.tier"] == tier
    assert a["flightlog.checkpoint.confidence"] == 0.6
    assert a["flightlog.checkpoint.decision"] == decision
    assert a.get("flightlog.checkpoint.approver") == who
    assert a.get("flightlog.checkpoint.reason") == reason
    assert a["flightlog.checkpoint.wait_ms"] >= 0


def test_tier3_times_out_and_records_it(exporter):
    release = threading.Event()

    def slow(request):
        release.wait(10)
        return True

    try:
        result = flightlog.checkpoint("deploy", tier=3, approver=slow, timeout_s=0.05)
    finally:
        release.set()
    assert result.decision == "timed_out" and not result
    assert only_span(exporter).attributes["flightlog.checkpoint.decision"] == "timed_out"


def test_tier2_notifies_without_waiting(exporter):
    notified = threading.Event()
    release = threading.Event()

    def notifier(request):
        notified.set()
        release.wait(10)

    result = flightlog.checkpoint("send newsletter", tier=2, approver=notifier)
    assert result.decision == "notified" and result
    assert notified.wait(5)
    release.set()
    assert only_span(exporter).attributes["flightlog.checkpoint.approver"] == "test_tier2_notifies_without_waiting.<locals>.notifier"


def test_approver_receives_the_request_inside_the_run(exporter):
    seen = []

    def approver(request):
        seen.append(request)
        return True

    with flightlog.agent_run("ops-bot", user_id="u-1"):
        flightlog.checkpoint("restart db", tier=3, confidence=0.9, approver=approver, details={"host": "db1"})
    (request,) = seen
    assert (request.action, request.tier, request.agent, request.details) == ("restart db", 3, "ops-bot", {"host": "db1"})
    span = only_span(exporter)
    assert request.trace_id == format(span.context.trace_id, "032x")
    assert span.attributes["gen_ai.agent.name"] == "ops-bot"


@pytest.mark.parametrize("kwargs", [
    {"tier": 4},
    {"tier": 3},
    {"tier": 1, "confidence": 1.5},
    {"tier": 1, "timeout_s": -1},
    {"tier": 2, "approver": "bob"},
])
def test_bad_checkpoint_arguments_raise_value_error(exporter, kwargs):
    with pytest.raises(ValueError):
        flightlog.checkpoint("x", **kwargs)


def test_checkpoint_action_is_redacted_in_name_and_attribute():
    exporter = InMemorySpanExporter()
    flightlog.init(tracer_provider=TracerProvider(), exporter=exporter, batch=False, redact=[r"\S+@\S+"])
    try:
        flightlog.checkpoint("email bob@corp.com the invoice", tier=1)
    finally:
        flightlog.shutdown()
    (span,) = exporter.get_finished_spans()
    assert "bob@corp.com" not in span.name
    assert span.attributes["flightlog.checkpoint.action"] == "email [REDACTED] the invoice"
