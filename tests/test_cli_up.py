"""``flightlog up``: the newcomer's command starts everything, loads the demo and stops on Ctrl-C."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys

import httpx
import pytest

from conftest import START_TIMEOUT_S, clean_env, free_port, wait_until


def test_up_with_demo_serves_the_incident_and_stops_cleanly_on_ctrl_c(tmp_path) -> None:
    port, ui_port = free_port(), free_port()
    data_dir = tmp_path / "data"
    log_path = tmp_path / "up.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "flightlog.collector.cli", "up", "--demo", "--port", str(port),
         "--ui-port", str(ui_port), "--grpc-port", "0"],
        env={**clean_env(), "FLIGHTLOG_DATA_DIR": str(data_dir), "HOME": str(tmp_path)},
        stdout=log_path.open("wb"), stderr=subprocess.STDOUT,
    )
    try:
        def running() -> bool:
            assert proc.poll() is None, log_path.read_text()
            return "Press Ctrl-C to stop." in log_path.read_text()

        wait_until(running, timeout=START_TIMEOUT_S * 2, what="flightlog up to print its banner")
        out = log_path.read_text()
        read_key = re.search(r"Read key:\s+(\S+)", out).group(1)
        ingest_key = re.search(r"Ingest key:\s+(\S+)", out).group(1)
        assert f"http://127.0.0.1:{port}/v1/traces" in out and f"http://127.0.0.1:{ui_port}" in out
        admin_key = re.search(r"Admin key:\s+(\S+)", out).group(1)
        assert json.loads((data_dir / "dev-keys.json").read_text()) == {
            "project": "default", "ingest_key": ingest_key, "read_key": read_key, "admin_key": admin_key}
        assert (data_dir / "store").is_dir()

        found = httpx.get(f"http://127.0.0.1:{port}/api/spans", params={"q": "overdraft"},
                          headers={"Authorization": f"Bearer {read_key}"}).json()
        assert found["total"] >= 1
        assert {i["trace_id"] for i in found["items"]} == {"6e2b9c4f1a8d4d07b3e5f0c288123f49"}
        # The control loop is in the demo: the incident's refund waits in the inbox, an earlier one
        # was decided by a named person, one expired, and the incident's agent version is paused.
        approvals = httpx.get(f"http://127.0.0.1:{port}/api/approvals",
                              headers={"Authorization": f"Bearer {read_key}"}).json()["items"]
        by_status = {a["status"]: a for a in approvals}
        assert sorted(by_status) == ["approved", "expired", "pending"]
        assert by_status["pending"]["arguments"]["amount"] == 4950
        assert by_status["pending"]["trace_id"] == "6e2b9c4f1a8d4d07b3e5f0c288123f49"
        assert by_status["approved"]["approver"] == "Priya Shah (support lead)"
        state = httpx.get(f"http://127.0.0.1:{port}/api/control/state",
                          headers={"Authorization": f"Bearer {read_key}"}).json()
        assert [(p["agent"], p["agent_version"]) for p in state["pauses"]] == [("refund-bot", "2.3.0")]
        assert [p["id"] for p in state["policies"]] == ["refund-bot"]
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{ui_port}/_stcore/health").status_code == 200,
                   timeout=START_TIMEOUT_S, what="the UI to answer")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0, log_path.read_text()[-2000:]
    assert "Stopped." in log_path.read_text()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{ui_port}/_stcore/health")


def _up_banner(data_dir, log_path) -> str:
    """Start ``flightlog up --no-ui`` on ``data_dir``, return its banner, stop it with Ctrl-C."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "flightlog.collector.cli", "up", "--no-ui", "--port", str(port), "--grpc-port", "0"],
        env={**clean_env(), "FLIGHTLOG_DATA_DIR": str(data_dir), "HOME": str(log_path.parent)},
        stdout=log_path.open("wb"), stderr=subprocess.STDOUT,
    )
    try:
        def running() -> bool:
            assert proc.poll() is None, log_path.read_text()
            return "Press Ctrl-C to stop." in log_path.read_text()

        wait_until(running, timeout=START_TIMEOUT_S * 2, what="flightlog up to print its banner")
        return log_path.read_text()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_the_first_keys_are_shown_once_then_where_they_are(tmp_path) -> None:
    data_dir = tmp_path / "data"
    first = _up_banner(data_dir, tmp_path / "first.log")
    keys = json.loads((data_dir / "dev-keys.json").read_text())
    assert keys["read_key"] in first and "shown once" in first
    second = _up_banner(data_dir, tmp_path / "second.log")
    assert all(keys[k] not in second for k in ("ingest_key", "read_key", "admin_key")), second
    assert f"the secrets are in {data_dir / 'dev-keys.json'}" in second


def test_ctrl_c_stops_up_started_in_the_background_by_a_shell(tmp_path) -> None:
    """A shell starts a background job with SIGINT ignored (``flightlog up &``, a CI script);
    Ctrl-C (SIGINT) must still stop it cleanly."""
    port, log_path = free_port(), tmp_path / "up.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "flightlog.collector.cli", "up", "--no-ui", "--port", str(port), "--grpc-port", "0"],
        env={**clean_env(), "FLIGHTLOG_DATA_DIR": str(tmp_path / "data"), "HOME": str(tmp_path)},
        stdout=log_path.open("wb"), stderr=subprocess.STDOUT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # what the shell does
    )
    try:
        wait_until(lambda: "Press Ctrl-C to stop." in log_path.read_text(), timeout=START_TIMEOUT_S * 2,
                   what="flightlog up to print its banner")
        proc.send_signal(signal.SIGINT)
        code = proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0 and "Stopped." in log_path.read_text(), log_path.read_text()[-2000:]
