"""Tests for flightlog.collector.ingest.spool: durable segments, group commit, replay, torn frames."""

from __future__ import annotations

import threading
import time

import pytest

from flightlog.collector.ingest.spool import Spool, SpoolFull, read_segment


def _rows(n: int, tag: str = "r") -> list[list]:
    return [[f"{tag}{i}", i, {"k": "v"}] for i in range(n)]


def test_appended_rows_come_back_in_order_from_a_sealed_segment(tmp_path) -> None:
    spool = Spool(tmp_path, segment_rows=5, max_age=60)
    spool.sync(spool.append(_rows(3, "a")))
    spool.sync(spool.append(_rows(3, "b")))  # crosses 5 rows: the segment is sealed
    seg = spool.take(timeout=0.1)
    assert seg is not None and [r[0] for r in seg.load()] == ["a0", "a1", "a2", "b0", "b1", "b2"]
    assert read_segment(seg.path) == seg.load()
    spool.done(seg)
    assert not seg.path.exists() and spool.stats()["rows"] == 0


def test_an_old_open_segment_is_sealed_by_take(tmp_path) -> None:
    spool = Spool(tmp_path, segment_rows=1000, max_age=0.05)
    spool.append(_rows(2))
    seg = spool.take(timeout=5)
    assert seg is not None and len(seg.load()) == 2


def test_a_busy_segment_keeps_filling_past_the_flush_interval_until_it_is_full(tmp_path) -> None:
    spool = Spool(tmp_path, segment_rows=100, max_age=0.01, max_wait=60)
    spool.append(_rows(10, "a"))  # a tenth of a segment within the flush interval: a busy spool
    assert spool.take(timeout=0.3) is None, "not sealed at the flush interval"
    spool.append(_rows(90, "b"))  # full: sealed on append
    seg = spool.take(timeout=5)
    assert seg is not None and len(seg.load()) == 100


def test_a_busy_segment_is_sealed_at_the_busy_flush_interval(tmp_path) -> None:
    spool = Spool(tmp_path, segment_rows=100, max_age=0.01, max_wait=0.3)
    spool.append(_rows(10))
    started = time.monotonic()
    seg = spool.take(timeout=30)
    assert seg is not None and len(seg.load()) == 10
    assert time.monotonic() - started >= 0.3 - 0.02, "it waited for more rows first"


def test_a_quiet_segment_is_sealed_at_the_flush_interval(tmp_path) -> None:
    spool = Spool(tmp_path, segment_rows=100, max_age=0.01, max_wait=60)
    spool.append(_rows(9))  # under a tenth of a segment: nobody is waiting for a bigger batch
    seg = spool.take(timeout=30)
    assert seg is not None and len(seg.load()) == 9


def test_take_returns_none_when_nothing_waits(tmp_path) -> None:
    assert Spool(tmp_path).take(timeout=0.05) is None


def test_a_released_consumer_stops_waiting_at_once_and_rows_stay_spooled(tmp_path) -> None:
    # Shutdown: the writer waits in take(); released, it returns within the test's deadline
    # instead of at its timeout, and what was appended stays on disk for the next start.
    spool = Spool(tmp_path, segment_rows=1000, max_age=60)
    spool.sync(spool.append(_rows(2)))
    taken: list[object] = []
    waiter = threading.Thread(target=lambda: taken.append(spool.take(timeout=60)))
    waiter.start()
    spool.release_consumer()
    waiter.join(10)
    assert not waiter.is_alive() and taken == [None]
    assert spool.take(timeout=60) is None  # later calls return at once too
    spool.close()
    replayed = Spool(tmp_path).take(timeout=5)
    assert replayed is not None and len(replayed.load()) == 2


def test_segments_left_on_disk_are_replayed_by_the_next_spool(tmp_path) -> None:
    first = Spool(tmp_path, segment_rows=2, max_age=60)
    for tag in "abc":
        first.sync(first.append(_rows(2, tag)))
    first.close()  # process "dies" before the writer stored anything
    second = Spool(tmp_path)
    assert second.replayed_segments == 3
    replayed = []
    while (seg := second.take(timeout=0.05)) is not None:
        replayed += [r[0] for r in seg.load()]
        second.done(seg)
    assert replayed == ["a0", "a1", "b0", "b1", "c0", "c1"]
    second.sync(second.append(_rows(1, "d")))  # new segments continue after the old numbers
    assert second.take(timeout=1) is not None


def test_a_torn_frame_at_the_end_is_skipped(tmp_path) -> None:
    spool = Spool(tmp_path, segment_rows=100, max_age=60)
    spool.sync(spool.append(_rows(2, "ok")))
    spool.close()
    (path,) = tmp_path.glob("seg-*.spool")
    with path.open("ab") as fh:
        fh.write(b"\x10\x00\x00\x00garbage")  # a crash in the middle of the next frame
    assert [r[0] for r in read_segment(path)] == ["ok0", "ok1"]


def test_a_full_spool_refuses_new_frames(tmp_path) -> None:
    spool = Spool(tmp_path, max_bytes=2000)
    spool.append(_rows(5))
    with pytest.raises(SpoolFull):
        spool.append(_rows(200))


def test_concurrent_appends_all_survive_with_group_commit(tmp_path) -> None:
    spool = Spool(tmp_path, segment_rows=50, max_age=60, fsync="always")

    def produce(tag: str) -> None:
        for i in range(20):
            spool.sync(spool.append([[f"{tag}-{i}"]]))

    threads = [threading.Thread(target=produce, args=(t,)) for t in "abcd"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    spool.close()
    seen = []
    reread = Spool(tmp_path)
    while (seg := reread.take(timeout=0.05)) is not None:
        seen += [r[0] for r in seg.load()]
        reread.done(seg)
    assert sorted(seen) == sorted(f"{t}-{i}" for t in "abcd" for i in range(20))


def test_memory_cache_is_bounded_and_rows_are_reread_from_disk(tmp_path) -> None:
    spool = Spool(tmp_path, segment_rows=1000, max_age=60, max_cached_rows=3)
    spool.append(_rows(2, "a"))
    spool.append(_rows(2, "b"))  # over the cache bound: this segment is read back from disk
    spool.seal()
    seg = spool.take(timeout=0.1)
    assert seg.rows is None and [r[0] for r in seg.load()] == ["a0", "a1", "b0", "b1"]


def test_bad_fsync_policy_is_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="fsync policy"):
        Spool(tmp_path, fsync="sometimes")
