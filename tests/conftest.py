"""Shared fixtures: real collectors on loopback ports, each with its own embedded store.

Every collector under test is a subprocess (``flightlog serve``) with a temporary data
directory, so tests cross the real wire and chDB's one-process-per-directory rule holds
(docs/decisions/0001-the-collector-owns-the-store.md). Waiting is always a poll with a deadline.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.no_skips import pytest_runtest_makereport  # noqa: F401 (the hook: a skipped test fails)

#: OTLP requests captured from real instrumentation libraries (tests/fixtures/capture/ regenerates them).
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "otlp"
START_TIMEOUT_S = 90.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.1, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)  # polling interval inside a deadline loop
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


def clean_env() -> dict[str, str]:
    """The environment without any FLIGHTLOG_/OTEL_ settings of the developer's shell."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("FLIGHTLOG_", "OTEL_"))}


@dataclass
class RunningCollector:
    """A ``flightlog serve`` subprocess and the keys it created on first start."""

    url: str
    data_dir: Path
    proc: subprocess.Popen
    log_path: Path
    ingest_key: str = ""
    read_key: str = ""
    admin_key: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def drain(self, timeout: float = 30.0) -> None:
        """Wait until every acknowledged span has left the spool for the store."""

        def empty() -> bool:
            resp = httpx.get(self.url + "/metrics", headers={"Authorization": f"Bearer {self.read_key}"}, timeout=10)
            assert resp.status_code == 200, resp.text
            values = dict(re.findall(r"^(flightlog_spool_(?:rows|segments)) (\S+)$", resp.text, re.M))
            return float(values["flightlog_spool_rows"]) == 0 and float(values["flightlog_spool_segments"]) == 0

        wait_until(empty, timeout=timeout, interval=0.05, what="the spool to drain into the store")

    def get(self, path: str, *, key: str | None = None, drain: bool = True, **params: Any) -> httpx.Response:
        """A read-API GET; by default it first waits for acknowledged spans to be stored."""
        if drain and self.read_key:
            self.drain()
        key = self.read_key if key is None else key
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.get(self.url + path, params=params, headers=headers, timeout=30)

    def api(self, path: str, **params: Any) -> Any:
        resp = self.get(path, **params)
        assert resp.status_code == 200, f"{path} → {resp.status_code}: {resp.text[:500]}"
        return resp.json()

    def post(self, path: str, body: bytes, content_type: str, *, key: str | None = None,
             headers: dict[str, str] | None = None) -> httpx.Response:
        hdrs = {"Content-Type": content_type, "x-api-key": self.ingest_key if key is None else key}
        hdrs.update(headers or {})
        return httpx.post(self.url + path, content=body, headers=hdrs, timeout=30)

    def wait_for_trace(self, trace_id: str, spans: int, timeout: float = 30.0) -> dict[str, Any]:
        def check() -> Any:
            resp = self.get(f"/api/traces/{trace_id}")
            if resp.status_code == 200 and len(resp.json()["spans"]) >= spans:
                return resp.json()
            return None

        return wait_until(check, timeout=timeout, what=f"{spans} spans of trace {trace_id}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


STRICT_RESPONSES = {"FLIGHTLOG_STRICT_RESPONSES": "1"}
"""Every collector the tests start checks each JSON answer against its documented model
(``collector/contract.py``): a drift between storage and models fails whichever test sees it."""


def copy_data_dir(source: Path, target: Path) -> Path:
    """A copy of a stopped collector's data directory (or of a store): the engine links its tables
    by relative paths, which are kept as links, so the copy opens on its own."""
    return Path(shutil.copytree(source, target, symlinks=True))


_MIGRATED: list[Path] = []


def migrated_store() -> Path:
    """An embedded store the migrations have run on, made once per test process (in a
    subprocess: the engine takes one data path per process) and copied into the data directory of
    each new collector instead of migrating it again (~0.7 s of a ~3.8 s start). Only the store: keys, the
    collector's instance id and its anchor key are made by each collector as on a new machine.
    A collector given a DSN, or a directory that holds a store already, gets no copy; the
    migrations themselves run from scratch in tests/test_storage.py and wherever a test opens a
    new store itself."""
    if not _MIGRATED:
        root = tempfile.mkdtemp(prefix="flightlog-migrated-")
        atexit.register(shutil.rmtree, root, True)
        store = Path(root) / "store"
        subprocess.run([sys.executable, "-c", "import sys; from flightlog.storage import open_store;"
                        " open_store('chdb://' + sys.argv[1]).close()", str(store)],
                       check=True, env=clean_env(), timeout=300, capture_output=True)
        _MIGRATED.append(store)
    return _MIGRATED[0]


def start_collector(data_dir: Path, *, env: dict[str, str] | None = None, args: list[str] | None = None,
                    wait_for_keys: bool = True, port: int | None = None) -> RunningCollector:
    """Start ``flightlog serve`` on a free loopback port (or ``port``: a restart at the same
    address) and wait until it answers (strict answers; unless ``wait_for_keys`` is off, also
    until its first keys exist: a server store connects in the background, so they may come
    after the first answer)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    dsn_given = "FLIGHTLOG_DSN" in (env or {}) or any(a.split("=")[0] == "--dsn" for a in args or [])
    if not dsn_given and not (data_dir / "store").exists():
        copy_data_dir(migrated_store(), data_dir / "store")
    port = port or free_port()
    log_path = data_dir / "collector.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "flightlog.collector.cli", "serve", "--host", "127.0.0.1",
         "--port", str(port), "--data-dir", str(data_dir), "--grpc-port", "0", *(args or [])],
        env={**clean_env(), **STRICT_RESPONSES, **(env or {})},
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )
    collector = RunningCollector(url=f"http://127.0.0.1:{port}", data_dir=data_dir, proc=proc, log_path=log_path)

    def healthy() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"collector exited with {proc.returncode}:\n{collector.log()}")
        try:
            return httpx.get(collector.url + "/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(healthy, timeout=START_TIMEOUT_S, what="collector /healthz")
    keys_file = data_dir / "dev-keys.json"
    if wait_for_keys:  # a server store connects in the background: its first keys come with it
        wait_until(keys_file.exists, timeout=START_TIMEOUT_S, what=f"{keys_file}")
    if keys_file.exists():
        keys = json.loads(keys_file.read_text())
        collector.ingest_key, collector.read_key = keys["ingest_key"], keys["read_key"]
        collector.admin_key = keys.get("admin_key", "")
    return collector


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[RunningCollector]:
    """A fresh collector with an empty embedded store, stopped after the test."""
    running = start_collector(tmp_path / "collector")
    yield running
    running.stop()


@pytest.fixture
def exporter() -> Iterator[Any]:
    """flightlog initialised to export synchronously into an in-memory exporter (project "acme")."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import flightlog

    exp = InMemorySpanExporter()
    flightlog.init(tracer_provider=TracerProvider(), exporter=exp, batch=False, project="acme")
    yield exp
    flightlog.shutdown()


@pytest.fixture(scope="module")
def shared_collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    """One collector for a whole test module (tests must use their own trace ids)."""
    running = start_collector(tmp_path_factory.mktemp("shared-collector"))
    yield running
    running.stop()


def error_message(resp: httpx.Response) -> str:
    """The message of an error answer: a google.rpc.Status for protobuf requests, else JSON."""
    if resp.headers.get("content-type", "").startswith("application/x-protobuf"):
        from google.rpc.status_pb2 import Status

        status = Status()
        status.ParseFromString(resp.content)
        return status.message
    return resp.json()["error"]


def fixture_bytes(name: str) -> bytes:
    """A captured OTLP request from tests/fixtures/otlp/."""
    path = FIXTURES / name
    if not path.exists():
        pytest.fail(f"fixture {path} is missing: regenerate it with tests/fixtures/capture/capture.py")
    return path.read_bytes()


def fixture_trace_id(name: str) -> str:
    """The trace id of a captured one-trace fixture (``<name>.pb``), as hex."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest.FromString(fixture_bytes(f"{name}.pb"))
    return request.resource_spans[0].scope_spans[0].spans[0].trace_id.hex()


HTML_TEXT = "<script>alert(1)</script><b>bold</b> quokka"


@dataclass
class SeededStack:
    """A collector loaded with the demo traces plus one trace whose text is hostile HTML."""

    collector: RunningCollector
    api_url: str
    read_key: str
    ingest_key: str
    search_word: str
    trace_id: str  # the HTML trace
    incident_trace_id: str
    incident_prompt_version: str


def _send_html_trace(collector: RunningCollector) -> str:
    """One agent run whose LLM span carries HTML, exported with the real OTLP/HTTP exporter."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "html-bot"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(
        endpoint=f"{collector.url}/v1/traces", headers={"x-api-key": collector.ingest_key})))
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span("invoke_agent html-bot") as root:
        root.set_attributes({"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "html-bot"})
        with tracer.start_as_current_span("chat gpt-4o-mini") as llm:
            llm.set_attributes({
                "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5,
                "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": HTML_TEXT}]}]),
                "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": HTML_TEXT}]}]),
            })
        trace_id = format(root.get_span_context().trace_id, "032x")
    provider.shutdown()
    return trace_id


