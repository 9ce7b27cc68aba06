"""The control commands of the CLI (``flightlog approvals|control|policy``) against a real collector:
the exact interface runbooks depend on (docs/control.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import RunningCollector, clean_env, start_collector
from flightlog.policy import arguments_hash


def cli(*args: str, key: str, url: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flightlog.collector.cli", *args, "--url", url, "--key", key],
                          capture_output=True, text=True, env=clean_env(), timeout=120)


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    running = start_collector(tmp_path_factory.mktemp("cli-control"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def approver(collector: RunningCollector) -> str:
    done = subprocess.run([sys.executable, "-m", "flightlog.collector.cli", "keys", "create", "--project", "default",
                           "--role", "engineer", "--name", "Sam Approver", "--permission", "approve",
                           "--url", collector.url, "--admin-key", collector.admin_key],
                          capture_output=True, text=True, env=clean_env(), timeout=120)
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)
    assert created["permissions"] == ["approve"]
    return created["key"]


def _propose(collector: RunningCollector, idem: str, arguments: dict) -> dict:
    resp = httpx.post(collector.url + "/api/approvals", headers={"x-api-key": collector.ingest_key}, timeout=30, json={
        "idempotency_key": idem, "action": "refund order 88123", "tool": "issue_refund", "arguments": arguments,
        "arguments_hash": arguments_hash(arguments), "tier": 3, "agent": "refund-bot", "trace_id": "d4" * 16})
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_list_json_approve_and_reject(collector: RunningCollector, approver: str) -> None:
    first = _propose(collector, "cli-1", {"amount": 4950})
    second = _propose(collector, "cli-2", {"amount": 20})
    listed = cli("approvals", "list", "--json", key=collector.read_key, url=collector.url)
    assert listed.returncode == 0, listed.stderr
    items = {a["id"]: a for a in json.loads(listed.stdout)}
    assert {first["id"], second["id"]} <= set(items)
    assert {"id", "status", "action", "agent", "arguments", "trace_id"} <= set(items[first["id"]])
    assert items[first["id"]]["arguments"] == {"amount": 4950} and items[first["id"]]["status"] == "pending"
    refused = cli("approvals", "approve", first["id"], "--reason", "ok", key=collector.read_key, url=collector.url)
    assert refused.returncode != 0 and "approve permission" in refused.stderr
    done = cli("approvals", "reject", first["id"], "--reason", "4950 is not 49.50", key=approver, url=collector.url)
    assert done.returncode == 0, done.stderr and "rejected" in done.stdout
    edited = cli("approvals", "approve", second["id"], "--reason", "cap it", "--arguments", '{"amount": 19.5}',
                 key=approver, url=collector.url)
    assert edited.returncode == 0, edited.stderr
    shown = json.loads(cli("approvals", "show", second["id"], key=collector.read_key, url=collector.url).stdout)
    assert shown["status"] == "approved" and shown["approver"] == "Sam Approver"
    assert shown["edited_arguments"] == {"amount": 19.5}
    again = cli("approvals", "approve", first["id"], "--reason", "changed my mind", key=approver, url=collector.url)
    assert again.returncode != 0 and "already rejected" in again.stderr


def test_control_pause_and_resume(collector: RunningCollector) -> None:
    paused = cli("control", "pause", "--agent", "refund-bot", "--version", "2.3.0", "--reason", "incident",
                 key=collector.admin_key, url=collector.url)
    assert paused.returncode == 0, paused.stderr
    assert "paused agent refund-bot 2.3.0" in paused.stdout
    status = json.loads(cli("control", "status", key=collector.read_key, url=collector.url).stdout)
    assert [(p["agent"], p["agent_version"]) for p in status["pauses"]] == [("refund-bot", "2.3.0")]
    tool = cli("control", "pause", "--agent", "refund-bot", "--tool", "issue_refund", "--reason", "one tool",
               key=collector.admin_key, url=collector.url)
    assert "tool issue_refund" in tool.stdout
    for args in (["--agent", "refund-bot", "--version", "2.3.0"], ["--agent", "refund-bot", "--tool", "issue_refund"]):
        assert cli("control", "resume", *args, "--reason", "fixed", key=collector.admin_key,
                   url=collector.url).returncode == 0
    assert json.loads(cli("control", "status", key=collector.read_key, url=collector.url).stdout)["pauses"] == []
    denied = cli("control", "pause", "--agent", "x", "--reason", "y", key=collector.read_key, url=collector.url)
    assert denied.returncode != 0 and "403" in denied.stderr


def test_policy_set_from_yaml_and_show(collector: RunningCollector, tmp_path: Path) -> None:
    path = tmp_path / "refund-bot.yaml"
    path.write_text("tools:\n  denied: [delete_account]\nescalations:\n  - tool: issue_refund\n"
                    "    when: amount > 200\n    tier: 3\n")
    stored = cli("policy", "set", "--agent", "refund-bot", str(path), key=collector.admin_key, url=collector.url)
    assert stored.returncode == 0, stored.stderr
    assert "policy refund-bot version" in stored.stdout
    shown = json.loads(cli("policy", "show", "--agent", "refund-bot", key=collector.read_key, url=collector.url).stdout)
    assert shown["policy"]["tools"]["denied"] == ["delete_account"]
    assert shown["policy"]["escalations"] == [{"tool": "issue_refund", "when": "amount > 200", "tier": 3}]
    wrong = tmp_path / "other.yaml"
    wrong.write_text("agent: billing-bot\n")
    mismatch = cli("policy", "set", "--agent", "refund-bot", str(wrong), key=collector.admin_key, url=collector.url)
    assert mismatch.returncode != 0 and "not 'refund-bot'" in mismatch.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("escalations:\n  - when: amount >> 3\n    tier: 3\n")
    invalid = cli("policy", "set", "--agent", "refund-bot", str(bad), key=collector.admin_key, url=collector.url)
    assert invalid.returncode != 0 and "escalations[0].when" in invalid.stderr
