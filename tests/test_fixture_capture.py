"""The fixture machinery of tests/fixtures: the fake OpenAI-compatible server answers as the
capture scripts expect, and every fixture the README lists is there and decodes.

Fast and offline: fake_llm.py runs on loopback; no venv, no capture.
"""

from __future__ import annotations

import base64
import json
import re
import struct
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CAPTURE = FIXTURES / "capture"
OTLP = FIXTURES / "otlp"
SYSTEM = "You are refund-bot. Be brief."
USER = ("Hi, I need help with order 4417 refund: the blender arrived broken. "
        "Please refund the 59.99 I paid.")
TOOL = {"type": "function", "function": {
    "name": "issue_refund", "description": "Issue a refund for an order.",
    "parameters": {"type": "object", "required": ["order_id", "amount"], "properties": {
        "order_id": {"type": "string"}, "amount": {"type": "number"}}}}}
RESULT = '{"order_id": "4417", "amount": 59.99, "status": "refunded", "refund_id": "R-4417-001"}'


# --- the fake LLM -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def llm():
    process = subprocess.Popen([sys.executable, str(CAPTURE / "fake_llm.py"), "--port", "0"],
                               stdout=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", url), url
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def post(url, path, body):
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json",
                                              "Authorization": "Bearer sk-test"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers.get("Content-Type"), response.read().decode()


def chat(url, **body):
    content_type, text = post(url, "/chat/completions", {"model": "gpt-4o-mini", **body})
    assert content_type == "application/json"
    return json.loads(text)


def messages(*extra):
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}, *extra]


def test_models(llm):
    with urllib.request.urlopen(llm + "/models", timeout=10) as response:
        ids = [model["id"] for model in json.loads(response.read())["data"]]
    assert "gpt-4o-mini" in ids and "text-embedding-3-small" in ids


