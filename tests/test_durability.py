"""No acknowledged span is lost: kill -9 under load, a store outage, backpressure, retries.

The kill test runs ``flightlog serve`` as a subprocess. The outage tests run the collector
app in this process on a loopback port over a real chDB store whose ``insert`` can be made
to fail (the writer seam), and feed it with real OTLP/HTTP requests and exporters.
"""

from __future__ import annotations

import os
import re
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from flightlog.collector.app import create_app
from flightlog.collector.config import Settings
from flightlog.storage import StorageUnavailable, Store
from flightlog.storage.dsn import parse_dsn
from flightlog.storage.migrate import apply_migrations

from conftest import RunningCollector, free_port, start_collector, wait_until

PB = "application/x-protobuf"
SPANS_PER_TRACE = 20


def make_request(n: int, spans: int = SPANS_PER_TRACE, text_bytes: int = 500) -> tuple[str, bytes]:
    """Trace number ``n`` as one OTLP request: a root and ``spans - 1`` LLM children."""
    trace_id = f"{n + 1:032x}"  # never the all-zero id, which OTLP forbids
    req = ExportTraceServiceRequest()
    scope = req.resource_spans.add().scope_spans.add()
    base = 1_790_000_000_000_000_000 + n * 1_000_000_000
    for i in range(spans):
        span = scope.spans.add()
        span.trace_id = bytes.fromhex(trace_id)
        span.span_id = (i + 1).to_bytes(8, "big")
        if i:
            span.parent_span_id = (1).to_bytes(8, "big")
        span.name = "chat gpt-4o-mini" if i else "invoke_agent loadgen"
        span.start_time_unix_nano = base + i * 1000
        span.end_time_unix_nano = base + i * 1000 + 500
        for key, value in (("gen_ai.operation.name", "chat" if i else "invoke_agent"),
                           ("gen_ai.request.model", "gpt-4o-mini"),
                           ("gen_ai.agent.name", "loadgen"),
                           ("flightlog.input", f"request {n} span {i} " + "lorem ipsum " * (text_bytes // 12))):
            span.attributes.append(KeyValue(key=key, value=AnyValue(string_value=value)))
    return trace_id, req.SerializeToString()


def test_kill_9_under_load_loses_no_acknowledged_span(tmp_path: Path) -> None:
    data_dir = tmp_path / "c"
    collector = start_collector(data_dir)
    acked: list[str] = []
    stop = threading.Event()
    counter = iter(range(1_000_000))
    lock = threading.Lock()

    def load() -> None:
        client = httpx.Client(headers={"Content-Type": PB, "x-api-key": collector.ingest_key}, timeout=10)
        while not stop.is_set():
            with lock:
                n = next(counter)
            trace_id, body = make_request(n)
            try:
                resp = client.post(collector.url + "/v1/traces", content=body)
            except httpx.HTTPError:
                return  # the collector is gone: this request was never acknowledged
            if resp.status_code == 200:
                with lock:
                    acked.append(trace_id)

    senders = [threading.Thread(target=load) for _ in range(3)]
    for t in senders:
        t.start()
    wait_until(lambda: len(acked) >= 60, timeout=60, what="60 acknowledged requests")
    os.kill(collector.proc.pid, signal.SIGKILL)
    collector.proc.wait(10)
    stop.set()
    for t in senders:
        t.join(15)

    restarted = start_collector(data_dir)
    try:
        restarted.drain(timeout=60)
        for trace_id in acked:
            spans = restarted.api(f"/api/traces/{trace_id}")["spans"]
            ids = [s["span_id"] for s in spans]
            assert len(ids) == SPANS_PER_TRACE and len(set(ids)) == SPANS_PER_TRACE, trace_id
        total = restarted.api("/api/spans", limit=1)["total"]
        assert total >= len(acked) * SPANS_PER_TRACE
        assert total % SPANS_PER_TRACE == 0, "a stored request is stored whole"
    finally:
        restarted.stop()


class FlakyStore(Store):
    """A real chDB store whose span inserts fail while ``failing`` is set (fault injection)."""

    failing = threading.Event()

    def insert(self, table, rows, columns, **kwargs):  # type: ignore[override]
        if table == "spans" and self.failing.is_set():
            raise StorageUnavailable("injected fault: store refuses writes")
        return super().insert(table, rows, columns, **kwargs)


class InProcessCollector(RunningCollector):
    server: uvicorn.Server
    thread: threading.Thread


@pytest.fixture(scope="module")
def flaky(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[InProcessCollector, FlakyStore]]:
    data_dir = tmp_path_factory.mktemp("flaky")
    port, grpc_port = free_port(), free_port()
    settings = Settings(data_dir=str(data_dir), port=port, grpc_port=grpc_port, max_spool_bytes=400_000,
                        flush_interval_ms=50)
    store = FlakyStore(parse_dsn(settings.dsn))
    apply_migrations(store)
    app = create_app(settings, store=store)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: _ok(url + "/healthz"), timeout=60, what="in-process collector")
    keys = app.state.collector.dev_keys
    collector = InProcessCollector(url=url, data_dir=data_dir, proc=None, log_path=data_dir / "none",  # type: ignore[arg-type]
                                   ingest_key=keys["ingest_key"], read_key=keys["read_key"],
                                   extra={"grpc": f"127.0.0.1:{grpc_port}"})
    yield collector, store
    server.should_exit = True
    thread.join(30)
    store.close()


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_store_outage_is_absorbed_by_the_spool_then_throttled_then_recovered(flaky) -> None:
    collector, store = flaky
    store.failing.set()
    acked, throttled = [], None
    try:
        for n in range(10_000, 10_200):
            trace_id, body = make_request(n, spans=10)
            resp = collector.post("/v1/traces", body, PB)
            if resp.status_code == 200:
                acked.append(trace_id)
            else:
                throttled = resp
                break
        assert acked, "requests are acknowledged while the spool has room"
        assert throttled is not None and throttled.status_code == 429, "a full spool answers 429"
        assert int(throttled.headers["Retry-After"]) > 0
        ready = httpx.get(collector.url + "/readyz")
        assert ready.status_code == 503 and "refuses writes" in " ".join(ready.json()["problems"])
    finally:
        store.failing.clear()
    collector.drain(timeout=60)
    for trace_id in acked:
        assert len(collector.api(f"/api/traces/{trace_id}")["spans"]) == 10
    metrics = collector.get("/metrics").text
    assert "flightlog_write_retries_total" in metrics and 'flightlog_ingest_rejected_requests_total{status="429"}' in metrics
    assert httpx.get(collector.url + "/readyz").status_code == 200


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_the_otlp_exporter_retries_through_a_throttle(flaky, protocol: str) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExportResult
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    collector, store = flaky
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("t").start_as_current_span("retried") as span:
        span.set_attribute("gen_ai.request.model", "gpt-4o")
        trace_id = format(span.get_span_context().trace_id, "032x")

    def throttled_count() -> float:
        text = collector.get("/metrics", drain=False).text
        found = re.search(r'^flightlog_ingest_rejected_requests_total\{status="429"\} (\S+)$', text, re.M)
        return float(found.group(1)) if found else 0.0

    store.failing.set()
    n = 20_000
    for size, text in ((10, 500), (1, 0)):  # fill the spool until even a one-span request is throttled
        while collector.post("/v1/traces", make_request(n, spans=size, text_bytes=text)[1], PB).status_code == 200:
            n += 1
    if protocol == "http":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=collector.url + "/v1/traces",
                                    headers={"x-api-key": collector.ingest_key}, timeout=30)
    else:  # RESOURCE_EXHAUSTED with RetryInfo: the gRPC exporter waits and retries
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        exporter = GrpcExporter(endpoint=collector.extra["grpc"], insecure=True,
                                headers=(("x-api-key", collector.ingest_key),), timeout=30)
    result: list[SpanExportResult] = []
    sender = threading.Thread(target=lambda: result.append(exporter.export(memory.get_finished_spans())))
    before = throttled_count()
    sender.start()
    wait_until(lambda: throttled_count() > before, timeout=30, what="the exporter's first attempt to be throttled")
    store.failing.clear()  # the store recovers while the exporter backs off
    sender.join(60)
    assert result == [SpanExportResult.SUCCESS]
    assert collector.wait_for_trace(trace_id, 1)["spans"][0]["span_name"] == "retried"
