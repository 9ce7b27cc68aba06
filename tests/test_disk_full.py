"""A collector whose data directory's filesystem fills up (a small tmpfs, mounted as root):
ingest answers 503 + Retry-After with the usual error body, /readyz says why, and after
kill -9, growing the filesystem and a restart, every acknowledged span is stored once and the
chain verifies. Without a restart, ingest resumes by itself once there is room.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import start_collector
from test_durability import PB, SPANS_PER_TRACE, make_request

TEXT_BYTES = 8000


def incompressible_request(n: int) -> tuple[str, bytes]:
    """Trace ``n`` with random text, so the store's compressed parts fill the disk as well."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    trace_id, body = make_request(n, text_bytes=0)
    request = ExportTraceServiceRequest.FromString(body)
    for span in request.resource_spans[0].scope_spans[0].spans:
        for attr in span.attributes:
            if attr.key == "flightlog.input":
                attr.value.string_value += " " + base64.b64encode(os.urandom(TEXT_BYTES * 3 // 4)).decode()
    return trace_id, request.SerializeToString()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[tuple[Path, object]]:
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.fail("this test mounts a small tmpfs and needs root (as CI and this machine run); "
                    "tests/test_spool_faults.py covers the same paths with injected write failures")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)], check=True)

    def grow(size: str) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size}", str(mount)], check=True)

    try:
        yield mount, grow
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(collector, first: int, *, until_refused: int) -> tuple[list[str], list[httpx.Response]]:
    acked, refused = [], []
    n = first
    while len(refused) < until_refused and n < first + 20_000:
        trace_id, body = incompressible_request(n)
        resp = collector.post("/v1/traces", body, PB)
        if resp.status_code == 200:
            acked.append(trace_id)
        else:
            refused.append(resp)
        n += 1
    return acked, refused


@pytest.mark.parametrize("reserve", ["0", str(4 * 1024 * 1024)], ids=["real-enospc", "reserve"])
def test_a_full_disk_refuses_with_503_and_loses_nothing_acknowledged(small_disk, reserve: str) -> None:
    mount, grow = small_disk
    env = {"FLIGHTLOG_MIN_FREE_DISK_BYTES": reserve, "FLIGHTLOG_FLUSH_INTERVAL_MS": "100"}
    collector = start_collector(mount / "c", env=env)
    acked, refused = _fill(collector, 0, until_refused=5)
    assert acked and refused, "the disk filled while the collector kept answering"
    for resp in refused:
        assert resp.status_code == 503, resp.text
        assert int(resp.headers["Retry-After"]) > 0
        assert "retry later" in resp.text or "shutting down" in resp.text
    ready = httpx.get(collector.url + "/readyz", timeout=10)
    assert ready.status_code == 503
    problems = " ".join(ready.json()["problems"])
    assert "disk" in problems or "space" in problems or "store" in problems, problems
    os.kill(collector.proc.pid, signal.SIGKILL)
    collector.proc.wait(10)

    grow("1g")
    again = start_collector(mount / "c", env=env)
    try:
        trace_id, body = incompressible_request(60_000)
        assert again.post("/v1/traces", body, PB).status_code == 200, "room again: ingest goes on"
        again.drain(timeout=120)
        for acked_trace in [*acked, trace_id]:
            ids = [s["span_id"] for s in again.api(f"/api/traces/{acked_trace}")["spans"]]
            assert len(ids) == SPANS_PER_TRACE == len(set(ids)), acked_trace
        report = again.get("/api/audit/verify", key=again.admin_key).json()
        assert report["ok"], report["summary"]
    finally:
        again.stop()


def test_ingest_resumes_by_itself_when_space_comes_back(small_disk) -> None:
    mount, grow = small_disk
    collector = start_collector(mount / "c", env={"FLIGHTLOG_MIN_FREE_DISK_BYTES": str(4 * 1024 * 1024)})
    try:
        acked, refused = _fill(collector, 0, until_refused=2)
        assert refused
        grow("1g")
        trace_id, body = incompressible_request(70_000)
        resp = collector.post("/v1/traces", body, PB)
        assert resp.status_code == 200, resp.text
        collector.drain(timeout=120)
        assert len(collector.api(f"/api/traces/{trace_id}")["spans"]) == SPANS_PER_TRACE
        assert httpx.get(collector.url + "/readyz", timeout=10).status_code == 200
    finally:
        collector.stop()
