"""Fault injection for flightlog.collector.ingest.spool with real files: writes that fail part-way,
truncates and fsyncs that fail, damage in the middle of a segment, a filesystem that fills up.

The property every test checks: what the spool acknowledged (``append`` + ``sync`` returned) is
exactly what a new spool replays from the directory — nothing acknowledged is lost, nothing
refused comes back.
"""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from flightlog.collector.ingest import spool as spool_module
from flightlog.collector.ingest.spool import Spool, SpoolUnavailable, read_frames, read_segment


def _rows(n: int, tag: str, size: int = 50) -> list[list[Any]]:
    return [[f"{tag}-{i}", "x" * size] for i in range(n)]


def replayed(directory: Path) -> list[str]:
    """Row tags a fresh spool on ``directory`` hands to the writer, in order."""
    again = Spool(directory)
    out = []
    while (seg := again.take(timeout=0.05)) is not None:
        out += [r[0] for r in seg.load()]
        again.done(seg)
    return out


class FailingFile:
    """A real segment file whose writes fail once ``budget`` bytes are used up: the failing write
    puts only the part that fits on disk (as a full disk does), then raises ENOSPC."""

    def __init__(self, path: Path, disk: "Disk") -> None:
        self._fh = open(path, "ab")  # noqa: SIM115 - closed with the segment
        self._disk = disk

    def write(self, data: bytes) -> int:
        room = self._disk.budget
        if len(data) > room:
            self._fh.write(data[:room])
            self._fh.flush()
            self._disk.budget = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        self._disk.budget -= len(data)
        return self._fh.write(data)

    def truncate(self, size: int) -> int:
        if self._disk.truncate_fails:
            raise OSError(errno.EIO, "Input/output error")
        return self._fh.truncate(size)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)


class Disk:
    def __init__(self, budget: int, *, truncate_fails: bool = False) -> None:
        self.budget = budget
        self.truncate_fails = truncate_fails

    def opener(self, path: Path) -> BinaryIO:
        return FailingFile(path, self)  # type: ignore[return-value]


def fill(spool: Spool, tags: Iterator[str], rows: int = 3) -> tuple[list[str], int]:
    """Append until the spool refuses; returns (acknowledged row tags, refusals)."""
    acked: list[str] = []
    for tag in tags:
        batch = _rows(rows, tag)
        try:
            spool.sync(spool.append(batch))
        except SpoolUnavailable:
            return acked, 1
        acked += [r[0] for r in batch]
    return acked, 0


def test_a_write_that_fails_part_way_is_cut_back_and_later_frames_survive_replay(tmp_path: Path) -> None:
    disk = Disk(budget=1500)
    spool = Spool(tmp_path, segment_rows=10_000, max_age=60, min_free_bytes=0, opener=disk.opener)
    acked, refused = fill(spool, (f"a{i}" for i in range(100)))
    assert refused == 1 and acked, "some frames fit, then the disk is full"
    assert "no space left" in " ".join(spool.problems())
    disk.budget = 10_000_000  # space is back: the spool resumes by itself, in a new segment
    more, refused = fill(spool, (f"b{i}" for i in range(5)))
    assert refused == 0
    spool.close()
    assert replayed(tmp_path) == acked + more
    assert spool.problems() == []


def test_a_torn_frame_that_cannot_be_truncated_ends_its_sealed_segment(tmp_path: Path, caplog) -> None:
    disk = Disk(budget=1500, truncate_fails=True)
    spool = Spool(tmp_path, segment_rows=10_000, max_age=60, min_free_bytes=0, opener=disk.opener)
    acked, refused = fill(spool, (f"a{i}" for i in range(100)))
    assert refused == 1
    disk.budget = 10_000_000
    more, _ = fill(spool, (f"b{i}" for i in range(5)))
    spool.close()
    segments = sorted(tmp_path.glob("seg-*.spool"))
    assert len(segments) == 2, "the damaged segment is sealed; acknowledged frames go to a new one"
    with caplog.at_level(logging.WARNING):
        assert replayed(tmp_path) == acked + more
    assert "torn frame" in caplog.text and "damaged" not in caplog.text


