"""A collector under benchmark: started as its own process on a loopback port, measured from /proc.

Shared by bench/load.py and bench/ingest.py.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from flightlog.collector.config import default_ingest_workers

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``): the development VM's host CPU changes between
    days, so figures name it."""
    try:
        return next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown CPU"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM), MB; NaN once it has exited."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return float("nan")
    found = re.search(r"VmHWM:\s+(\d+) kB", text)
    return int(found.group(1)) / 1024 if found else float("nan")


def children(pid: int) -> list[int]:
    """The process's child processes (ingest workers and their helpers)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def family_cpu_seconds(pid: int) -> float:
    """CPU of the process and its live children."""
    total = cpu_seconds(pid)
    for child in children(pid):
        try:
            total += cpu_seconds(child)
        except OSError:
            continue
    return total


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the process, all its threads (engine threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class Collector:
    """``flightlog up --no-ui`` (or ``serve``) with a fresh data directory; stop() ends it."""

    def __init__(self, data_dir: Path, *, command: str = "up", env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("FLIGHTLOG_", "OTEL_"))}
        args = [sys.executable, "-m", "flightlog.collector.cli", command, "--port", str(self.port),
                "--grpc-port", "0", "--data-dir", str(data_dir)]
        if command == "up":
            args.append("--no-ui")
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = data_dir.parent / "collector.log"
        self.proc = subprocess.Popen(args, env={**clean, **(env or {})}, stdout=self.log_path.open("wb"),
                                     stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        self.keys = self._wait_ready(data_dir)
        workers = (env or {}).get("FLIGHTLOG_INGEST_WORKERS")
        self._wait_workers(int(workers) if workers is not None else default_ingest_workers())

    def _wait_workers(self, count: int) -> None:
        """Wait until the collector's ingest workers are up (they start in the background), so a
        load's first requests do not wait for a worker process to spawn."""
        prefix = "flightlog_ingest_workers_ready "
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            lines = self.read("/metrics").text.splitlines()
            if any(line.startswith(prefix) and float(line[len(prefix):]) >= count for line in lines):
                return
            time.sleep(0.1)  # start-up poll with a deadline
        raise SystemExit(f"the collector's {count} ingest workers did not start within 120 s")

    def _wait_ready(self, data_dir: Path) -> dict[str, str]:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"collector exited during start-up; see {self.log_path}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200 and (
                        data_dir / "dev-keys.json").exists():
                    return json.loads((data_dir / "dev-keys.json").read_text())
            except httpx.HTTPError:
                pass
            time.sleep(0.2)  # start-up poll with a deadline
        raise SystemExit("collector did not start within 120 s")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def read(self, path: str, **params: object) -> httpx.Response:
        return httpx.get(self.url + path, params=params, timeout=60,  # type: ignore[arg-type]
                         headers={"Authorization": f"Bearer {self.keys['read_key']}"})

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)
