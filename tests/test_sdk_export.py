"""Tests for the flightlog SDK's export path: the real OTLP/HTTP exporter against a loopback
receiver, a collector that is down, and exporters that fail or raise.

The rule under test: export problems never reach or slow down agent code; they are logged once.
"""

from __future__ import annotations

import http.server
import logging
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

import flightlog


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith(("FLIGHTLOG_", "OTEL_")):
            monkeypatch.delenv(name)
    yield
    flightlog.shutdown(timeout_s=2)


class _Receiver(http.server.BaseHTTPRequestHandler):
    requests: list = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.requests.append((self.path, dict(self.headers), body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()
        self.wfile.write(b"")

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    """A minimal OTLP/HTTP receiver on a loopback port that keeps what it is sent."""
    handler = type("Handler", (_Receiver,), {"requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler.requests
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def received_spans(requests):
    spans = []
    for _, _, body in requests:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                spans.extend(scope_spans.spans)
    return spans


def test_otlp_export_sends_every_span_with_the_bearer_key(receiver):
    url, requests = receiver
    flightlog.init(endpoint=url, api_key="fl-key", tracer_provider=TracerProvider())
    for _ in range(20):
        with flightlog.agent_run("bot"):
            with flightlog.llm_call("m"):
                pass
    assert flightlog.flush(timeout_s=10)
    assert len(received_spans(requests)) == 40
    path, headers, _ = requests[0]
    assert path == "/v1/traces"
    assert {k.lower(): v for k, v in headers.items()}["authorization"] == "Bearer fl-key"
    assert flightlog.exporter_stats() == {"exported_spans": 40, "failed_spans": 0, "dropped_spans": 0}


def test_otlp_export_uses_flightlog_env(receiver, monkeypatch):
    url, requests = receiver
    monkeypatch.setenv("FLIGHTLOG_ENDPOINT", url)
    monkeypatch.setenv("FLIGHTLOG_API_KEY", "env-key")
    monkeypatch.setenv("FLIGHTLOG_PROJECT", "acme")
    flightlog.init(tracer_provider=TracerProvider())
    with flightlog.tool_call("t"):
        pass
    assert flightlog.flush(timeout_s=10)
    (span,) = received_spans(requests)
    attributes = {a.key: a.value.string_value for a in span.attributes}
    assert attributes["flightlog.project"] == "acme"
    assert {k.lower(): v for k, v in requests[0][1].items()}["authorization"] == "Bearer env-key"


def test_collector_down_does_not_slow_the_agent_and_flush_returns(closed_port):
    flightlog.init(endpoint=f"http://127.0.0.1:{closed_port}", tracer_provider=TracerProvider())

    @flightlog.agent_run("bot")
    def agent(n):
        for i in range(n):
            with flightlog.llm_call("m") as call:
                call.set_output(f"answer {i}")
        return "done"

    started = time.monotonic()
    assert agent(200) == "done"
    assert time.monotonic() - started < 1.0

    started = time.monotonic()
    assert flightlog.flush(timeout_s=1.0) is False
    assert time.monotonic() - started < 2.0

    started = time.monotonic()
    flightlog.shutdown(timeout_s=1.0)
    assert time.monotonic() - started < 3.0


class _FailingExporter(SpanExporter):
    def __init__(self, raises: bool):
        self.raises = raises
        self.calls = 0

    def export(self, spans):
        self.calls += 1
        if self.raises:
            raise ConnectionError("collector exploded")
        return SpanExportResult.FAILURE

    def shutdown(self):
        pass


@pytest.mark.parametrize("raises", [False, True])
def test_failing_exporter_is_logged_once_and_never_raises(caplog, raises):
    exporter = _FailingExporter(raises)
    flightlog.init(tracer_provider=TracerProvider(), exporter=exporter, batch=False)
    with caplog.at_level(logging.WARNING, logger="flightlog"):
        for _ in range(5):
            with flightlog.tool_call("t"):
                pass
    assert exporter.calls == 5
    # (only this exporter's warnings: a worker thread of an earlier test may still be logging)
    warnings = [r for r in caplog.records if r.name == "flightlog" and "export to exporter" in r.getMessage()]
    assert len(warnings) == 1
    assert flightlog.exporter_stats()["failed_spans"] == 5


def test_bounded_queue_drops_instead_of_growing(closed_port):
    flightlog.init(endpoint=f"http://127.0.0.1:{closed_port}", tracer_provider=TracerProvider(),
                   max_queue_size=8)
    for _ in range(500):
        with flightlog.tool_call("t"):
            pass
    stats = flightlog.exporter_stats()
    # 500 spans into an 8-slot queue whose worker is stuck retrying: most must be dropped.
    assert stats["dropped_spans"] >= 500 - 8 - 8


def test_short_script_loses_nothing_at_exit_without_flush(receiver):
    url, requests = receiver
    script = (
        "import flightlog\n"
        f"flightlog.init(endpoint={url!r})\n"
        "for i in range(3):\n"
        "    with flightlog.agent_run('bot'):\n"
        "        pass\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLIGHTLOG_", "OTEL_"))}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert len(received_spans(requests)) == 3
