"""flightlog.collector.demo: the deterministic demo traces, and the incident a newcomer should find."""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter, defaultdict
from typing import Any

import pytest

from flightlog.collector import demo
from flightlog.collector.demo import text as demo_text

NOW_NS = 1_790_000_000_000_000_000  # a fixed "now" (2026-09-21) so every run sees the same data
DAY_NS = 86_400 * 10**9


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return getattr(v, kind)


def _attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in kvs}


@pytest.fixture(scope="module")
def requests() -> list[Any]:
    return demo.build_demo_requests(NOW_NS)


@pytest.fixture(scope="module")
def spans(requests: list[Any]) -> list[tuple[Any, dict[str, Any]]]:
    """Every span with its attributes decoded to plain Python values."""
    return [(s, _attrs(s.attributes)) for r in requests for rs in r.resource_spans
            for ss in rs.scope_spans for s in ss.spans]


@pytest.fixture(scope="module")
def traces(spans: list[tuple[Any, dict[str, Any]]]) -> dict[str, list[tuple[Any, dict]]]:
    by_trace: dict[str, list[tuple[Any, dict]]] = defaultdict(list)
    for span, attrs in spans:
        by_trace[span.trace_id.hex()].append((span, attrs))
    return by_trace


def _of_type(spans: list[tuple[Any, dict]], span_type: str) -> list[tuple[Any, dict]]:
    return [(s, a) for s, a in spans if a["flightlog.span.type"] == span_type]


def test_same_seed_gives_identical_bytes(requests: list[Any]) -> None:
    again = demo.build_demo_requests(NOW_NS, seed=7)
    assert [r.SerializeToString(deterministic=True) for r in requests] == [
        r.SerializeToString(deterministic=True) for r in again]


def test_another_seed_gives_other_traces_but_the_same_incident(requests: list[Any]) -> None:
    other = demo.build_demo_requests(NOW_NS, seed=8)
    assert [r.SerializeToString() for r in other] != [r.SerializeToString() for r in requests]
    ids = {s.trace_id.hex() for r in other for rs in r.resource_spans
           for ss in rs.scope_spans for s in ss.spans}
    assert demo.INCIDENT_TRACE_ID in ids


def test_volume_is_a_few_hundred_traces(traces: dict, spans: list) -> None:
    assert 150 <= len(traces) <= 300
    assert 4 * len(traces) <= len(spans) <= 12 * len(traces)


def test_trace_and_span_ids_are_well_formed_and_unique(spans: list) -> None:
    ids = [s.span_id for s, _ in spans]
    assert len(ids) == len(set(ids))
    assert all(len(s.span_id) == 8 and len(s.trace_id) == 16 for s, _ in spans)


def test_every_parent_exists_within_its_trace_and_each_trace_has_one_agent_root(
        traces: dict) -> None:
    for trace_id, members in traces.items():
        ids = {s.span_id for s, _ in members}
        roots = [(s, a) for s, a in members if not s.parent_span_id]
        assert len(roots) == 1, trace_id
        assert roots[0][1]["flightlog.span.type"] == "agent"
        assert all(s.parent_span_id in ids for s, _ in members if s.parent_span_id), trace_id
        root = roots[0][0]
        assert all(root.start_time_unix_nano <= s.start_time_unix_nano
                   and s.end_time_unix_nano <= root.end_time_unix_nano for s, _ in members)


