"""Signed chain heads outside the store (flightlog.collector.audit.anchors): the collector anchors
its heads, ``flightlog verify --anchors`` checks them, and a chain rewritten consistently inside
the store — invisible to the store alone — is reported at its first divergence.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from conftest import clean_env, copy_data_dir, start_collector, wait_until
from flightlog.collector.audit.anchors import check_anchors, public_key_text, sign, signature_ok
from support.stores import run_cli, run_store_script, send_demo


def test_a_signed_anchor_verifies_and_any_change_breaks_it() -> None:
    key = Ed25519PrivateKey.generate()
    record = sign(key, "default", 7, "ab" * 32)
    assert signature_ok(record)
    assert signature_ok(record, public_key_text(key.public_key()))
    assert not signature_ok({**record, "seq": 8})
    assert not signature_ok({**record, "hash": "cd" * 32})
    other = public_key_text(Ed25519PrivateKey.generate().public_key())
    assert not signature_ok(record, other), "a pinned key refuses anchors signed by another"


def test_check_anchors_reports_the_first_divergence_and_a_truncated_chain() -> None:
    key = Ed25519PrivateKey.generate()
    records = [(1, sign(key, "p", 2, "h2")), (2, sign(key, "p", 5, "h5")), (3, sign(key, "p", 9, "h9"))]
    ok = check_anchors(records, "p", {2: "h2", 5: "h5", 9: "h9"}, 9)
    assert ok.ok and ok.checked == 3
    bad = check_anchors(records, "p", {2: "h2", 5: "XX", 9: "YY"}, 9)
    assert not bad.ok and bad.first_divergence["seq"] == 5
    short = check_anchors(records, "p", {2: "h2", 5: "h5"}, 5)
    assert not short.ok and short.missing_after_head["seq"] == 9


@pytest.fixture(scope="module")
def anchored_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stopped collector's data directory: the demo, chained, its head anchored (once per module)."""
    running = start_collector(tmp_path_factory.mktemp("anchored") / "collector", env={"FLIGHTLOG_ANCHOR_INTERVAL_S": "1"})
    try:
        send_demo(running)
        head = running.get("/api/audit/chain", key=running.admin_key).json()["head"]
        sink = running.data_dir / "anchors.jsonl"

        def anchored_head() -> bool:
            lines = sink.read_text().splitlines() if sink.exists() else []
            return any(json.loads(line)["seq"] == head["seq"] for line in lines)

        wait_until(anchored_head, timeout=60, what="the chain head to be anchored")
    finally:
        running.stop()
    return running.data_dir


@pytest.fixture
def anchored(anchored_store: Path, tmp_path: Path) -> Path:
    """A copy of that data directory for one test."""
    return copy_data_dir(anchored_store, tmp_path / "collector")


