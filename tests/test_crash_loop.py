"""kill -9 at random moments, over and over, on one data directory: every acknowledged span is
stored exactly once, the rollups count each span once, and the audit chain verifies.

The kill moments come from a seeded random generator (``FLIGHTLOG_CRASH_SEED``, printed on
failure) and ``FLIGHTLOG_CRASH_ROUNDS`` rounds run (4 in the suite; the reliability benchmark
runs many more). Some rounds die under load, some while the spool drains, some right after a
restart (mid-replay).
"""

from __future__ import annotations

import os
import random
import signal
import threading
from pathlib import Path

import httpx

from conftest import start_collector, wait_until
from test_durability import PB, SPANS_PER_TRACE, make_request

SEED = int(os.environ.get("FLIGHTLOG_CRASH_SEED", "20261201"))
ROUNDS = int(os.environ.get("FLIGHTLOG_CRASH_ROUNDS", "4"))


def _round(data_dir: Path, rng: random.Random, first: int, acked: list[str]) -> int:
    """One life of a collector: load from 3 senders, then kill -9 at a random moment."""
    collector = start_collector(data_dir)
    stop = threading.Event()
    counter = iter(range(first, first + 100_000))
    lock = threading.Lock()
    used = [first]

    def load() -> None:
        client = httpx.Client(headers={"Content-Type": PB, "x-api-key": collector.ingest_key}, timeout=10)
        while not stop.is_set():
            with lock:
                n = next(counter)
                used[0] = max(used[0], n + 1)
            trace_id, body = make_request(n, text_bytes=200)
            try:
                resp = client.post(collector.url + "/v1/traces", content=body)
            except httpx.HTTPError:
                return  # the collector is gone: this request was never acknowledged
            if resp.status_code == 200:
                with lock:
                    acked.append(trace_id)

    senders = [threading.Thread(target=load) for _ in range(3)]
    for t in senders:
        t.start()
    moment = rng.choice(["under load", "under load", "right after start", "while draining"])
    if moment == "under load":
        wait_until(lambda: len(acked) >= first // 20 + rng.randint(5, 40), timeout=60, what="acknowledged requests")
    elif moment == "while draining":
        wait_until(lambda: len(acked) >= first // 20 + 10, timeout=60, what="acknowledged requests")
        stop.set()
    os.kill(collector.proc.pid, signal.SIGKILL)
    collector.proc.wait(10)
    stop.set()
    for t in senders:
        t.join(15)
    return used[0]


def test_kill_9_at_random_moments_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    data_dir = tmp_path / "c"
    acked: list[str] = []
    next_n = 0
    for _ in range(ROUNDS):
        next_n = _round(data_dir, rng, next_n, acked)
    final = start_collector(data_dir)
    try:
        final.drain(timeout=120)
        context = f"seed {SEED}, {ROUNDS} rounds, {len(acked)} acknowledged requests"
        assert len(acked) >= ROUNDS, context
        for trace_id in acked:
            ids = [s["span_id"] for s in final.api(f"/api/traces/{trace_id}")["spans"]]
            assert len(ids) == SPANS_PER_TRACE == len(set(ids)), f"{trace_id}: {len(ids)} spans ({context})"
        stored = final.api("/api/spans", agent="loadgen", limit=1)["total"]
        assert stored % SPANS_PER_TRACE == 0, f"a stored request is stored whole ({context})"
        rollup = {r["model"]: r for r in final.api("/api/cost", group_by=["model"])["rows"]}
        assert rollup["gpt-4o-mini"]["spans"] == stored, f"the rollups count each span once ({context})"
        assert rollup["gpt-4o-mini"]["calls"] == stored // SPANS_PER_TRACE * (SPANS_PER_TRACE - 1), context
        report = final.get("/api/audit/verify", key=final.admin_key).json()
        assert report["ok"], f"{report['summary']} ({context})"
    finally:
        final.stop()
