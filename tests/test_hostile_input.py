"""Hostile input against a real collector: limits and redaction end to end over OTLP/JSON.

One collector subprocess for the module, started with small limits
(FLIGHTLOG_MAX_ATTRIBUTES_PER_SPAN=100, FLIGHTLOG_MAX_ATTRIBUTE_VALUE_BYTES=10000);
every test uses its own trace id.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conftest import RunningCollector, start_collector

MAX_ATTRIBUTES = 100
MAX_VALUE_BYTES = 10_000
OPENAI_KEY = "sk-proj-Qz7Xw2Vb9Nm4Lk8Jh3Gf6Dd1Ss5Aa0PpOoIiUuYyTtRrEeWw-_Zz7Xx2Cc9Vv"
CARD = "4539 1488 0343 6467"  # Luhn-valid, not one of the well-known test numbers


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    running = start_collector(tmp_path_factory.mktemp("hostile"), env={
        "FLIGHTLOG_MAX_ATTRIBUTES_PER_SPAN": str(MAX_ATTRIBUTES),
        "FLIGHTLOG_MAX_ATTRIBUTE_VALUE_BYTES": str(MAX_VALUE_BYTES),
    })
    yield running
    running.stop()


def _value(v: Any) -> dict[str, Any]:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    return {"stringValue": str(v)}


def _span(trace_id: str, span_id: str, attributes: dict[str, Any], name: str = "chat gpt-4o-mini") -> dict:
    now = time.time_ns()
    return {
        "traceId": trace_id, "spanId": span_id, "name": name, "kind": 3,
        "startTimeUnixNano": str(now - 1_000_000), "endTimeUnixNano": str(now),
        "attributes": [{"key": k, "value": _value(v)} for k, v in attributes.items()],
    }


def _body(*spans: dict) -> bytes:
    return json.dumps({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "hostile-test"}}]},
        "scopeSpans": [{"scope": {"name": "tests"}, "spans": list(spans)}],
    }]}).encode()


def _ids() -> tuple[str, str]:
    return secrets.token_hex(16), secrets.token_hex(8)


def _post(collector: RunningCollector, *spans: dict) -> httpx.Response:
    return collector.post("/v1/traces", _body(*spans), "application/json")


def _stored(collector: RunningCollector, trace_id: str, spans: int = 1) -> list[dict[str, Any]]:
    return collector.wait_for_trace(trace_id, spans)["spans"]


def _fixups(span: dict[str, Any]) -> str:
    return span["span_attributes"].get("flightlog.ingest.fixups", "")


def test_span_with_5000_attributes_is_stored_with_the_first_100_and_flagged(limited) -> None:
    trace_id, span_id = _ids()
    attrs = {"gen_ai.operation.name": "chat", **{f"junk.{i}": i for i in range(4999)}}
    resp = _post(limited, _span(trace_id, span_id, attrs))
    assert resp.status_code == 200, resp.text
    (span,) = _stored(limited, trace_id)
    assert "attributes_dropped:4900" in _fixups(span)
    junk = [k for k in span["span_attributes"] if k.startswith("junk.")]
    assert len(junk) == MAX_ATTRIBUTES - 1 and "junk.98" in junk and "junk.99" not in junk
    assert span["span_type"] == "llm"  # mapped from an attribute that was kept


def test_1mb_attribute_value_is_truncated_with_the_marker(limited) -> None:
    trace_id, span_id = _ids()
    big = "é" * (512 * 1024)  # 1 MiB of UTF-8, 2 bytes a character
    resp = _post(limited, _span(trace_id, span_id, {"flightlog.input": big, "note": "x" * 100}))
    assert resp.status_code == 200, resp.text
    (span,) = _stored(limited, trace_id)
    stored = span["span_attributes"]["flightlog.input"]
    assert stored == "é" * (MAX_VALUE_BYTES // 2) + f"…[truncated {2 * 512 * 1024 - MAX_VALUE_BYTES} bytes]"
    assert span["input_text"] == stored
    assert span["span_attributes"]["note"] == "x" * 100
    assert "value_truncated:1" in _fixups(span)


def test_secrets_in_a_prompt_are_redacted_and_not_searchable(limited) -> None:
    trace_id, span_id = _ids()
    word = "wombat" + secrets.token_hex(4)
    prompt = f"{word}: my key is {OPENAI_KEY} and my card is {CARD}, please book it"
    messages = json.dumps([{"role": "user", "parts": [{"type": "text", "content": prompt}]}])
    resp = _post(limited, _span(trace_id, span_id, {
        "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini", "gen_ai.input.messages": messages}))
    assert resp.status_code == 200, resp.text
    (span,) = _stored(limited, trace_id)
    assert "[REDACTED:api_key]" in span["input_text"] and "[REDACTED:credit_card]" in span["input_text"]
    assert OPENAI_KEY not in json.dumps(span) and CARD not in json.dumps(span)
    assert span["span_attributes"]["flightlog.redactions"] == "api_key=1,credit_card=1"

    found = limited.api("/api/spans", q=word)
    assert [s["span_id"] for s in found["items"]] == [span_id]
    assert "[REDACTED:" in found["items"][0]["input_text"]
    for needle in (OPENAI_KEY, OPENAI_KEY[-20:], CARD, CARD.replace(" ", "")):
        assert limited.api("/api/spans", q=needle)["total"] == 0, needle


def test_zero_span_id_rejects_the_request_and_the_server_keeps_serving(limited) -> None:
    trace_id, span_id = _ids()
    resp = _post(limited, _span(trace_id, span_id, {}), _span(trace_id, "0" * 16, {}, name="bad-span"))
    assert resp.status_code == 400
    message = resp.json()["error"]
    assert "span 1" in message and "bad-span" in message and "spanId" in message
    assert limited.get(f"/api/traces/{trace_id}").status_code == 404  # nothing of it was stored

    assert httpx.get(limited.url + "/healthz", timeout=5).status_code == 200
    ok_trace, ok_span = _ids()
    assert _post(limited, _span(ok_trace, ok_span, {})).status_code == 200
    assert len(_stored(limited, ok_trace)) == 1


def test_zero_trace_id_is_rejected_with_400(limited) -> None:
    resp = _post(limited, _span("0" * 32, secrets.token_hex(8), {}))
    assert resp.status_code == 400 and "span 0" in resp.json()["error"] and "traceId" in resp.json()["error"]


def test_duplicate_span_ids_in_one_request_give_one_row_the_later_copy(limited) -> None:
    trace_id, span_id = _ids()
    resp = _post(limited, _span(trace_id, span_id, {"copy": "first"}, name="first"),
                 _span(trace_id, span_id, {"copy": "second"}, name="second"))
    assert resp.status_code == 200, resp.text
    spans = _stored(limited, trace_id)
    assert len(spans) == 1
    assert spans[0]["span_name"] == "second" and "duplicate_span_id:1" in _fixups(spans[0])
    assert limited.api("/api/spans", trace_id=trace_id)["total"] == 1


def test_end_before_start_is_stored_with_zero_duration(limited) -> None:
    trace_id, span_id = _ids()
    span = _span(trace_id, span_id, {})
    span["endTimeUnixNano"] = str(int(span["startTimeUnixNano"]) - 5_000_000)
    assert _post(limited, span).status_code == 200
    (stored,) = _stored(limited, trace_id)
    assert stored["duration_ms"] == 0 and "end_before_start" in _fixups(stored)


def test_secrets_in_log_records_are_redacted_before_storage(tmp_path) -> None:
    import json as _json

    from conftest import start_collector

    c = start_collector(tmp_path / "logs")
    try:
        trace, span = "ab" * 16, "cd" * 8
        secret = "sk-proj-Abc123Def456Ghi789Jkl012Mno345"
        logs = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{
            "traceId": trace, "spanId": span, "eventName": "gen_ai.user.message",
            "body": {"kvlistValue": {"values": [{"key": "content", "value": {"stringValue": f"my key is {secret}"}}]}},
        }]}]}]}
        spans = {"resourceSpans": [{"scopeSpans": [{"spans": [{
            "traceId": trace, "spanId": span, "name": "chat gpt-4o", "startTimeUnixNano": "1795638114894819786",
            "endTimeUnixNano": "1795638114994819786",
            "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}}]}]}]}]}
        assert c.post("/v1/logs", _json.dumps(logs).encode(), "application/json").status_code == 200
        assert c.post("/v1/traces", _json.dumps(spans).encode(), "application/json").status_code == 200
        stored = c.api(f"/api/traces/{trace}")["spans"][0]
        assert secret not in _json.dumps(stored) and "[REDACTED:" in stored["input_text"]
    finally:
        c.stop()
