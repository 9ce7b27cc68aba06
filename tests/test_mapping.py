"""Tests for flightlog.collector.ingest.mapping: decoded spans (RawSpan) → rows of `spans`.

Table tests per column group, then the real instrumentation fixtures of
../shared/fixtures/otlp (OpenInference, OTel GenAI current and legacy).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flightlog.collector.ingest.mapping import (
    COLUMNS,
    apply_log_records,
    normalise,
    span_type,
)
from flightlog.collector.genai.records import log_record_contribution

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "otlp"
TRACE_FIXTURES = ["openinference-openai", "otel-genai-openai-v2", "otel-genai-openai-v2-legacy"]
USER_MESSAGE = "order 4417 refund"
needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(),
                                    reason=f"OTLP fixtures not found at {FIXTURES}")


def raw_span(attributes=None, **fields):
    """A RawSpan (docs/contracts.md, "Decoded span") with defaults, for table tests."""
    span = {
        "trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "b7ad6b7169203331",
        "parent_span_id": "00f067aa0ba902b7", "trace_state": "", "name": "span", "kind": 1,
        "start_ns": 1_700_000_000_000_000_000, "end_ns": 1_700_000_000_250_000_000,
        "attributes": attributes or {}, "resource": {"service.name": "svc"},
        "scope_name": "scope", "scope_version": "1.0", "status_code": 0,
        "status_message": "", "events": [], "links": [],
    }
    span.update(fields)
    return span


def mapped(attributes=None, **fields):
    return normalise(raw_span(attributes, **fields), project="proj")


# --- a small OTLP/JSON decoder (docs/contracts.md, "Decoded span"), independent of collector/ingest/decode.py


def _any_value(value):
    if "stringValue" in value:
        return value["stringValue"]
    if "boolValue" in value:
        return value["boolValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "bytesValue" in value:
        return value["bytesValue"]
    if "arrayValue" in value:
        return [_any_value(v) for v in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return _attributes(value["kvlistValue"].get("values", []))
    return None


def _attributes(pairs):
    return {pair["key"]: _any_value(pair.get("value", {})) for pair in pairs or []}


def raw_spans_from_otlp_json(path):
    spans = []
    for resource_spans in json.loads(path.read_text())["resourceSpans"]:
        resource = _attributes(resource_spans.get("resource", {}).get("attributes"))
        for scope_spans in resource_spans.get("scopeSpans", []):
            scope = scope_spans.get("scope", {})
            for span in scope_spans.get("spans", []):
                spans.append({
                    "trace_id": span["traceId"], "span_id": span["spanId"],
                    "parent_span_id": span.get("parentSpanId", ""),
                    "trace_state": span.get("traceState", ""), "name": span.get("name", ""),
                    "kind": span.get("kind", 0),
                    "start_ns": int(span.get("startTimeUnixNano", 0)),
                    "end_ns": int(span.get("endTimeUnixNano", 0)),
                    "attributes": _attributes(span.get("attributes")), "resource": resource,
                    "scope_name": scope.get("name", ""),
                    "scope_version": scope.get("version", ""),
                    "status_code": span.get("status", {}).get("code", 0),
                    "status_message": span.get("status", {}).get("message", ""),
                    "events": [{"time_ns": int(e.get("timeUnixNano", 0)), "name": e["name"],
                                "attributes": _attributes(e.get("attributes"))}
                               for e in span.get("events", [])],
                    "links": [{"trace_id": link["traceId"], "span_id": link["spanId"],
                               "trace_state": link.get("traceState", ""),
                               "attributes": _attributes(link.get("attributes"))}
                              for link in span.get("links", [])],
                })
    return spans


def log_records_from_otlp_json(path):
    records = []
    for resource_logs in json.loads(path.read_text())["resourceLogs"]:
        for scope_logs in resource_logs.get("scopeLogs", []):
            for record in scope_logs.get("logRecords", []):
                records.append({
                    "trace_id": record.get("traceId", ""), "span_id": record.get("spanId", ""),
                    "time_ns": int(record.get("timeUnixNano")
                                   or record.get("observedTimeUnixNano", 0)),
                    "event_name": record.get("eventName", ""),
                    "attributes": _attributes(record.get("attributes")),
                    "body": _any_value(record.get("body", {})),
                })
    return records


def fixture_rows(name):
    return [normalise(raw, project="p") for raw in
            raw_spans_from_otlp_json(FIXTURES / f"{name}.json")]


# --- the row shape ------------------------------------------------------------------------


def test_normalise_fills_every_column_with_defaults():
    row = normalise({"trace_id": "t", "span_id": "s"}, project="proj")
    assert set(row) == set(COLUMNS)
    assert "IngestTime" not in row
    assert row["Project"] == "proj"
    assert (row["SpanType"], row["SpanKind"], row["StatusCode"]) == ("other", "Unspecified",
                                                                     "Unset")
    assert (row["InputTokens"], row["CostUsd"], row["CheckpointTier"]) == (0, 0.0, 0)
    assert (row["CostSource"], row["InputText"], row["ChainHash"]) == ("none", "", "")
    assert row["SpanAttributes"] == {} and row["Events.Name"] == [] and row["Links.SpanId"] == []


def test_normalise_otel_columns():
    row = mapped(
        {"a": 1}, kind=3, status_code=2, status_message="boom", trace_state="k=v",
        events=[{"time_ns": 5, "name": "e1", "attributes": {"n": 2, "s": "x"}}],
        links=[{"trace_id": "t2", "span_id": "s2", "trace_state": "ts",
                "attributes": {"b": True}}],
    )
    assert row["Timestamp"] == 1_700_000_000_000_000_000
    assert row["Duration"] == 250_000_000
    assert (row["TraceId"], row["SpanId"], row["ParentSpanId"]) == (
        "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", "00f067aa0ba902b7")
    assert (row["SpanKind"], row["StatusCode"], row["StatusMessage"]) == ("Client", "Error",
                                                                          "boom")
    assert (row["ServiceName"], row["ScopeName"], row["ScopeVersion"]) == ("svc", "scope", "1.0")
    assert (row["TraceState"], row["SpanName"]) == ("k=v", "span")
    assert row["Events.Timestamp"] == [5] and row["Events.Name"] == ["e1"]
    assert row["Events.Attributes"] == [{"n": "2", "s": "x"}]
    assert (row["Links.TraceId"], row["Links.SpanId"], row["Links.TraceState"]) == (
        ["t2"], ["s2"], ["ts"])
    assert row["Links.Attributes"] == [{"b": "true"}]


def test_normalise_duration_never_negative():
    assert mapped(start_ns=10, end_ns=5)["Duration"] == 0


@pytest.mark.parametrize("kind,expected", [
    (0, "Unspecified"), (1, "Internal"), (2, "Server"), (3, "Client"), (4, "Producer"),
    (5, "Consumer"), (9, "Unspecified"),
])
def test_normalise_span_kind_names(kind, expected):
    assert mapped(kind=kind)["SpanKind"] == expected


@pytest.mark.parametrize("value,expected", [
    ("text", "text"), ("", ""), ("héllo ✓", "héllo ✓"), (42, "42"), (0.5, "0.5"),
    (True, "true"), (["a", 1], '["a", 1]'), ({"k": "ü"}, '{"k": "ü"}'), (None, "null"),
])
def test_normalise_keeps_raw_attributes_stringified(value, expected):
    row = mapped({"x.y": value}, resource={"r": value})
    assert row["SpanAttributes"] == {"x.y": expected}
    assert row["ResourceAttributes"] == {"r": expected}


# --- span type and operation ----------------------------------------------------------------


@pytest.mark.parametrize("attributes,parent,expected", [
    ({"flightlog.span.type": "checkpoint", "gen_ai.operation.name": "chat"}, "p", "checkpoint"),
    ({"flightlog.span.type": "bogus", "gen_ai.operation.name": "chat"}, "p", "llm"),
    ({"gen_ai.operation.name": "chat"}, "p", "llm"),
    ({"gen_ai.operation.name": "text_completion"}, "p", "llm"),
    ({"gen_ai.operation.name": "generate_content"}, "p", "llm"),
    ({"gen_ai.operation.name": "embeddings"}, "p", "embedding"),
    ({"gen_ai.operation.name": "execute_tool"}, "p", "tool"),
    ({"gen_ai.operation.name": "invoke_agent"}, "p", "agent"),
    ({"gen_ai.operation.name": "create_agent"}, "p", "agent"),
    ({"gen_ai.operation.name": "retrieval"}, "p", "retrieval"),
    ({"gen_ai.operation.name": "chat", "openinference.span.kind": "TOOL"}, "p", "llm"),
    ({"openinference.span.kind": "LLM"}, "p", "llm"),
    ({"openinference.span.kind": "llm"}, "p", "llm"),
    ({"openinference.span.kind": "TOOL"}, "p", "tool"),
    ({"openinference.span.kind": "AGENT"}, "p", "agent"),
    ({"openinference.span.kind": "CHAIN"}, "p", "agent"),
    ({"openinference.span.kind": "RETRIEVER"}, "p", "retrieval"),
    ({"openinference.span.kind": "RERANKER"}, "p", "retrieval"),
    ({"openinference.span.kind": "EMBEDDING"}, "p", "embedding"),
    ({"openinference.span.kind": "GUARDRAIL"}, "p", "other"),
    ({"traceloop.span.kind": "workflow"}, "p", "agent"),
    ({"traceloop.span.kind": "agent"}, "p", "agent"),
    ({"traceloop.span.kind": "tool"}, "p", "tool"),
    ({"traceloop.span.kind": "task"}, "p", "other"),
    ({"langfuse.observation.type": "generation"}, "p", "llm"),
    ({"langfuse.observation.type": "span"}, "p", "other"),
    ({"llm.request.type": "chat"}, "p", "llm"),
    ({"llm.request.type": "embedding"}, "p", "embedding"),
    ({"flightlog.checkpoint.tier": 2}, "p", "checkpoint"),
    ({"gen_ai.agent.name": "bot"}, "", "agent"),
    ({"gen_ai.agent.name": "bot"}, "p", "other"),
    ({}, "", "other"),
])
def test_span_type_precedence(attributes, parent, expected):
    assert span_type(attributes, parent_span_id=parent) == expected
    assert mapped(attributes, parent_span_id=parent)["SpanType"] == expected


@pytest.mark.parametrize("attributes,expected", [
    ({"gen_ai.operation.name": "chat"}, "chat"),
    ({"llm.request.type": "completion"}, "completion"),
    ({"openinference.span.kind": "LLM"}, "chat"),
    ({"openinference.span.kind": "EMBEDDING"}, "embeddings"),
    ({"openinference.span.kind": "TOOL"}, "execute_tool"),
    ({}, ""),
])
def test_normalise_operation(attributes, expected):
    assert mapped(attributes)["Operation"] == expected


# --- extracted columns ------------------------------------------------------------------------


@pytest.mark.parametrize("attributes,resource,expected", [
    # agent name / version
    ({"flightlog.agent.name": "a", "gen_ai.agent.name": "b"}, {}, {"AgentName": "a"}),
    ({"gen_ai.agent.name": "b"}, {"flightlog.agent.name": "r"}, {"AgentName": "b"}),
    ({}, {"gen_ai.agent.name": "r"}, {"AgentName": "r"}),
    ({}, {"service.name": "svc"}, {"AgentName": ""}),
    ({"openinference.span.kind": "AGENT"}, {"service.name": "svc"}, {"AgentName": "svc"}),
    ({"flightlog.agent.version": "2", "gen_ai.agent.version": "1"}, {}, {"AgentVersion": "2"}),
    ({}, {"service.version": "0.9"}, {"AgentVersion": "0.9"}),
    ({}, {"flightlog.agent.version": "3", "service.version": "0.9"}, {"AgentVersion": "3"}),
    # provider and models
    ({"gen_ai.provider.name": "openai", "gen_ai.system": "x"}, {}, {"Provider": "openai"}),
    ({"gen_ai.system": "anthropic"}, {}, {"Provider": "anthropic"}),
    ({"llm.provider": "azure", "llm.system": "openai"}, {}, {"Provider": "azure"}),
    ({"llm.system": "openai"}, {}, {"Provider": "openai"}),
    ({"gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06"}, {},
     {"RequestModel": "gpt-4o", "ResponseModel": "gpt-4o-2024-08-06"}),
    ({"llm.model_name": "gpt-4o-mini"}, {},
     {"RequestModel": "gpt-4o-mini", "ResponseModel": "gpt-4o-mini"}),
    ({"embedding.model_name": "text-embedding-3-small"}, {},
     {"RequestModel": "text-embedding-3-small"}),
    ({"llm.request.model": "claude-3-5-sonnet", "llm.response.model": "claude-3-5-sonnet-2024"},
     {}, {"RequestModel": "claude-3-5-sonnet", "ResponseModel": "claude-3-5-sonnet-2024"}),
    ({"langfuse.observation.model.name": "mistral-large"}, {},
     {"RequestModel": "mistral-large", "ResponseModel": "mistral-large"}),
    # tokens (int, numeric string)
    ({"gen_ai.usage.input_tokens": 44, "gen_ai.usage.output_tokens": "25"}, {},
     {"InputTokens": 44, "OutputTokens": 25}),
    ({"gen_ai.usage.prompt_tokens": 7, "gen_ai.usage.completion_tokens": 3}, {},
     {"InputTokens": 7, "OutputTokens": 3}),
    ({"llm.token_count.prompt": 10, "llm.token_count.completion": 2}, {},
     {"InputTokens": 10, "OutputTokens": 2}),
    ({"llm.usage.prompt_tokens": 5, "llm.usage.completion_tokens": 6}, {},
     {"InputTokens": 5, "OutputTokens": 6}),
    ({"gen_ai.usage.input_tokens": 1, "llm.token_count.prompt": 99}, {}, {"InputTokens": 1}),
    ({"langfuse.observation.usage_details": '{"input": 8, "output": 9}'}, {},
     {"InputTokens": 8, "OutputTokens": 9}),
    ({"gen_ai.usage.input_tokens": -4, "gen_ai.usage.output_tokens": "n/a"}, {},
     {"InputTokens": 0, "OutputTokens": 0}),
    # prompts
    ({"flightlog.prompt.id": "refund", "flightlog.prompt.version": "7",
      "flightlog.prompt.hash": "ab12"}, {},
     {"PromptId": "refund", "PromptVersion": "7", "PromptHash": "ab12"}),
    ({"gen_ai.prompt.name": "triage", "llm.prompt_template.version": "v3"}, {},
     {"PromptId": "triage", "PromptVersion": "v3"}),
    ({"langfuse.observation.prompt.name": "lf", "langfuse.observation.prompt.version": 4}, {},
     {"PromptId": "lf", "PromptVersion": "4"}),
    ({"traceloop.prompt.key": "tl", "traceloop.prompt.version": 2,
      "traceloop.prompt.version_hash": "h"}, {},
     {"PromptId": "tl", "PromptVersion": "2", "PromptHash": "h"}),
    # user and session
    ({"flightlog.user.id": "u1", "user.id": "u2"}, {}, {"UserId": "u1"}),
    ({"enduser.id": "u3"}, {}, {"UserId": "u3"}),
    ({"langfuse.user.id": "u4"}, {}, {"UserId": "u4"}),
    ({}, {"user.id": "u5"}, {"UserId": "u5"}),
    ({"gen_ai.conversation.id": "c1", "session.id": "s1"}, {}, {"SessionId": "c1"}),
    ({"flightlog.session.id": "f1", "gen_ai.conversation.id": "c1"}, {}, {"SessionId": "f1"}),
    ({"session.id": "s1"}, {}, {"SessionId": "s1"}),
    ({"langfuse.session.id": "l1"}, {}, {"SessionId": "l1"}),
    # checkpoints and limits
    ({"flightlog.checkpoint.tier": "2", "flightlog.checkpoint.decision": "approved",
      "flightlog.checkpoint.approver": "ana@example.com"}, {},
     {"CheckpointTier": 2, "CheckpointDecision": "approved", "Approver": "ana@example.com",
      "SpanType": "checkpoint"}),
    ({"flightlog.checkpoint.tier": 900}, {}, {"CheckpointTier": 255}),
    ({"flightlog.limit.violation": "budget.daily_usd"}, {},
     {"Violation": "budget.daily_usd"}),
    # finish reason
    ({"gen_ai.response.finish_reasons": ["length", "stop"]}, {}, {"FinishReason": "length"}),
    ({"gen_ai.response.finish_reasons": '["tool_calls"]'}, {}, {"FinishReason": "tool_calls"}),
    ({"llm.finish_reason": "stop"}, {}, {"FinishReason": "stop"}),
    ({"gen_ai.output.messages": '[{"role": "assistant", "parts": [], "finish_reason": "stop"}]'},
     {}, {"FinishReason": "stop"}),
    # client cost
    ({"flightlog.cost.usd": 0.0123, "gen_ai.usage.cost": 9}, {},
     {"CostUsd": 0.0123, "CostSource": "client"}),
    ({"gen_ai.usage.cost": "0.5"}, {}, {"CostUsd": 0.5, "CostSource": "client"}),
    ({"langfuse.observation.cost_details": '{"input": 0.1, "output": 0.2, "total": 0.3}'}, {},
     {"CostUsd": 0.3, "CostSource": "client"}),
    ({"langfuse.observation.cost_details": '{"input": 0.25, "output": 0.5}'}, {},
     {"CostUsd": 0.75, "CostSource": "client"}),
    ({"llm.usage.cost": 0.02}, {}, {"CostUsd": 0.02, "CostSource": "client"}),
    ({"flightlog.cost.usd": -1}, {}, {"CostUsd": 0.0, "CostSource": "none"}),
])
def test_normalise_extracts_agent_columns(attributes, resource, expected):
    row = mapped(attributes, resource=resource)
    assert {key: row[key] for key in expected} == expected


@pytest.mark.parametrize("attributes,expected", [
    ({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup",
      "gen_ai.tool.call.id": "call_1", "gen_ai.tool.call.arguments": '{"q": 1}',
      "gen_ai.tool.call.result": '{"ok": true}'},
     {"ToolName": "lookup", "ToolCallId": "call_1", "ToolArgs": '{"q": 1}',
      "ToolResult": '{"ok": true}', "InputText": '{"q": 1}', "OutputText": '{"ok": true}'}),
    ({"openinference.span.kind": "TOOL", "tool.name": "lookup", "input.value": "{\"q\": 1}",
      "output.value": "found"},
     {"ToolName": "lookup", "ToolArgs": '{"q": 1}', "ToolResult": "found",
      "InputText": '{"q": 1}', "OutputText": "found"}),
    ({"traceloop.span.kind": "tool", "traceloop.entity.name": "lookup",
      "traceloop.entity.input": '{"args": [1]}', "traceloop.entity.output": "2"},
     {"ToolName": "lookup", "ToolArgs": '{"args": [1]}', "ToolResult": "2"}),
    # a chain span's input.value is not tool arguments
    ({"openinference.span.kind": "CHAIN", "input.value": "hello"},
     {"ToolArgs": "", "InputText": "hello"}),
])
def test_normalise_tool_columns(attributes, expected):
    row = mapped(attributes)
    assert {key: row[key] for key in expected} == expected


@pytest.mark.parametrize("attributes,events,status,expected", [
    ({"error.type": "timeout"}, [], 2, "timeout"),
    ({}, [{"time_ns": 1, "name": "exception",
           "attributes": {"exception.type": "ValueError", "exception.message": "x"}}], 2,
     "ValueError"),
    ({}, [], 2, "error"),
    ({}, [], 1, ""),
    ({}, [], 0, ""),
])
def test_normalise_error_type(attributes, events, status, expected):
    assert mapped(attributes, events=events, status_code=status)["ErrorType"] == expected


# --- searchable text ------------------------------------------------------------------------

GENAI_INPUT = [
    {"role": "user", "parts": [{"type": "text", "content": "refund order 12"}]},
    {"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "refund",
                                     "arguments": {"order": 12}}]},
    {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1",
                                "response": {"ok": True}}]},
]
GENAI_INPUT_TEXT = ('user: refund order 12\nassistant: tool_call refund({"order": 12})\n'
                    'tool: {"ok": true}')


@pytest.mark.parametrize("attributes,events,expected_input,expected_output", [
    # GenAI current: JSON string or already-decoded list; system instructions first
    ({"gen_ai.input.messages": json.dumps(GENAI_INPUT)}, [], GENAI_INPUT_TEXT, ""),
    ({"gen_ai.input.messages": GENAI_INPUT,
      "gen_ai.system_instructions": '[{"type": "text", "content": "Be brief."}]',
      "gen_ai.output.messages": [{"role": "assistant", "finish_reason": "stop",
                                  "parts": [{"type": "text", "content": "Done."}]}]}, [],
     "system: Be brief.\n" + GENAI_INPUT_TEXT, "assistant: Done."),
    # GenAI / OpenLLMetry flattened prompt and completion
    ({"gen_ai.prompt.0.role": "system", "gen_ai.prompt.0.content": "sys",
      "gen_ai.prompt.1.role": "user", "gen_ai.prompt.1.content": "hi",
      "gen_ai.completion.0.role": "assistant",
      "gen_ai.completion.0.tool_calls.0.name": "f",
      "gen_ai.completion.0.tool_calls.0.arguments": '{"a": 1}'}, [],
     "system: sys\nuser: hi", 'assistant: tool_call f({"a": 1})'),
    # GenAI older: content in span events
    ({}, [{"time_ns": 1, "name": "gen_ai.system.message", "attributes": {"content": "sys"}},
          {"time_ns": 2, "name": "gen_ai.user.message",
           "attributes": {"gen_ai.system": "openai", "content": "hi"}},
          {"time_ns": 3, "name": "gen_ai.choice",
           "attributes": {"index": 0, "finish_reason": "stop",
                          "message": '{"role": "assistant", "content": "hello"}'}}],
     "system: sys\nuser: hi", "assistant: hello"),
    ({}, [{"time_ns": 1, "name": "gen_ai.content.prompt",
           "attributes": {"gen_ai.prompt": '[{"role": "user", "content": "hi"}]'}},
          {"time_ns": 2, "name": "gen_ai.content.completion",
           "attributes": {"gen_ai.completion": '[{"role": "assistant", "content": "yo"}]'}}],
     "user: hi", "assistant: yo"),
    # OpenInference flattened messages, with tool calls and contents lists
    ({"llm.input_messages.0.message.role": "user",
      "llm.input_messages.0.message.contents.0.message_content.type": "text",
      "llm.input_messages.0.message.contents.0.message_content.text": "look",
      "llm.input_messages.1.message.role": "assistant",
      "llm.input_messages.1.message.tool_calls.0.tool_call.function.name": "f",
      "llm.input_messages.1.message.tool_calls.0.tool_call.function.arguments": "{}",
      "llm.output_messages.0.message.role": "assistant",
      "llm.output_messages.0.message.content": "ok",
      "input.value": '{"messages": []}', "output.value": "raw"}, [],
     "user: look\nassistant: tool_call f({})", "assistant: ok"),
    # OpenInference input.value / output.value only: OpenAI bodies rendered as messages
    ({"input.value": '{"messages": [{"role": "user", "content": "hey"}], "model": "m"}',
      "output.value": '{"choices": [{"message": {"role": "assistant", "content": "yo"}}]}'},
     [], "user: hey", "assistant: yo"),
    ({"input.value": "plain question", "output.value": '{"answer": 42}'}, [],
     "plain question", '{"answer": 42}'),
    # embeddings: the embedded texts, not the vectors
    ({"openinference.span.kind": "EMBEDDING", "embedding.embeddings.0.embedding.text": "a",
      "embedding.embeddings.1.embedding.text": "b", "embedding.embeddings.0.embedding.vector":
      [0.1, 0.2], "output.value": '{"data": [{"embedding": [0.1]}]}'}, [], "a\nb", ""),
    # retrieval: query in, documents out
    ({"openinference.span.kind": "RETRIEVER", "input.value": "where is 4417",
      "retrieval.documents.0.document.content": "doc one",
      "retrieval.documents.1.document.content": "doc two"}, [],
     "where is 4417", "doc one\ndoc two"),
    ({"gen_ai.operation.name": "retrieval", "gen_ai.retrieval.query.text": "refund window",
      "gen_ai.retrieval.documents": '[{"id": "d1", "score": 0.9, "content": "30 days"}]'}, [],
     "refund window", "30 days"),
    # ... and as earlier flightlog SDKs wrote it
    ({"flightlog.retrieval.query": "q", "flightlog.retrieval.documents":
      '[{"id": "1", "content": "alpha"}, "beta"]'}, [], "q", "alpha\nbeta"),
    # flightlog namespace wins over everything
    ({"flightlog.input": "mine", "flightlog.output": "theirs",
      "gen_ai.input.messages": json.dumps(GENAI_INPUT)}, [], "mine", "theirs"),
    # OpenLLMetry entities and Langfuse observations
    ({"traceloop.entity.input": '{"inputs": {"q": "x"}}', "traceloop.entity.output": "y"}, [],
     '{"inputs": {"q": "x"}}', "y"),
    ({"langfuse.observation.input": '[{"role": "user", "content": "lf in"}]',
      "langfuse.observation.output": "lf out"}, [], "user: lf in", "lf out"),
    # a body that renders to nothing keeps its raw text
    ({"input.value": '{"messages": []}'}, [], '{"messages": []}', ""),
    ({"retrieval.documents.0.document": "bare"}, [], "", "bare"),
    # non-text parts are named, not dropped silently
    ({"gen_ai.input.messages": [{"role": "user", "parts": [
        {"type": "text", "content": "see"},
        {"type": "blob", "modality": "image", "mime_type": "image/png", "content": None}]}]},
     [], "user: see\nuser: [blob image/png]", ""),
])
def test_normalise_renders_readable_text(attributes, events, expected_input, expected_output):
    row = mapped(attributes, events=events)
    assert row["InputText"] == expected_input
    assert row["OutputText"] == expected_output


ODD_VALUES = [None, 0, -1, 1.5, float("nan"), True, "", "x", "{", "[1]", "null", [], [None],
              [{}], {}, {"a": [1]}, [{"role": None, "parts": "p", "content": 5,
                                     "tool_calls": "t"}]]
KNOWN_KEYS = [
    "flightlog.span.type", "gen_ai.operation.name", "openinference.span.kind",
    "traceloop.span.kind", "llm.request.type", "gen_ai.agent.name", "gen_ai.usage.input_tokens",
    "llm.token_count.prompt", "langfuse.observation.usage_details", "flightlog.cost.usd",
    "langfuse.observation.cost_details", "flightlog.checkpoint.tier",
    "gen_ai.response.finish_reasons", "gen_ai.input.messages", "gen_ai.output.messages",
    "gen_ai.system_instructions", "gen_ai.prompt", "gen_ai.prompt.0.content",
    "gen_ai.completion.0.tool_calls", "llm.input_messages.0.message.contents",
    "llm.output_messages.0.message.tool_calls.0.tool_call", "embedding.embeddings.0.embedding",
    "retrieval.documents.0.document", "flightlog.retrieval.documents", "input.value",
    "output.value", "langfuse.observation.input", "gen_ai.tool.call.arguments",
]


@pytest.mark.parametrize("key", KNOWN_KEYS)
def test_normalise_never_raises_on_odd_values(key):
    for value in ODD_VALUES:
        events = [{"time_ns": 1, "name": name, "attributes": {"content": value, "message": value,
                                                              "gen_ai.event.content": value}}
                  for name in ("gen_ai.choice", "gen_ai.user.message", "exception")]
        row = mapped({key: value}, events=events, parent_span_id="")
        assert set(row) == set(COLUMNS)
        assert isinstance(row["InputText"], str) and isinstance(row["OutputText"], str)
        for name in ("gen_ai.choice", "gen_ai.client.inference.operation.details"):
            log_record_contribution({"event_name": name, "body": value,
                                     "attributes": {"gen_ai.input.messages": value}})


def test_normalise_survives_absurd_nesting():
    deep_json = "[" * 100_000 + "]" * 100_000
    deep_key = "llm.input_messages.0." + ".".join(["0"] * 5_000)
    row = mapped({"gen_ai.input.messages": deep_json, deep_key: "x", "input.value": deep_json})
    assert row["InputText"] == deep_json  # not renderable: kept as the raw text


# --- log records ------------------------------------------------------------------------------


@pytest.mark.parametrize("record,expected_input,expected_output", [
    ({"event_name": "gen_ai.user.message", "body": {"content": "hi"}}, "user: hi", ""),
    ({"event_name": "gen_ai.system.message", "body": "plain sys"}, "system: plain sys", ""),
    ({"event_name": "gen_ai.assistant.message", "body": {"tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}},
     "assistant: tool_call f({})", ""),
    ({"event_name": "gen_ai.tool.message", "body": {"content": "42", "id": "c"}},
     "tool: 42", ""),
    ({"event_name": "gen_ai.choice", "body": {"index": 0, "finish_reason": "stop",
                                              "message": {"content": "bye"}}},
     "", "assistant: bye"),
    ({"event_name": "gen_ai.client.inference.operation.details", "body": None,
      "attributes": {"gen_ai.input.messages": GENAI_INPUT,
                     "gen_ai.output.messages": [{"role": "assistant",
                                                 "parts": [{"type": "text", "content": "k"}]}]}},
     GENAI_INPUT_TEXT, "assistant: k"),
    ({"event_name": "something.else", "body": "x"}, "", ""),
])
def test_log_record_contribution(record, expected_input, expected_output):
    record = {"trace_id": "t", "span_id": "s", "time_ns": 7, "attributes": {}, **record}
    contribution = log_record_contribution(record)
    assert (contribution["input_text"], contribution["output_text"]) == (expected_input,
                                                                         expected_output)
    assert contribution["event"]["name"] == record["event_name"]
    assert contribution["event"]["time_ns"] == 7


def test_apply_log_records_fills_empty_text_and_appends_events():
    row = mapped({"gen_ai.operation.name": "chat"})
    records = [
        {"event_name": "gen_ai.choice", "time_ns": 3, "attributes": {},
         "body": {"message": {"role": "assistant", "content": "hello"}}},
        {"event_name": "gen_ai.user.message", "time_ns": 1, "attributes": {"gen_ai.system": "x"},
         "body": {"content": "hi"}},
    ]
    merged = apply_log_records(row, records)
    assert (merged["InputText"], merged["OutputText"]) == ("user: hi", "assistant: hello")
    assert merged["Events.Name"] == ["gen_ai.user.message", "gen_ai.choice"]
    assert merged["Events.Timestamp"] == [1, 3]
    assert merged["Events.Attributes"][0] == {"gen_ai.system": "x", "body": '{"content": "hi"}'}
    assert row["InputText"] == "" and row["Events.Name"] == []  # the input row is not changed


def test_apply_log_records_keeps_span_text():
    row = mapped({"flightlog.input": "from span"})
    merged = apply_log_records(row, [{"event_name": "gen_ai.user.message", "time_ns": 1,
                                      "attributes": {}, "body": {"content": "from log"}}])
    assert merged["InputText"] == "from span"


# --- real instrumentation fixtures ------------------------------------------------------------


def _by_type(rows):
    grouped = {}
    for row in rows:
        grouped.setdefault(row["SpanType"], []).append(row)
    return grouped


@needs_fixtures
@pytest.mark.parametrize("name", TRACE_FIXTURES)
def test_fixture_span_types_models_and_tokens(name):
    rows = fixture_rows(name)
    grouped = _by_type(rows)
    has_tool_span = name != "otel-genai-openai-v2-legacy"  # 2.3b0 has no tool-span helper
    assert sorted(grouped) == sorted(["agent", "llm", "embedding"] + ["tool"] * has_tool_span)
    (root,) = grouped["agent"]
    assert root["ParentSpanId"] == "" and root["SpanName"] == "agent run"
    assert root["AgentName"] == "refund-bot"
    assert {row["TraceId"] for row in rows} == {root["TraceId"]}
    llm = sorted(grouped["llm"], key=lambda row: row["Timestamp"])
    assert [(r["InputTokens"], r["OutputTokens"]) for r in llm] == [(44, 25), (44, 9), (72, 29),
                                                                    (37, 24)]
    assert {(r["RequestModel"], r["ResponseModel"], r["Provider"]) for r in llm} == {
        ("gpt-4o-mini", "gpt-4o-mini", "openai")}
    assert [r["FinishReason"] for r in llm][:3] == ["stop", "tool_calls", "stop"]
    (embedding,) = grouped["embedding"]
    assert (embedding["RequestModel"], embedding["InputTokens"]) == ("text-embedding-3-small", 3)
    assert all(row["CostSource"] == "none" for row in rows)


@needs_fixtures
@pytest.mark.parametrize("name", ["openinference-openai", "otel-genai-openai-v2"])
def test_fixture_tool_span_and_text(name):
    grouped = _by_type(fixture_rows(name))
    (tool,) = grouped["tool"]
    assert tool["ToolName"] == "issue_refund"
    assert json.loads(tool["ToolArgs"]) == {"order_id": "4417", "amount": 59.99}
    assert json.loads(tool["ToolResult"])["refund_id"] == "R-4417-001"
    assert (tool["InputText"], tool["OutputText"]) == (tool["ToolArgs"], tool["ToolResult"])
    for row in grouped["llm"]:
        assert USER_MESSAGE in row["InputText"]
        assert row["OutputText"].startswith("assistant: ")
        assert not row["InputText"].startswith("{")  # rendered, not the raw JSON body
    assert any('tool_call issue_refund({"order_id": "4417", "amount": 59.99})' in r["OutputText"]
               for r in grouped["llm"])


@needs_fixtures
def test_fixture_openinference_embedding_text():
    (embedding,) = _by_type(fixture_rows("openinference-openai"))["embedding"]
    assert embedding["InputText"] == USER_MESSAGE
    assert embedding["OutputText"] == ""


@needs_fixtures
def test_fixture_genai_v2_tool_call_id():
    (tool,) = _by_type(fixture_rows("otel-genai-openai-v2"))["tool"]
    assert tool["ToolCallId"] == "call_583857dfaa4d84b2940f99bf"
    assert tool["Operation"] == "execute_tool"


@needs_fixtures
@pytest.mark.parametrize("name", ["otel-genai-openai-v2", "otel-genai-openai-v2-legacy"])
def test_fixture_log_records_attach_content_to_their_spans(name):
    rows = {row["SpanId"]: row for row in fixture_rows(name)}
    records = log_records_from_otlp_json(FIXTURES / f"{name}.logs.json")
    by_span = {}
    for record in records:
        by_span.setdefault(record["span_id"], []).append(record)
    assert set(by_span) <= set(rows)
    merged = {span_id: apply_log_records(rows[span_id], recs) for span_id, recs in
              by_span.items()}
    llm = sorted(merged.values(), key=lambda row: row["Timestamp"])
    assert len(llm) == 4
    for row in llm:
        assert USER_MESSAGE in row["InputText"]
        assert row["OutputText"].startswith("assistant: ")
        assert row["InputText"].count(USER_MESSAGE) == 1  # no duplicate content
    assert ('tool_call issue_refund({"order_id": "4417", "amount": 59.99})'
            in llm[1]["OutputText"])
    assert "R-4417-001" in llm[2]["InputText"]  # the tool result sent back to the model
    assert sum(len(row["Events.Name"]) for row in merged.values()) == len(records)


@needs_fixtures
def test_fixture_rows_equal_through_collector_decode():
    """The same rows come out whether the JSON or protobuf body goes through decode.py."""
    decode = pytest.importorskip("flightlog.collector.ingest.decode")
    for name in TRACE_FIXTURES:
        expected = fixture_rows(name)
        for suffix, content_type in ((".json", "application/json"),
                                     (".pb", "application/x-protobuf")):
            body = (FIXTURES / f"{name}{suffix}").read_bytes()
            rows = [normalise(raw, project="p") for raw in
                    decode.decode_traces(body, content_type, None)]
            assert rows == expected, (name, suffix)