def test_a_failed_fsync_acknowledges_nothing_it_should_have_covered(tmp_path: Path, monkeypatch) -> None:
    spool = Spool(tmp_path, segment_rows=10_000, max_age=60, min_free_bytes=0)
    acked, _ = fill(spool, (f"a{i}" for i in range(3)))
    real_fsync = os.fsync
    calls = {"n": 0}

    def flaky_fsync(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError(errno.EIO, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", flaky_fsync)
    frame = spool.append(_rows(2, "doubt"))
    with pytest.raises(SpoolUnavailable, match="fsync failed"):
        spool.sync(frame)
    with pytest.raises(SpoolUnavailable):
        spool.sync(frame)  # asking again does not turn it into an acknowledgement
    more, refused = fill(spool, (f"b{i}" for i in range(3)))
    assert refused == 0
    spool.close()
    got = replayed(tmp_path)
    assert [t for t in got if not t.startswith("doubt")] == acked + more
    assert set(acked + more) <= set(got)


def test_damage_inside_a_segment_is_reported_and_the_frames_after_it_recovered(tmp_path: Path, caplog) -> None:
    spool = Spool(tmp_path, segment_rows=10_000, max_age=60, min_free_bytes=0)
    for tag in ("a", "b", "c"):
        spool.sync(spool.append(_rows(2, tag)))
    spool.close()
    (path,) = tmp_path.glob("seg-*.spool")
    data = bytearray(path.read_bytes())
    second = data.find(b"FLF2", 4)
    data[second + 20] ^= 0xFF  # corrupt the second frame's payload
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.ERROR):
        tags = [r[0] for r in read_segment(path)]
    assert tags == ["a-0", "a-1", "c-0", "c-1"]
    assert "damaged bytes" in caplog.text
    assert (tmp_path / "damaged" / path.name).read_bytes() == bytes(data)


def test_segments_written_before_frame_kinds_still_replay(tmp_path: Path) -> None:
    import pickle
    import struct

    payload = pickle.dumps(_rows(2, "old"))
    (tmp_path / "seg-000000000007.spool").write_bytes(struct.pack("<II", len(payload), zlib.crc32(payload)) + payload)
    assert replayed(tmp_path) == ["old-0", "old-1"]


def test_spans_and_log_rows_share_a_segment_by_kind(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_rows=10_000, max_age=60, min_free_bytes=0)
    spool.sync(spool.append(_rows(2, "span")))
    spool.sync(spool.append(_rows(1, "log"), kind="logs"))
    spool.close()
    (path,) = tmp_path.glob("seg-*.spool")
    assert [(kind, [r[0] for r in rows]) for kind, rows in read_frames(path)] == [
        ("spans", ["span-0", "span-1"]), ("logs", ["log-0"])]


def test_a_nearly_full_disk_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    spool = Spool(tmp_path, min_free_bytes=1 << 60)
    with pytest.raises(SpoolUnavailable, match="disk nearly full"):
        spool.append(_rows(1, "x"))
    assert list(tmp_path.glob("seg-*.spool")) == []
    assert any("disk nearly full" in p for p in spool.problems())


# -- a real filesystem that fills up --------------------------------------------------------------


@pytest.fixture
def small_filesystem(tmp_path: Path) -> Iterator[tuple[Path, Any]]:
    """A 2 MiB tmpfs and a function that grows it (as root, which CI and this machine are)."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.fail("the disk-full tests mount a small tmpfs and need root "
                    "(the injected-failure tests above cover the same paths without it)")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)

    def grow(size: str) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size}", str(mount)], check=True)

    try:
        yield mount, grow
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.parametrize("fsync", ["always", "never"])
def test_a_full_filesystem_never_loses_an_acknowledged_frame(small_filesystem, fsync: str) -> None:
    mount, grow = small_filesystem
    spool = Spool(mount, fsync=fsync, segment_rows=60, max_age=60, min_free_bytes=0)
    tags = (f"a{i}" for i in range(100_000))
    acked: list[str] = []
    refusals = 0
    while refusals < 3:  # keep pushing after the first refusal, as exporters retry
        more, refused = fill(spool, tags, rows=20)
        acked += more
        refusals += refused
    grow("16m")
    later, refused = fill(spool, (f"b{i}" for i in range(10)), rows=20)
    assert refused == 0, "the spool takes writes again once there is room"
    spool.close()
    assert replayed(mount) == acked + later


def test_the_reserve_refuses_cleanly_before_the_filesystem_is_full(small_filesystem) -> None:
    mount, _ = small_filesystem
    spool = Spool(mount, segment_rows=60, max_age=60, min_free_bytes=1024 * 1024)
    acked, refused = fill(spool, (f"a{i}" for i in range(100_000)), rows=20)
    assert refused == 1 and acked
    spool.close()
    for path in mount.glob("seg-*.spool"):  # no torn frame anywhere: the write was never tried
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            found = spool_module._frame_at(data, offset)
            assert found is not None, f"{path.name}: damage at byte {offset}"
            offset = found[2]
    assert replayed(mount) == acked