def test_chat_plain_answer(llm):
    answer = chat(llm, messages=messages(), temperature=0.2, max_tokens=200,
                  model="gpt-4o-mini-2024")
    assert answer["model"] == "gpt-4o-mini-2024"  # echoes the request
    assert answer["id"].startswith("chatcmpl-") and answer["object"] == "chat.completion"
    (choice,) = answer["choices"]
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["content"] == (
        'I can help with that. You said: "Hi, I need help with order 4417 refund: the blender '
        'arrived broken.". Let me check the order details.')
    usage = answer["usage"]
    # per message: its words + 4; completion: the answer's words
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (5 + 4 + 18 + 4, 25)
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_chat_tool_call_then_text_after_the_tool_result(llm):
    answer = chat(llm, messages=messages(), tools=[TOOL], tool_choice="auto")
    (choice,) = answer["choices"]
    assert choice["finish_reason"] == "tool_calls"
    (call,) = choice["message"]["tool_calls"]
    assert call["id"].startswith("call_") and call["type"] == "function"
    assert call["function"]["name"] == "issue_refund"
    assert json.loads(call["function"]["arguments"]) == {"order_id": "4417", "amount": 59.99}
    assert answer["usage"]["completion_tokens"] == 9  # name + arguments words + 4
    follow_up = chat(llm, tools=[TOOL], messages=messages(
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": RESULT}))
    (choice,) = follow_up["choices"]
    assert choice["finish_reason"] == "stop" and "tool_calls" not in choice["message"]
    assert "R-4417-001" in choice["message"]["content"]
    # the assistant message counts the words of its tool calls as canonical JSON
    assert follow_up["usage"]["prompt_tokens"] == 31 + (12 + 4) + (8 + 4)


def test_chat_ids_are_distinct(llm):
    first, second = (chat(llm, messages=messages(), tools=[TOOL]) for _ in range(2))
    assert first["id"] != second["id"]
    assert (first["choices"][0]["message"]["tool_calls"][0]["id"]
            != second["choices"][0]["message"]["tool_calls"][0]["id"])


def sse_chunks(text):
    events = [line[len("data: "):] for line in text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    return [json.loads(event) for event in events[:-1]]


def test_chat_streaming_with_final_usage_chunk(llm):
    content_type, text = post(llm, "/chat/completions", {
        "model": "gpt-4o-mini", "messages": messages(), "stream": True,
        "stream_options": {"include_usage": True}})
    assert content_type == "text/event-stream"
    chunks = sse_chunks(text)
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert len({chunk["id"] for chunk in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    streamed = "".join(chunk["choices"][0]["delta"].get("content") or ""
                       for chunk in chunks if chunk["choices"])
    plain = chat(llm, messages=messages())
    assert streamed == plain["choices"][0]["message"]["content"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 25
    # without include_usage there is no usage chunk
    _, text = post(llm, "/chat/completions", {"model": "gpt-4o-mini", "messages": messages(),
                                              "stream": True})
    assert all(chunk["choices"] and "usage" not in chunk for chunk in sse_chunks(text))


def test_chat_streaming_tool_call(llm):
    _, text = post(llm, "/chat/completions", {"model": "gpt-4o-mini", "messages": messages(),
                                              "tools": [TOOL], "stream": True})
    deltas = [chunk["choices"][0]["delta"] for chunk in sse_chunks(text)]
    calls = [call for delta in deltas for call in delta.get("tool_calls", [])]
    assert calls[0]["function"]["name"] == "issue_refund" and calls[0]["id"].startswith("call_")
    arguments = "".join(call["function"].get("arguments", "") for call in calls)
    assert json.loads(arguments) == {"order_id": "4417", "amount": 59.99}


def test_embeddings_float_and_base64(llm):
    _, text = post(llm, "/embeddings", {"model": "text-embedding-3-small",
                                        "input": "order 4417 refund"})
    floats = json.loads(text)
    assert floats["model"] == "text-embedding-3-small"
    assert floats["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    vector = floats["data"][0]["embedding"]
    assert len(vector) == 8 and all(-1 <= x < 1 for x in vector)
    _, text = post(llm, "/embeddings", {"model": "text-embedding-3-small",
                                        "input": ["order 4417 refund", "other"],
                                        "encoding_format": "base64"})
    encoded = json.loads(text)["data"]
    assert [item["index"] for item in encoded] == [0, 1]
    decoded = struct.unpack("<8f", base64.b64decode(encoded[0]["embedding"]))
    assert decoded == pytest.approx(vector, abs=1e-6)
    assert struct.unpack("<8f", base64.b64decode(encoded[1]["embedding"])) != decoded


def test_responses_api(llm):
    _, text = post(llm, "/responses", {"model": "gpt-4o-mini", "instructions": SYSTEM,
                                       "input": USER})
    answer = json.loads(text)
    assert answer["object"] == "response" and answer["status"] == "completed"
    assert answer["output"][0]["content"][0]["text"].startswith("I can help with that.")
    tools = [{"type": "function", **TOOL["function"]}]
    _, text = post(llm, "/responses", {"model": "gpt-4o-mini", "input": USER, "tools": tools})
    (call,) = json.loads(text)["output"]
    assert call["type"] == "function_call" and call["name"] == "issue_refund"
    _, text = post(llm, "/responses", {"model": "gpt-4o-mini", "tools": tools, "input": [
        {"role": "user", "content": USER}, call,
        {"type": "function_call_output", "call_id": call["call_id"], "output": RESULT}]})
    assert "R-4417-001" in json.loads(text)["output"][0]["content"][0]["text"]


# --- the fixtures ---------------------------------------------------------------------------


def listed_fixture_files():
    readme = (OTLP / "README.md").read_text()
    return sorted(set(re.findall(
        r"`([\w-]+(?:\.batches|\.logs|\.headers)?\.(?:pb|json))`", readme)))


def test_readme_lists_every_fixture_file():
    listed = listed_fixture_files()
    assert listed, "tests/fixtures/otlp/README.md lists no fixture files"
    missing = [name for name in listed if not (OTLP / name).is_file()]
    assert not missing, f"listed in the README but missing: {missing}"
    unlisted = sorted(path.name for path in OTLP.iterdir()
                      if path.suffix in (".pb", ".json") and path.name not in listed)
    assert not unlisted, f"not described in the README: {unlisted}"
    for name in ("openinference-openai", "otel-genai-openai-v2",
                 "otel-genai-openai-v2-legacy"):
        assert f"{name}.json" in listed and f"{name}.pb" in listed


def span_ids_of_json(payload):
    return sorted((span["traceId"], span["spanId"], span.get("parentSpanId", ""))
                  for resource in payload["resourceSpans"]
                  for scope in resource.get("scopeSpans", [])
                  for span in scope.get("spans", []))


def span_ids_of_pb(request):
    return sorted((span.trace_id.hex(), span.span_id.hex(), span.parent_span_id.hex())
                  for resource in request.resource_spans
                  for scope in resource.scope_spans for span in scope.spans)


@pytest.mark.parametrize("stem", sorted({name.split(".")[0] for name in listed_fixture_files()}))
def test_fixture_decodes(stem):
    payload = json.loads((OTLP / f"{stem}.json").read_text())
    spans = span_ids_of_json(payload)
    assert spans, f"{stem}.json has no spans"
    assert all(re.fullmatch(r"[0-9a-f]{32}", t) and re.fullmatch(r"[0-9a-f]{16}", s)
               for t, s, _ in spans), "ids must be hex (OTLP/JSON)"
    request = ExportTraceServiceRequest()
    request.ParseFromString((OTLP / f"{stem}.pb").read_bytes())
    assert span_ids_of_pb(request) == spans
    batches = OTLP / f"{stem}.batches.json"
    if batches.exists():
        bodies = json.loads(batches.read_text())
        assert isinstance(bodies, list) and len(bodies) > 1
        assert sorted(s for body in bodies for s in span_ids_of_json(body)) == spans
    logs = OTLP / f"{stem}.logs.json"
    if logs.exists() or (OTLP / f"{stem}.logs.pb").exists():
        records = [record for resource in json.loads(logs.read_text())["resourceLogs"]
                   for scope in resource.get("scopeLogs", [])
                   for record in scope.get("logRecords", [])]
        assert records
        logs_request = ExportLogsServiceRequest()
        logs_request.ParseFromString((OTLP / f"{stem}.logs.pb").read_bytes())
        assert sum(len(scope.log_records) for resource in logs_request.resource_logs
                   for scope in resource.scope_logs) == len(records)
        span_ids = {s for _, s, _ in spans}
        assert {record["spanId"] for record in records if record.get("spanId")} <= span_ids