def test_timestamps_fall_within_the_last_14_days(spans: list) -> None:
    for span, _ in spans:
        assert NOW_NS - 14 * DAY_NS <= span.start_time_unix_nano
        assert span.start_time_unix_nano <= span.end_time_unix_nano <= NOW_NS
    days = {(NOW_NS - s.start_time_unix_nano) // DAY_NS for s, _ in spans}
    assert len(days) >= 12  # spread over the fortnight, not bunched


def test_default_now_is_the_current_time() -> None:
    before = time.time_ns()
    latest = max(s.end_time_unix_nano for r in demo.build_demo_requests()
                 for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans)
    assert before - 14 * DAY_NS < latest <= time.time_ns()


def test_each_request_is_one_agent_resource(requests: list[Any]) -> None:
    for request in requests:
        assert len(request.resource_spans) == 1
        resource = _attrs(request.resource_spans[0].resource.attributes)
        assert resource["deployment.environment"] == "production"
        for ss in request.resource_spans[0].scope_spans:
            for span in ss.spans:
                attrs = _attrs(span.attributes)
                assert attrs["gen_ai.agent.name"] == resource["service.name"]
                assert attrs["gen_ai.agent.version"] == resource["service.version"]


COMMON_KEYS = ("flightlog.span.type", "gen_ai.operation.name", "gen_ai.agent.name",
               "gen_ai.agent.version", "user.id", "gen_ai.conversation.id")


@pytest.mark.parametrize(("span_type", "operation", "keys"), [
    ("agent", "invoke_agent", ("flightlog.input", "flightlog.output")),
    ("llm", "chat", ("gen_ai.provider.name", "gen_ai.request.model", "gen_ai.input.messages",
                     "flightlog.prompt.id", "flightlog.prompt.version",
                     "flightlog.prompt.hash")),
    ("tool", "execute_tool", ("gen_ai.tool.name", "gen_ai.tool.call.id",
                              "gen_ai.tool.call.arguments")),
    ("retrieval", "retrieval", ("gen_ai.retrieval.query.text", "gen_ai.retrieval.documents")),
    ("checkpoint", "checkpoint", ("flightlog.checkpoint.action", "flightlog.checkpoint.tier",
                                  "flightlog.checkpoint.decision",
                                  "flightlog.checkpoint.approver",
                                  "flightlog.checkpoint.wait_ms")),
])
def test_each_span_type_carries_its_attribute_keys(
        spans: list, span_type: str, operation: str, keys: tuple[str, ...]) -> None:
    typed = _of_type(spans, span_type)
    assert typed
    for _, attrs in typed:
        assert all(k in attrs for k in COMMON_KEYS + keys), attrs.keys()
        assert attrs["gen_ai.operation.name"] == operation


def test_llm_spans_use_the_genai_message_schema_and_hash_their_prompt(spans: list) -> None:
    for span, attrs in _of_type(spans, "llm"):
        assert span.kind == span.SPAN_KIND_CLIENT
        assert span.name == f"chat {attrs['gen_ai.request.model']}"
        template = demo_text.PROMPTS[(attrs["flightlog.prompt.id"],
                                     attrs["flightlog.prompt.version"])]
        assert attrs["flightlog.prompt.hash"] == hashlib.sha256(template.encode()).hexdigest()
        messages = json.loads(attrs["gen_ai.input.messages"])
        assert messages[0]["role"] == "user"
        assert messages[0]["parts"][0]["type"] == "text"
        if span.status.code == 0:
            output = json.loads(attrs["gen_ai.output.messages"])
            assert output[0]["role"] == "assistant" and output[0]["parts"][0]["content"]
            assert attrs["gen_ai.response.finish_reasons"] == [output[0]["finish_reason"]]
            assert attrs["gen_ai.usage.input_tokens"] > 0
            assert attrs["gen_ai.usage.output_tokens"] > 0
            size = len(attrs["gen_ai.input.messages"]) + len(attrs["gen_ai.output.messages"])
            assert 300 <= size <= 4000


def test_tool_and_retrieval_payloads_are_json(spans: list) -> None:
    for span, attrs in _of_type(spans, "tool"):
        assert span.name == f"execute_tool {attrs['gen_ai.tool.name']}"
        assert isinstance(json.loads(attrs["gen_ai.tool.call.arguments"]), dict)
        if span.status.code == 0:
            json.loads(attrs["gen_ai.tool.call.result"])
    for _, attrs in _of_type(spans, "retrieval"):
        documents = json.loads(attrs["gen_ai.retrieval.documents"])
        assert documents and all(set(d) == {"id", "score", "content"} for d in documents)


def test_content_covers_several_agents_models_prompts_users_and_sessions(spans: list) -> None:
    assert len({a["gen_ai.agent.name"] for _, a in spans}) >= 4
    assert {"gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "gemini-2.5-flash"} <= {
        a.get("gen_ai.request.model") for _, a in spans}
    versions: dict[str, set[str]] = defaultdict(set)
    for _, a in _of_type(spans, "llm"):
        versions[a["flightlog.prompt.id"]].add(a["flightlog.prompt.version"])
    assert sum(len(v) > 1 for v in versions.values()) >= 3
    assert len({a["user.id"] for _, a in spans}) >= 30
    turns = Counter(a["gen_ai.conversation.id"] for _, a in _of_type(spans, "agent"))
    assert any(n > 1 for n in turns.values())  # some sessions hold several traces


def test_errors_carry_status_error_type_and_an_exception_event(spans: list) -> None:
    failed = [(s, a) for s, a in spans if s.status.code == s.status.STATUS_CODE_ERROR]
    for span, attrs in failed:
        assert span.status.message and attrs["error.type"]
        event = next(e for e in span.events if e.name == "exception")
        assert _attrs(event.attributes) == {"exception.type": attrs["error.type"],
                                            "exception.message": span.status.message}
    kinds = {(a["flightlog.span.type"], a["error.type"]) for _, a in failed}
    assert ("tool", "TimeoutError") in kinds
    assert ("llm", "RateLimitError") in kinds
    assert any("429" in s.status.message for s, _ in failed)


def test_checkpoints_include_human_decisions_and_autonomous_ones(spans: list) -> None:
    seen = {(a["flightlog.checkpoint.tier"], a["flightlog.checkpoint.decision"])
            for _, a in _of_type(spans, "checkpoint")}
    assert {t for t, _ in seen} == {1, 2, 3}
    assert {d for _, d in seen} >= {"approved", "rejected", "autonomous"}


def test_incident_trace_ran_prompt_v7_and_refunded_4950(traces: dict) -> None:
    incident = traces[demo.INCIDENT_TRACE_ID]
    root = next(a for _, a in incident if a["flightlog.span.type"] == "agent")
    assert (root["gen_ai.agent.name"], root["gen_ai.agent.version"]) == ("refund-bot", "2.3.0")
    assert "4,950.00" in root["flightlog.output"]
    prompts = {(a["flightlog.prompt.id"], a["flightlog.prompt.version"])
               for _, a in _of_type(incident, "llm")}
    assert ("refund-policy", demo.INCIDENT_PROMPT_VERSION) in prompts
    assert demo.INCIDENT_PROMPT_VERSION == "v7"
    refund = next(a for _, a in _of_type(incident, "tool")
                  if a["gen_ai.tool.name"] == "issue_refund")
    assert json.loads(refund["gen_ai.tool.call.arguments"])["amount"] == 4950
    assert json.loads(refund["gen_ai.tool.call.arguments"])["order_id"] == "88123"
    assert demo.INCIDENT_SEARCH_WORD == "overdraft"
    assert "overdraft" in refund["gen_ai.tool.call.result"]
    # Like the SDK, the refund names the LLM call that ordered it: prompt v7, span in this trace.
    assert (refund["flightlog.decided_by.prompt.id"], refund["flightlog.decided_by.prompt.version"]) == (
        "refund-policy", "v7")
    deciding = next(a for s, a in incident if s.span_id.hex() == refund["flightlog.decided_by.span_id"])
    assert deciding["flightlog.span.type"] == "llm"
    assert refund["flightlog.decided_by.model"] == deciding["gen_ai.response.model"]
    answered = [a.get("gen_ai.response.model") for _, a in _of_type(incident, "llm")]
    assert root["flightlog.run.models"] == list(dict.fromkeys(m for m in answered if m))


def test_only_the_incident_trace_mentions_overdraft(traces: dict) -> None:
    hits = {tid for tid, members in traces.items()
            if any(demo.INCIDENT_SEARCH_WORD in str(v) for _, a in members for v in a.values())}
    assert hits == {demo.INCIDENT_TRACE_ID}


def test_healthy_refunds_used_prompt_v6_and_the_order_price(traces: dict) -> None:
    healthy = 0
    for trace_id, members in traces.items():
        tools = {a["gen_ai.tool.name"]: a for _, a in _of_type(members, "tool")
                 if "gen_ai.tool.call.result" in a}
        if trace_id == demo.INCIDENT_TRACE_ID or "issue_refund" not in tools:
            continue
        price = json.loads(tools["lookup_order"]["gen_ai.tool.call.result"])["items"][0]["price"]
        assert json.loads(tools["issue_refund"]["gen_ai.tool.call.arguments"])["amount"] == price
        assert {a["flightlog.prompt.version"] for _, a in _of_type(members, "llm")
                if a["flightlog.prompt.id"] == "refund-policy"} == {"v6"}
        healthy += 1
    assert healthy >= 10
