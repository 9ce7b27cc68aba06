"""Helpers for tests that work on a collector's store directly: a script run with the store open
(in a subprocess: the engine takes one process per data directory, so the collector is stopped
first), the audit CLI, and the demo data sent to a running collector."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import RunningCollector, clean_env

CLI = ("import sys, click; from flightlog.collector.cli import audit as cli_audit; g = click.Group();"
       " cli_audit.register(g); g(sys.argv[1:])")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True, text=True, env=clean_env(),
                          timeout=300)


def run_store_script(data_dir: Path, body: str) -> str:
    """Run ``body`` with ``store`` open on the collector's data directory; return its stdout."""
    script = textwrap.dedent("""
        import json, sys
        from flightlog.storage import open_store
        from flightlog.storage.schema import SPAN_COLUMNS
        store = open_store(sys.argv[1])
        try:
        {body}
        finally:
            store.close()
    """).replace("{body}", textwrap.indent(textwrap.dedent(body), "    "))
    done = subprocess.run([sys.executable, "-c", script, f"chdb://{data_dir / 'store'}"], capture_output=True,
                          text=True, env=clean_env(), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def send_demo(collector: RunningCollector) -> None:
    from flightlog.collector import demo

    for request in demo.build_demo_requests():
        resp = collector.post("/v1/traces", request.SerializeToString(), "application/x-protobuf")
        assert resp.status_code == 200, resp.text
    collector.drain()