@pytest.fixture(scope="session")
def seeded_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeededStack]:
    """One collector for the session with the demo data (sent over OTLP/HTTP) and an HTML trace."""
    from flightlog.collector import demo

    running = start_collector(tmp_path_factory.mktemp("seeded"))
    for request in demo.build_demo_requests():
        resp = running.post("/v1/traces", request.SerializeToString(), "application/x-protobuf")
        assert resp.status_code == 200, resp.text
    trace_id = _send_html_trace(running)
    running.wait_for_trace(trace_id, 2)
    yield SeededStack(
        collector=running, api_url=running.url, read_key=running.read_key, ingest_key=running.ingest_key,
        search_word=demo.INCIDENT_SEARCH_WORD, trace_id=trace_id,
        incident_trace_id=demo.INCIDENT_TRACE_ID, incident_prompt_version=demo.INCIDENT_PROMPT_VERSION,
    )
    running.stop()


@dataclass
class RunningUI:
    url: str
    proc: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def start_ui(api_url: str, read_key: str, log_dir: Path) -> Iterator[RunningUI]:
    """The UI (``flightlog up``'s Streamlit command) on a free loopback port, reading ``api_url``
    with ``read_key``; healthy when entered, stopped on exit. Its log is ``log_dir/streamlit.log``."""
    from flightlog.collector.cli.main import _ui_command

    port = free_port()
    log_path = log_dir / "streamlit.log"
    env = {**clean_env(), "FLIGHTLOG_API_URL": api_url, "FLIGHTLOG_API_KEY": read_key, "HOME": str(log_dir)}
    proc = subprocess.Popen(_ui_command("127.0.0.1", port), env=env, stdout=log_path.open("wb"),
                            stderr=subprocess.STDOUT)
    ui = RunningUI(url=f"http://127.0.0.1:{port}", proc=proc, log_path=log_path)

    def healthy() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"streamlit exited: {ui.log()[-3000:]}")
        try:
            return httpx.get(f"{ui.url}/_stcore/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(healthy, timeout=START_TIMEOUT_S, what="streamlit /_stcore/health")
        yield ui
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()



@pytest.fixture(scope="session")
def ui_server(seeded_stack: SeededStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningUI]:
    """Streamlit on a free loopback port, reading the seeded collector."""
    with start_ui(seeded_stack.api_url, seeded_stack.read_key, tmp_path_factory.mktemp("ui")) as ui:
        yield ui
