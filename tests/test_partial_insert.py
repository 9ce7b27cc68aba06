"""An insert of a spool segment that lands in ``spans`` but fails in a rollup view (what a full
disk can do, or a crash between the two) is completed by the writer's retry: every span is
stored once, every rollup hour counts it once, and the audit chain verifies.

The failing view is a real materialized view on ``spans`` in the real engine, which throws
while a switch row exists: the fault sits between the table and the rollups exactly where
ENOSPC would.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flightlog.collector.audit.chain import ChainWriter, verify
from flightlog.collector.ingest.spool import Spool
from flightlog.collector.ingest.writer import BatchWriter
from flightlog.storage import StorageError, open_store
from flightlog.storage.schema import span_row_values

HOUR_NS = 3600 * 10**9
BASE_NS = 1_790_000_000 * 10**9 // HOUR_NS * HOUR_NS


def _spans(n: int) -> list[dict]:
    return [{"Project": "p", "TraceId": f"{i // 3:032x}", "SpanId": f"{i + 1:016x}", "ParentSpanId": "",
             "Timestamp": BASE_NS + i * 10**9, "Duration": 5 * 10**6, "SpanName": "llm", "SpanType": "llm",
             "InputTokens": 10, "OutputTokens": 3, "CostUsd": 0.001, "CostSource": "client",
             "StatusCode": "OK"} for i in range(n)]


@pytest.fixture
def stack(tmp_path: Path):
    store = open_store(f"chdb://{tmp_path / 'store'}")
    spool = Spool(tmp_path / "spool", fsync="always", segment_rows=10_000, max_age=60)
    writer = BatchWriter(store, spool, prepare=ChainWriter(store, "test").prepare)  # thread not started: driven by hand
    store.command("CREATE TABLE fault_switch (On UInt8) ENGINE = MergeTree ORDER BY tuple()")
    store.command("CREATE TABLE fault_sink (N UInt64) ENGINE = MergeTree ORDER BY tuple()")
    yield store, spool, writer
    store.close()


def _arm(store, on: bool) -> None:
    if on:
        store.command("INSERT INTO fault_switch VALUES (1)")
        store.command("CREATE MATERIALIZED VIEW fault_mv TO fault_sink AS SELECT"
                      " throwIf((SELECT count() FROM fault_switch) > 0, 'disk full') + count() AS N FROM spans")
    else:
        store.command("DROP VIEW fault_mv")
        store.command("TRUNCATE TABLE fault_switch")


def _counts(store) -> tuple[int, int, int]:
    stored = store.query_rows("SELECT count() FROM (SELECT 1 FROM spans LIMIT 1 BY TraceId, SpanId)")[0][0]
    copies = store.query_rows("SELECT count() FROM spans")[0][0]
    rolled = store.query_rows("SELECT sum(Spans) FROM usage_hourly")[0][0]
    return int(stored), int(copies), int(rolled)


def _store_segment(spool: Spool, writer: BatchWriter, rows: list[dict]) -> None:
    frame = spool.append([span_row_values(r) for r in rows], "spans")
    spool.sync(frame)
    spool.seal()
    seg = spool.take(timeout=5)
    assert seg is not None
    writer.store_segment(seg)
    spool.done(seg)


def test_a_retry_completes_the_rollups_an_interrupted_insert_missed(stack) -> None:
    store, spool, writer = stack
    rows = _spans(30)
    frame = spool.append([span_row_values(r) for r in rows], "spans")
    spool.sync(frame)
    spool.seal()
    seg = spool.take(timeout=5)
    assert seg is not None

    _arm(store, True)
    with pytest.raises(StorageError):
        writer.store_segment(seg)
    stored, _, rolled = _counts(store)
    assert stored == 30, "the fault is after the spans table: the spans landed"
    assert rolled < 30, "and at least one rollup missed them (the case this test is about)"

    _arm(store, False)
    writer.store_segment(seg)  # the writer thread's retry
    spool.done(seg)
    assert _counts(store) == (30, 30, 30)
    writer.store_segment(seg)  # stored again (a crash before the segment was deleted): no-op
    assert _counts(store) == (30, 30, 30)

    report = verify(store, "p")
    assert report.ok, report.summary()


def test_the_retry_survives_a_restart_between_the_attempts(stack, tmp_path: Path) -> None:
    store, spool, writer = stack
    rows = _spans(12)
    frame = spool.append([span_row_values(r) for r in rows], "spans")
    spool.sync(frame)
    spool.seal()
    seg = spool.take(timeout=5)
    _arm(store, True)
    with pytest.raises(StorageError):
        writer.store_segment(seg)
    _arm(store, False)

    replayed = Spool(tmp_path / "spool", fsync="always", segment_rows=10_000, max_age=60)  # a new process
    assert replayed.replayed_segments == 1
    again = replayed.take(timeout=5)
    BatchWriter(store, replayed, prepare=ChainWriter(store, "test").prepare).store_segment(again)
    replayed.done(again)
    assert _counts(store) == (12, 12, 12)
    assert not list((tmp_path / "spool").iterdir()), "segment and its attempt record are gone once stored"
    assert verify(store, "p").ok


def test_a_segment_resent_after_it_was_stored_is_still_skipped(stack) -> None:
    store, spool, writer = stack
    rows = _spans(9)
    _store_segment(spool, writer, rows)
    _store_segment(spool, writer, rows)  # the same spans in a new segment (an exporter's retry)
    assert _counts(store) == (9, 9, 9)
    assert verify(store, "p").ok


def test_spans_another_collector_stored_meanwhile_are_not_stored_again(stack, tmp_path: Path) -> None:
    """A's insert is refused as a whole; before its retry, B (another collector on the store)
    stores some of the same spans. A's retry stores only the rest: each span once."""
    store, spool, writer = stack
    rows = _spans(12)
    frame = spool.append([span_row_values(r) for r in rows], "spans")
    spool.sync(frame)
    spool.seal()
    seg = spool.take(timeout=5)
    store.command("ALTER TABLE spans ADD CONSTRAINT refuse_all CHECK 0")
    with pytest.raises(StorageError):
        writer.store_segment(seg)
    store.command("ALTER TABLE spans DROP CONSTRAINT refuse_all")
    assert _counts(store) == (0, 0, 0)

    other = Spool(tmp_path / "spool-b", fsync="always", segment_rows=10_000, max_age=60)
    # one chain writer for both: on a server each collector reads the chain head from the store
    # under the spans lease, which one chain writer over this embedded store does the same way
    _store_segment(other, BatchWriter(store, other, prepare=writer._prepare), [*rows[:5], *_spans(14)[12:]])
    assert _counts(store) == (7, 7, 7)

    writer.store_segment(seg)
    spool.done(seg)
    assert _counts(store) == (14, 14, 14)
    assert verify(store, "p").ok
