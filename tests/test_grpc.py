"""OTLP/gRPC ingest (collector/ingest/grpc.py): TraceService and LogsService over the real wire.

Spans come from the OTel SDK through the real ``opentelemetry-exporter-otlp-proto-grpc``
exporter, or from the captured fixtures through a plain gRPC stub (to see status codes).
Every gRPC request has an OTLP/HTTP twin sent to a second collector, and the two stores
must agree row for row. The error table at the end is the unit test of the status mapping.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.rpc.error_details_pb2 import RetryInfo
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from conftest import RunningCollector, fixture_bytes, fixture_trace_id, free_port, start_collector
from flightlog.collector import errors
from flightlog.collector.ingest.grpc import RETRY_INFO_KEY, grpc_status, trace_response
from flightlog.storage import StorageError

PB = "application/x-protobuf"
LEGACY_TRACE = fixture_trace_id("otel-genai-openai-v2-legacy")
TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


@dataclass
class GrpcCollector:
    """A collector with OTLP/gRPC on and a channel to it."""

    http: RunningCollector
    target: str
    channel: grpc.Channel

    def export_traces(self, request: ExportTraceServiceRequest, key: str | None = None) -> ExportTraceServiceResponse:
        stub = trace_service_pb2_grpc.TraceServiceStub(self.channel)
        return stub.Export(request, metadata=(("x-api-key", key or self.http.ingest_key),), timeout=30)

    def export_logs(self, request: ExportLogsServiceRequest) -> None:
        stub = logs_service_pb2_grpc.LogsServiceStub(self.channel)
        stub.Export(request, metadata=(("authorization", f"Bearer {self.http.ingest_key}"),), timeout=30)


def _start(data_dir: Path) -> GrpcCollector:
    port = free_port()
    running = start_collector(data_dir, args=["--grpc-port", str(port)])
    target = f"127.0.0.1:{port}"
    return GrpcCollector(running, target, grpc.insecure_channel(target))


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GrpcCollector, GrpcCollector]]:
    """Two collectors: the first is fed over gRPC, the second the same data over HTTP."""
    a, b = _start(tmp_path_factory.mktemp("via-grpc")), _start(tmp_path_factory.mktemp("via-http"))
    yield a, b
    for c in (a, b):
        c.channel.close()
        c.http.stop()


def _comparable(trace: dict) -> list[dict]:
    # Ingest time and the chain hash (a property of the ingest batch) differ by collector.
    return [{k: v for k, v in s.items() if k not in ("ingest_time", "chain_hash")} for s in trace["spans"]]


def _genai_run(provider: TracerProvider, order: str) -> str:
    """An agent run in the OTel GenAI shape: agent → chat → tool."""
    tracer = provider.get_tracer("refund-bot", "1.0.0")
    with tracer.start_as_current_span("invoke_agent refund-bot") as root:
        root.set_attributes({"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "refund-bot",
                             "user.id": "u-42", "gen_ai.conversation.id": "s-7"})
        with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT) as llm:
            llm.set_attributes({
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.usage.input_tokens": 900, "gen_ai.usage.output_tokens": 120,
                "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [
                    {"type": "text", "content": f"Refund the quince jelly on order {order}"}]}]),
            })
        with tracer.start_as_current_span("execute_tool issue_refund") as tool:
            tool.set_attributes({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "issue_refund",
                                 "gen_ai.tool.call.arguments": json.dumps({"order_id": order})})
        return format(root.get_span_context().trace_id, "032x")


def test_genai_spans_from_the_otlp_grpc_exporter_are_stored_and_queryable(pair) -> None:
    a, _ = pair
    exporter = GrpcSpanExporter(endpoint=a.target, insecure=True, headers=(("x-api-key", a.http.ingest_key),))
    provider = TracerProvider(resource=Resource.create({"service.name": "refund-bot"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace_id = _genai_run(provider, "77001")
    provider.shutdown()

    spans = a.http.wait_for_trace(trace_id, 3)["spans"]
    assert [(s["depth"], s["span_name"]) for s in spans] == [
        (0, "invoke_agent refund-bot"), (1, "chat gpt-4o"), (1, "execute_tool issue_refund")]
    root, llm, tool = spans
    assert root["span_type"] == "agent" and root["agent_name"] == "refund-bot"
    assert llm["span_type"] == "llm" and llm["request_model"] == "gpt-4o"
    assert llm["response_model"] == "gpt-4o-2024-08-06" and llm["provider"] == "openai"
    assert (llm["input_tokens"], llm["output_tokens"]) == (900, 120)
    assert llm["cost_usd"] > 0 and "quince jelly" in llm["input_text"]
    assert tool["tool_name"] == "issue_refund"
    assert a.http.api("/api/spans", q="quince 77001")["total"] == 1


def test_the_same_sdk_spans_over_grpc_and_http_store_identical_rows(pair) -> None:
    a, b = pair
    provider = TracerProvider(resource=Resource.create({"service.name": "refund-bot"}))
    provider.add_span_processor(SimpleSpanProcessor(GrpcSpanExporter(
        endpoint=a.target, insecure=True, headers=(("x-api-key", a.http.ingest_key),))))
    provider.add_span_processor(SimpleSpanProcessor(HttpSpanExporter(
        endpoint=f"{b.http.url}/v1/traces", headers={"x-api-key": b.http.ingest_key})))
    trace_id = _genai_run(provider, "77002")
    provider.shutdown()

    via_grpc, via_http = a.http.wait_for_trace(trace_id, 3), b.http.wait_for_trace(trace_id, 3)
    assert _comparable(via_grpc) == _comparable(via_http)


@pytest.mark.parametrize("name", ["openinference-openai", "otel-genai-openai-v2", "otel-genai-openai-v2-legacy"])
def test_fixture_requests_over_grpc_and_http_store_identical_rows(pair, name: str) -> None:
    a, b = pair
    body = fixture_bytes(f"{name}.pb")
    request = ExportTraceServiceRequest.FromString(body)
    assert a.export_traces(request) == ExportTraceServiceResponse()  # no partial_success when all accepted
    assert b.http.post("/v1/traces", body, PB).status_code == 200

    trace_id = request.resource_spans[0].scope_spans[0].spans[0].trace_id.hex()
    spans = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
    via_grpc, via_http = a.http.wait_for_trace(trace_id, spans), b.http.wait_for_trace(trace_id, spans)
    assert len(via_grpc["spans"]) == spans
    assert _comparable(via_grpc) == _comparable(via_http)


def test_log_records_over_grpc_give_their_spans_input_text(pair) -> None:
    a, b = pair
    logs, traces = fixture_bytes("otel-genai-openai-v2-legacy.logs.pb"), fixture_bytes("otel-genai-openai-v2-legacy.pb")
    a.export_logs(ExportLogsServiceRequest.FromString(logs))
    a.export_traces(ExportTraceServiceRequest.FromString(traces))
    assert b.http.post("/v1/logs", logs, PB).status_code == 200
    assert b.http.post("/v1/traces", traces, PB).status_code == 200

    via_grpc = a.http.wait_for_trace(LEGACY_TRACE, 6)
    chats = [s for s in via_grpc["spans"] if s["span_name"] == "chat gpt-4o-mini"]
    assert len(chats) == 4
    assert all("order 4417 refund" in s["input_text"] for s in chats), [s["input_text"][:80] for s in chats]
    assert any(e["name"] == "gen_ai.choice" for s in chats for e in s["events"])
    assert _comparable(via_grpc) == _comparable(b.http.wait_for_trace(LEGACY_TRACE, 6))


def _request_with_trace_id(trace_id: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = trace_id, bytes.fromhex("00f067aa0ba902b7"), "probe"
    span.start_time_unix_nano, span.end_time_unix_nano = 1_700_000_000_000_000_000, 1_700_000_001_000_000_000
    return request


GOOD_TRACE = bytes.fromhex("5b8efff798038103d269b633813fc60c")
MAX_BODY_BYTES = 16 * 1024 * 1024  # the default of FLIGHTLOG_MAX_BODY_BYTES


@pytest.mark.parametrize("metadata, body, code, says", [
    ((("x-api-key", "fl_ingest_not-a-real-key"),), None, grpc.StatusCode.UNAUTHENTICATED, "unknown"),
    ((), None, grpc.StatusCode.UNAUTHENTICATED, "missing API key"),
    ((("authorization", "Basic abc"),), None, grpc.StatusCode.UNAUTHENTICATED, "Bearer"),
    ("read", None, grpc.StatusCode.PERMISSION_DENIED, "may not use this endpoint"),
    ("ingest", _request_with_trace_id(b"\x01\x02\x03").SerializeToString(), grpc.StatusCode.INVALID_ARGUMENT,
     "traceId must be 16 bytes"),
    ("ingest", b"\xff\xff\xff not protobuf", grpc.StatusCode.INVALID_ARGUMENT, "not a valid OTLP protobuf"),
    ("ingest", bytes(MAX_BODY_BYTES + 1), grpc.StatusCode.INVALID_ARGUMENT, "exceeds the limit"),
    ((), b"\xff\xff\xff not protobuf", grpc.StatusCode.UNAUTHENTICATED, "missing API key"),  # auth comes first
], ids=["unknown-key", "no-key", "basic-auth", "read-key", "short-trace-id", "corrupt", "oversize", "corrupt-no-key"])
def test_bad_exports_get_clear_grpc_codes_and_the_server_keeps_serving(pair, metadata, body, code, says) -> None:
    a, _ = pair
    if isinstance(metadata, str):
        metadata = (("x-api-key", a.http.ingest_key if metadata == "ingest" else a.http.read_key),)
    raw = a.channel.unary_unary(TRACE_EXPORT, request_serializer=lambda b: b,
                                response_deserializer=ExportTraceServiceResponse.FromString)
    with pytest.raises(grpc.RpcError) as caught:
        raw(body if body is not None else _request_with_trace_id(GOOD_TRACE).SerializeToString(),
            metadata=metadata, timeout=30)
    assert caught.value.code() == code
    assert says in caught.value.details()

    assert a.export_traces(_request_with_trace_id(GOOD_TRACE)) == ExportTraceServiceResponse()
    assert len(a.http.wait_for_trace(GOOD_TRACE.hex(), 1)["spans"]) == 1


def test_a_taken_grpc_port_stops_start_up_with_a_message_naming_it(tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(AssertionError) as caught:
            start_collector(tmp_path / "c", args=["--grpc-port", str(port)])
    assert f"port {port} is in use" in str(caught.value) and "FLIGHTLOG_GRPC_PORT" in str(caught.value)


# -- the status mapping, unit level -----------------------------------------------------------

@pytest.mark.parametrize("error, code, retry", [
    (errors.BadRequest("traceId must be 16 bytes"), grpc.StatusCode.INVALID_ARGUMENT, False),
    (errors.PayloadTooLarge("too big"), grpc.StatusCode.INVALID_ARGUMENT, False),
    (errors.UnsupportedMediaType("no"), grpc.StatusCode.INVALID_ARGUMENT, False),
    (errors.Unauthorized("unknown or revoked API key"), grpc.StatusCode.UNAUTHENTICATED, False),
    (errors.Forbidden("read key"), grpc.StatusCode.PERMISSION_DENIED, False),
    (errors.NotFound("no such trace"), grpc.StatusCode.NOT_FOUND, False),
    (errors.TooManyRequests("spool full"), grpc.StatusCode.RESOURCE_EXHAUSTED, True),
    (errors.Unavailable("store down"), grpc.StatusCode.UNAVAILABLE, True),
    (StorageError("connection refused"), grpc.StatusCode.UNAVAILABLE, True),
    (errors.CollectorError("bug"), grpc.StatusCode.INTERNAL, False),
])
def test_collector_errors_map_to_grpc_status_codes(error: Exception, code: grpc.StatusCode, retry: bool) -> None:
    status = grpc_status(error, retry_delay_s=7)
    assert status.code == code
    assert str(error) in status.message
    if retry:
        assert status.retry_info is not None and status.retry_info.retry_delay.seconds == 7
        # the key opentelemetry-exporter-otlp-proto-grpc reads its back-off from
        python_exporter_key = dict(status.trailing_metadata)[RETRY_INFO_KEY]
        assert RetryInfo.FromString(python_exporter_key).retry_delay.seconds == 7
    else:
        assert status.retry_info is None and status.trailing_metadata == ()


def test_a_subclass_of_a_collector_error_maps_like_its_parent() -> None:
    class SpoolFull(errors.TooManyRequests):
        pass

    assert grpc_status(SpoolFull("spool at limit")).code == grpc.StatusCode.RESOURCE_EXHAUSTED


@pytest.mark.parametrize("accepted, rejected", [(5, 0), ((5, 0), 0), ((3, 2), 2)])
def test_rejected_spans_from_the_ingest_path_become_partial_success(accepted, rejected: int) -> None:
    response = trace_response(accepted)
    assert response.partial_success.rejected_spans == rejected
    assert (response == ExportTraceServiceResponse()) == (rejected == 0)
