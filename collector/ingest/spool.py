"""The on-disk spool: an acknowledged span is on disk before the client hears 200.

Requests append one *frame* (length, CRC32, pickled rows) to the open segment file; with
``fsync="always"`` they then wait for an fsync that covers their frame. Concurrent requests
share fsyncs (group commit): whoever holds the sync lock syncs everything written so far.
The open segment is sealed when it holds ``segment_rows`` rows or is ``max_age`` old; the
writer thread stores sealed segments and deletes them only after the insert succeeded. On
start every segment found on disk is sealed and replayed, so a crash loses nothing that was
acknowledged; a segment inserted but not yet deleted is inserted again, which the store's
de-duplication absorbs.

A torn frame at the end of a segment (a crash mid-write, never acknowledged) fails its CRC
or length check and is skipped with a warning.
"""

from __future__ import annotations

import logging
import os
import pickle
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<II")  # payload length, CRC32 of payload
_PREFIX = "seg-"
_SUFFIX = ".spool"


@dataclass
class Segment:
    """One spool file; ``rows`` is filled when this process wrote it (no re-read needed)."""

    seq: int
    path: Path
    row_count: int = 0
    size: int = 0
    created: float = field(default_factory=time.monotonic)
    rows: list[list[Any]] | None = None  # None: read from disk when needed
    needs_sync: bool = False  # sealed before an fsync covered all its frames

    def load(self) -> list[list[Any]]:
        """The segment's rows: from memory if cached, else decoded from its file."""
        if self.rows is not None:
            return self.rows
        return read_segment(self.path)


def read_segment(path: Path) -> list[list[Any]]:
    """Decode every intact frame of a segment file."""
    rows: list[list[Any]] = []
    data = path.read_bytes()
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, offset)
        start, end = offset + _HEADER.size, offset + _HEADER.size + length
        payload = data[start:end]
        if end > len(data) or zlib.crc32(payload) != crc:
            log.warning("spool %s: torn frame at byte %d skipped (never acknowledged)", path.name, offset)
            break
        rows.extend(pickle.loads(payload))
        offset = end
    return rows


class SpoolFull(Exception):
    """The spool is at ``max_bytes``; the caller answers 429 with Retry-After."""


class Spool:
    """Append-only segment files under one directory. Thread-safe."""

    def __init__(
        self,
        directory: str | Path,
        *,
        fsync: str = "always",
        segment_rows: int = 5000,
        max_age: float = 0.2,
        max_bytes: int = 1 << 30,
        max_cached_rows: int = 50_000,
    ) -> None:
        if fsync not in ("always", "never"):
            raise ValueError(f"fsync policy must be 'always' or 'never', got {fsync!r}")
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self.segment_rows = segment_rows
        self.max_age = max_age
        self.max_bytes = max_bytes
        self.max_cached_rows = max_cached_rows
        self._lock = threading.Lock()  # guards segments and the open file
        self._sync_lock = threading.Lock()
        self._sealed: list[Segment] = []
        self._cached_rows = 0
        for path in sorted(self.dir.glob(f"{_PREFIX}*{_SUFFIX}")):
            seq = int(path.name[len(_PREFIX):-len(_SUFFIX)])
            self._sealed.append(Segment(seq, path, size=path.stat().st_size, row_count=-1))
        self.replayed_segments = len(self._sealed)
        self._next_seq = (self._sealed[-1].seq + 1) if self._sealed else 1
        self._open: Segment | None = None
        self._fh: Any = None
        self._written = 0  # frames written (monotonic)
        self._synced = 0  # frames known to be on disk
        self.total_bytes = sum(s.size for s in self._sealed)
        self.available = threading.Condition(self._lock)

    # -- producer side -----------------------------------------------------------------
    def append(self, rows: list[list[Any]]) -> int:
        """Write one frame; returns its number for :meth:`sync`. Raises :class:`SpoolFull`."""
        payload = pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)
        frame = _HEADER.pack(len(payload), zlib.crc32(payload)) + payload
        with self._lock:
            if self.total_bytes + len(frame) > self.max_bytes:
                raise SpoolFull(f"spool holds {self.total_bytes} bytes (limit {self.max_bytes})")
            if self._open is None:
                self._start_segment()
            assert self._open is not None and self._fh is not None
            self._fh.write(frame)
            self._fh.flush()  # into the OS page cache: survives a process crash
            seg = self._open
            seg.size += len(frame)
            seg.row_count += len(rows)
            self.total_bytes += len(frame)
            if seg.rows is not None:
                if self._cached_rows + len(rows) <= self.max_cached_rows:
                    seg.rows.extend(rows)
                    self._cached_rows += len(rows)
                else:  # too much waiting in memory: the writer will read this segment from disk
                    self._cached_rows -= len(seg.rows)
                    seg.rows = None
            self._written += 1
            frame_no = self._written
            if seg.row_count >= self.segment_rows:
                self._seal_locked()
        return frame_no

    def sync(self, frame_no: int) -> None:
        """Block until frame ``frame_no`` is fsynced (group commit); no-op with fsync=never."""
        if self.fsync != "always":
            return
        with self._sync_lock:
            if self._synced >= frame_no:
                return  # another request's fsync already covered this frame
            # Appends wait while we sync; they are then covered by the next group commit.
            with self._lock:
                written = self._written
                if self._fh is not None:
                    os.fsync(self._fh.fileno())
                for seg in self._sealed:
                    if seg.needs_sync:
                        _fsync_path(seg.path)
                        seg.needs_sync = False
                self._synced = written

    # -- consumer side -----------------------------------------------------------------
    def take(self, timeout: float) -> Segment | None:
        """The oldest sealed segment, sealing an old open one; None after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                if self._open is not None and time.monotonic() - self._open.created >= self.max_age:
                    self._seal_locked()
                if self._sealed:
                    return self._sealed[0]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                wait = min(remaining, self.max_age) if self._open is not None else remaining
                self.available.wait(wait)

    def done(self, seg: Segment) -> None:
        """The segment is stored: delete it."""
        with self._lock:
            self._sealed.remove(seg)
            self.total_bytes -= seg.size
            if seg.rows is not None:
                self._cached_rows -= len(seg.rows)
        seg.path.unlink(missing_ok=True)

    def seal(self) -> None:
        """Seal the open segment now (shutdown drains everything)."""
        with self._lock:
            self._seal_locked()

    def stats(self) -> dict[str, float]:
        with self._lock:
            segs = list(self._sealed) + ([self._open] if self._open else [])
            oldest = min((s.created for s in segs), default=None)
            return {
                "segments": len(segs),
                "bytes": self.total_bytes,
                "rows": sum(max(s.row_count, 0) for s in segs),
                "lag_seconds": 0.0 if oldest is None else time.monotonic() - oldest,
            }

    def close(self) -> None:
        with self._lock:
            self._seal_locked()

    # -- internals ---------------------------------------------------------------------
    def _start_segment(self) -> None:
        path = self.dir / f"{_PREFIX}{self._next_seq:012d}{_SUFFIX}"
        self._next_seq += 1
        self._fh = open(path, "ab")  # noqa: SIM115 - closed by _seal_locked
        self._open = Segment(self._next_seq - 1, path, rows=[])
        if self.fsync == "always":
            _fsync_path(self.dir)  # the new directory entry must survive a crash too

    def _seal_locked(self) -> None:
        if self._open is None:
            return
        fh, seg = self._fh, self._open
        self._open, self._fh = None, None
        fh.close()
        if self.fsync == "always" and self._synced < self._written:
            seg.needs_sync = True
        self._sealed.append(seg)
        self.available.notify_all()


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