REWRITE = """
    # An attacker with write access to the store edits a span, then rewrites its chain entry, the
    # batch id and every later link so that the chain is consistent again.
    from flightlog.collector.audit.chain import batch_id, link_hash, span_hash
    from flightlog.storage import audit as db
    seq, trace, span = store.query_rows("SELECT Seq, TraceId, SpanId FROM chain_spans WHERE Project = 'default'"
                                        " ORDER BY Seq LIMIT 1 OFFSET 3")[0]
    store.command("ALTER TABLE spans UPDATE InputText = 'rewritten' WHERE SpanId = {s:String}"
                  " SETTINGS mutations_sync = 2", {"s": span})
    n = len(db.HASHED_COLUMNS)
    row = dict(zip(db.HASHED_COLUMNS, store.query_rows(
        f"SELECT {db._hash_select()} FROM spans WHERE SpanId = {{s:String}}", {"s": span})[0][:n]))
    digest = span_hash(row)
    entry = store.query_rows("SELECT Project, Seq, Timestamp, TraceId, SpanId, CostHash, Stream FROM chain_spans"
                             " WHERE SpanId = {s:String} LIMIT 1", {"s": span})[0]
    store.command("ALTER TABLE chain_spans DELETE WHERE SpanId = {s:String} SETTINGS mutations_sync = 2", {"s": span})
    store.insert("chain_spans", [[*entry[:5], digest, entry[5], entry[6]]], db.CHAIN_SPAN_COLUMNS)
    if REWRITE_ROW:  # the span hash is the last 64 characters of ChainHash (1:<stream>:<seq>:<hash>)
        store.command("ALTER TABLE spans UPDATE ChainHash = concat(substring(ChainHash, 1, length(ChainHash) - 64),"
                      " {d:String}) WHERE SpanId = {s:String} SETTINGS mutations_sync = 2", {"d": digest, "s": span})
    prev = db.chain_batches(store, "default")[seq - 2]["LinkHash"] if seq > 1 else "0" * 64
    for link in db.chain_batches(store, "default")[seq - 1:]:
        entries = {f"{t}:{s}:{h}" for t, s, h in store.query_rows(
            "SELECT TraceId, SpanId, SpanHash FROM chain_spans WHERE Project = 'default' AND Seq = {q:UInt64}",
            {"q": link["Seq"]})}
        bid = batch_id(entries)
        new = link_hash(prev, bid)
        store.command("ALTER TABLE chain_batches UPDATE BatchId = {b:String}, PrevHash = {p:String}, Hash = {h:String}"
                      " WHERE Project = 'default' AND Seq = {q:UInt64} SETTINGS mutations_sync = 2",
                      {"b": bid, "p": prev, "h": new, "q": link["Seq"]})
        prev = new
    print(json.dumps({"span": span, "seq": seq}))
"""


def test_a_consistent_rewrite_of_span_and_chain_entry_is_named_by_the_rows_own_chain_hash(anchored: Path) -> None:
    out = json.loads(run_store_script(anchored, "    REWRITE_ROW = False" + REWRITE))
    done = run_cli("verify", "--project", "default", "--data-dir", str(anchored), "--json")
    report = json.loads(done.stdout)
    assert done.returncode == 1
    assert [s["span_id"] for s in report["altered"]["spans"]] == [out["span"]]
    assert "rewritten" in report["altered"]["spans"][0]["reason"]


def test_a_full_chain_rewrite_passes_the_store_alone_but_not_the_anchors(anchored: Path) -> None:
    out = json.loads(run_store_script(anchored, "    REWRITE_ROW = True" + REWRITE))
    alone = json.loads(run_cli("verify", "--project", "default", "--data-dir", str(anchored), "--json").stdout)
    assert alone["ok"], "the store is consistent with itself after a full rewrite"
    sink = anchored / "anchors.jsonl"
    done = run_cli("verify", "--project", "default", "--data-dir", str(anchored), "--anchors", str(sink),
                   "--anchor-public-key", str(anchored / "anchor-key.pem"), "--json")
    assert done.returncode == 1, done.stdout
    report = json.loads(done.stdout)
    divergence = report["anchors"]["first_divergence"]
    assert divergence is not None and divergence["seq"] >= out["seq"]
    text = run_cli("verify", "--project", "default", "--data-dir", str(anchored), "--anchors", str(sink))
    assert "anchors FAILED" in text.stdout and f"batch #{divergence['seq']}" in text.stdout


def test_untouched_chain_passes_its_anchors_directly_and_through_the_api(anchored: Path) -> None:
    sink = anchored / "anchors.jsonl"
    done = run_cli("verify", "--project", "default", "--data-dir", str(anchored), "--anchors", str(sink))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "anchors OK" in done.stdout
    again = start_collector(anchored, env={"FLIGHTLOG_ANCHOR_INTERVAL_S": "0"})
    try:
        remote = subprocess.run([sys.executable, "-m", "flightlog.collector.cli", "verify", "--url", again.url,
                                 "--key", again.admin_key, "--anchors", str(sink)],
                                capture_output=True, text=True, env=clean_env(), timeout=300)
        assert remote.returncode == 0, remote.stdout + remote.stderr
        assert "anchors OK" in remote.stdout
    finally:
        again.stop()
