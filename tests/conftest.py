"""Shared fixtures: real collectors on loopback ports, each with its own embedded store.

Every collector under test is a subprocess (``flightlog serve``) with a temporary data
directory, so tests cross the real wire and chDB's one-process-per-directory rule holds
(DESIGN §7). Waiting is always a poll with a deadline.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "otlp"
if not FIXTURES.exists():  # CI clones main next to a copy of shared/
    FIXTURES = Path(os.environ.get("FLIGHTLOG_FIXTURES", "/work/shared/fixtures/otlp"))
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
    extra: dict[str, Any] = field(default_factory=dict)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def get(self, path: str, *, key: str | None = None, **params: Any) -> httpx.Response:
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


def start_collector(data_dir: Path, *, env: dict[str, str] | None = None, args: list[str] | None = None) -> RunningCollector:
    """Start ``flightlog serve`` on a free loopback port and wait until it answers."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = data_dir / "collector.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "flightlog.collector.cli", "serve", "--host", "127.0.0.1",
         "--port", str(port), "--data-dir", str(data_dir), *(args or [])],
        env={**clean_env(), **(env or {})},
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
    if keys_file.exists():
        keys = json.loads(keys_file.read_text())
        collector.ingest_key, collector.read_key = keys["ingest_key"], keys["read_key"]
    return collector


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[RunningCollector]:
    """A fresh collector with an empty embedded store, stopped after the test."""
    running = start_collector(tmp_path / "collector")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def shared_collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    """One collector for a whole test module (tests must use their own trace ids)."""
    running = start_collector(tmp_path_factory.mktemp("shared-collector"))
    yield running
    running.stop()


def fixture_bytes(name: str) -> bytes:
    """A captured OTLP request from ../shared/fixtures/otlp/."""
    path = FIXTURES / name
    if not path.exists():
        pytest.fail(f"fixture {path} is missing: the shared fixtures must sit beside the checkout")
    return path.read_bytes()
