"""Start, stop, kill and restart the ClickHouse HTTP harness (:mod:`.clickhouse_http`) from a test.

The harness is a subprocess that owns its chDB data directory, so a test process may open
other chDB stores of its own and the harness can be killed with SIGKILL and started again
on the same directory::

    from support.harness import start_harness, running_harness

    with running_harness(tmp_path / "ch") as ch:       # started, /ping answered
        client = ch.client()                           # clickhouse_connect HttpClient
        store = open_store(ch.dsn("flightlog"))        # http://user:pass@127.0.0.1:PORT/flightlog
        ch.kill()                                      # SIGKILL, no clean shutdown
        ch.start()                                     # same data dir, same port
    # leaving the block stops it: SIGTERM, then SIGKILL after a grace period

Waiting is a ``/ping`` poll with a deadline; a harness that exits while starting fails
the wait at once with the end of its log.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
DEFAULT_USER = "flightlog"
DEFAULT_PASSWORD = "harness-pw"


class Harness:
    """One harness process on one data directory (restartable)."""

    def __init__(self, data_dir: Path | str, *, user: str = DEFAULT_USER, password: str = DEFAULT_PASSWORD,
                 host: str = "127.0.0.1", port: int = 0, timezone: str | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.timezone = timezone  # the server's timezone (TZ of the process); None = inherited
        self.user, self.password, self.host = user, password, host
        self.port = port  # 0 until first started; restarts reuse the bound port
        self.proc: subprocess.Popen | None = None
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.harness.log"
        self.starts = 0

    # -- addresses ----------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def dsn(self, database: str = "flightlog") -> str:
        """A Flightlog storage DSN for this harness."""
        return f"http://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    def client(self, **kwargs: Any) -> Any:
        """A clickhouse-connect HTTP client logged in as the harness user."""
        import clickhouse_connect

        options: dict[str, Any] = {"host": self.host, "port": self.port, "username": self.user,
                                   "password": self.password}
        options.update(kwargs)
        return clickhouse_connect.get_client(**options)

    # -- lifecycle ----------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self, tail: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except FileNotFoundError:
            return ""

    def ping(self, timeout: float = 2.0) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=timeout) as resp:
                return resp.status == 200 and resp.read() == b"Ok.\n"
        except (urllib.error.URLError, OSError):
            return False

    def start(self, timeout: float = START_TIMEOUT_S) -> "Harness":
        """Start the process (on the previous port after the first start) and wait for /ping."""
        if self.running:
            raise RuntimeError("harness already running")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        port_file = self.data_dir.parent / f"{self.data_dir.name}.harness.port"
        port_file.unlink(missing_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FLIGHTLOG_", "OTEL_"))}
        env["CLICKHOUSE_HARNESS_PASSWORD"] = self.password  # not on the command line
        if self.timezone:
            env["TZ"] = self.timezone
        with self.log_path.open("ab") as log_file:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.support.clickhouse_http", "--data-dir", str(self.data_dir),
                 "--host", self.host, "--port", str(self.port), "--port-file", str(port_file),
                 "--user", self.user],
                cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT)
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"harness exited with {self.proc.returncode} while starting:\n{self.log()}")
            if port_file.exists():
                self.port = int(port_file.read_text())
                if self.ping():
                    return self
            time.sleep(0.05)  # polling interval inside a deadline loop
        self.kill()
        raise TimeoutError(f"harness did not answer /ping within {timeout}s:\n{self.log()}")

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout``; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT_S)
        return self.proc.returncode

    def kill(self) -> int | None:
        """SIGKILL: the process gets no chance to clean up."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT_S)
        return self.proc.returncode

    def restart(self, *, hard: bool = False, timeout: float = START_TIMEOUT_S) -> "Harness":
        """Stop (or with ``hard=True`` SIGKILL) and start again on the same data dir and port."""
        if hard:
            self.kill()
        else:
            self.stop()
        return self.start(timeout)

    def __enter__(self) -> "Harness":
        if not self.running:
            self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def start_harness(data_dir: Path | str, **kwargs: Any) -> Harness:
    """A started harness on ``data_dir`` (see :class:`Harness` for the options)."""
    return Harness(data_dir, **kwargs).start()


def harness_fixture(scope: str = "module", **kwargs: Any) -> Any:
    """A pytest fixture giving a started harness on a fresh temporary directory::

        ch = harness_fixture()            # at module level; tests then take `ch`
    """
    import pytest

    @pytest.fixture(scope=scope)
    def _harness(tmp_path_factory: Any) -> Iterator[Harness]:
        harness = start_harness(tmp_path_factory.mktemp("clickhouse-http") / "data", **kwargs)
        try:
            yield harness
        finally:
            harness.stop()

    return _harness


@contextmanager
def running_harness(data_dir: Path | str, **kwargs: Any) -> Iterator[Harness]:
    """``with running_harness(dir) as ch:`` — started on entry, stopped on exit."""
    harness = start_harness(data_dir, **kwargs)
    try:
        yield harness
    finally:
        harness.stop()
