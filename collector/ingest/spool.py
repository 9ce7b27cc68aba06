"""The on-disk spool: an acknowledged span is on disk before the client hears 200
(docs/decisions/0002-acknowledge-after-the-spool.md).

Requests append one *frame* to the open segment file: a header (magic, kind, length, CRC32)
and the pickled rows of one kind (``spans`` or ``logs``). With ``fsync="always"`` they then
wait for an fsync that covers their frame; concurrent requests share fsyncs (group commit).
The open segment is sealed when it holds ``segment_rows`` rows or is ``max_age`` old (a busy
one, with a tenth of ``segment_rows`` by then, at ``max_wait``: fewer, larger inserts); the
writer thread stores sealed segments and deletes them only after the insert succeeded. On
start every segment found on disk is sealed and replayed, so a crash loses nothing that was
acknowledged; a segment inserted but not yet deleted is inserted again, which the store's
de-duplication absorbs.

A failed write never leaves room for an acknowledged frame behind a damaged one: the segment
is cut back to its last whole frame and sealed, the request fails with :class:`SpoolUnavailable`
(503 + Retry-After), and the next request starts a new segment. Before writing, the spool
checks that the filesystem keeps ``min_free_bytes`` free, so a filling disk is refused cleanly
rather than by a partial write. A failed fsync seals the segment too: the frames it should
have covered are not acknowledged. On replay, a torn frame at the end of a segment (a crash
mid-write, never acknowledged) is skipped with a warning; damage anywhere else is reported as
an error, the frames after it are recovered by their magic and CRC, and the file is kept in
``damaged/`` for inspection.

Before the writer inserts a segment's spans it records which spans it is about to insert and
their chain hashes (an *attempt* file beside the segment, fsynced): an insert can land in the
``spans`` table and fail in a rollup view (a full disk), or be cut by a crash, and the retry
must then send the very same block again, so the store's insert deduplication completes what
is missing (each view checks its own copy) instead of finding the spans stored and skipping
their rollups (docs/decisions/0006-dedupe-at-insert.md).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import pickle
import shutil
import struct
import threading
import time
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import Any, BinaryIO

log = logging.getLogger(__name__)

_MAGIC = b"FLF2"
_HEADER = struct.Struct("<4sBII")  # magic, kind, payload length, CRC32 of payload
_LEGACY_HEADER = struct.Struct("<II")  # frames written before kinds: payload length, CRC32 (spans)
_PREFIX = "seg-"
_SUFFIX = ".spool"
KINDS = ("spans", "logs", "facts", "metrics")
_KIND_CODE = {kind: code for code, kind in enumerate(KINDS)}
DEFAULT_MIN_FREE_BYTES = 16 * 1024 * 1024

Rows = list[list[Any]]


@dataclass
class Segment:
    """One spool file; ``rows`` is filled when this process wrote it (no re-read needed)."""

    seq: int
    path: Path
    row_count: int = 0
    size: int = 0
    created: float = field(default_factory=time.monotonic)
    rows: dict[str, Rows] | None = None  # None: read from disk when needed
    needs_sync: bool = False  # sealed before an fsync covered all its frames

    def load(self, kind: str = "spans") -> Rows:
        """The segment's rows of one kind: from memory if cached, else decoded from its file."""
        if self.rows is not None:
            return self.rows.get(kind, [])
        return read_segment(self.path, kind)

    def load_all(self) -> dict[str, Rows]:
        """Every kind's rows (the writer stores each kind in its table)."""
        if self.rows is not None:
            return {kind: rows for kind, rows in self.rows.items() if rows}
        out: dict[str, Rows] = {}
        for kind, rows in read_frames(self.path):
            out.setdefault(kind, []).extend(rows)
        return out


def _frame(kind: str, rows: Rows) -> bytes:
    payload = pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(_MAGIC, _KIND_CODE[kind], len(payload), zlib.crc32(payload)) + payload


def _frame_at(data: bytes, offset: int) -> tuple[str, bytes, int] | None:
    """(kind, payload, end) of a whole, intact frame at ``offset``, else None."""
    if data[offset:offset + 4] == _MAGIC:
        if offset + _HEADER.size > len(data):
            return None
        _, code, length, crc = _HEADER.unpack_from(data, offset)
        start = offset + _HEADER.size
        kind = KINDS[code] if code < len(KINDS) else None
    else:  # a frame of the format before kinds (spool left by an older version)
        if offset + _LEGACY_HEADER.size > len(data):
            return None
        length, crc = _LEGACY_HEADER.unpack_from(data, offset)
        start = offset + _LEGACY_HEADER.size
        kind = "spans"
    end = start + length
    if kind is None or end > len(data):
        return None
    payload = data[start:end]
    if zlib.crc32(payload) != crc:
        return None
    return kind, payload, end


def read_frames(path: Path) -> list[tuple[str, Rows]]:
    """Decode every intact frame of a segment file, in order (see the module docstring)."""
    data = path.read_bytes()
    frames: list[tuple[str, Rows]] = []
    offset = 0
    while offset < len(data):
        found = _frame_at(data, offset)
        if found is not None:
            kind, payload, offset = found
            frames.append((kind, pickle.loads(payload)))
            continue
        damaged_at = offset
        offset = data.find(_MAGIC, offset + 1)
        while offset != -1 and _frame_at(data, offset) is None:
            offset = data.find(_MAGIC, offset + 1)
        if offset == -1:
            log.warning("spool %s: torn frame at byte %d skipped (never acknowledged)", path.name, damaged_at)
            break
        log.error("spool %s: damaged bytes %d-%d skipped, later frames recovered; the file is kept in damaged/",
                  path.name, damaged_at, offset)
        _keep_damaged(path)
    return frames


def read_segment(path: Path, kind: str = "spans") -> Rows:
    """The rows of one kind in a segment file."""
    return [row for frame_kind, rows in read_frames(path) if frame_kind == kind for row in rows]


def _keep_damaged(path: Path) -> None:
    target = path.parent / "damaged" / path.name
    if target.exists():
        return
    try:
        target.parent.mkdir(exist_ok=True)
        shutil.copy2(path, target)
    except OSError:
        log.exception("could not keep a copy of damaged spool segment %s", path.name)


class SpoolFull(Exception):
    """The spool is at ``max_bytes``; the caller answers 429 with Retry-After."""


class SpoolUnavailable(Exception):
    """The spool cannot write right now (disk full, I/O error); the caller answers 503."""


class Spool:
    """Append-only segment files under one directory. Thread-safe."""

    def __init__(
        self,
        directory: str | Path,
        *,
        fsync: str = "always",
        segment_rows: int = 5000,
        max_age: float = 0.2,
        max_wait: float | None = None,
        max_bytes: int = 1 << 30,
        max_cached_rows: int = 50_000,
        min_free_bytes: int = DEFAULT_MIN_FREE_BYTES,
        opener: Callable[[Path], BinaryIO] | None = None,
    ) -> None:
        if fsync not in ("always", "never"):
            raise ValueError(f"fsync policy must be 'always' or 'never', got {fsync!r}")
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self.segment_rows = segment_rows
        self.max_age = max_age
        # A busy spool (a tenth of a segment within max_age) fills its segment for up to max_wait.
        self.max_wait = max(max_age, max_wait if max_wait is not None else 5 * max_age)
        self.busy_rows = max(1, segment_rows // 10)
        self.max_bytes = max_bytes
        self.max_cached_rows = max_cached_rows
        self.min_free_bytes = min_free_bytes
        self._opener = opener or _open_for_append  # the file seam (fault-injection tests replace it)
        self._lock = threading.Lock()  # guards segments and the open file
        self._sync_lock = threading.Lock()
        self._sealed: list[Segment] = []
        self._cached_rows = 0
        for path in sorted(self.dir.glob(f"{_PREFIX}*{_SUFFIX}")):
            seq = int(path.name[len(_PREFIX):-len(_SUFFIX)].split("-")[0])
            self._sealed.append(Segment(seq, path, size=path.stat().st_size, row_count=-1))
        self._sealed.sort(key=lambda seg: seg.seq)
        self.replayed_segments = len(self._sealed)
        self._next_seq = (self._sealed[-1].seq + 1) if self._sealed else 1
        self._open: Segment | None = None
        self._fh: BinaryIO | None = None
        self._written = 0  # frames written (monotonic)
        self._synced = 0  # frames known to be on disk
        self._doubtful: list[tuple[int, int]] = []  # frame ranges a failed fsync should have covered
        self.total_bytes = sum(s.size for s in self._sealed)
        self.available = threading.Condition(self._lock)
        self._consumer_released = False
        self.last_error: tuple[float, str] | None = None  # (monotonic time, reason) of the last refusal

    # -- producer side -----------------------------------------------------------------
    def append(self, rows: Rows, kind: str = "spans") -> int:
        """Write one frame; returns its number for :meth:`sync`.

        Raises :class:`SpoolFull` at ``max_bytes`` and :class:`SpoolUnavailable` when the disk
        is (nearly) full or the write fails.
        """
        frame = _frame(kind, rows)
        with self._lock:
            if self.total_bytes + len(frame) > self.max_bytes:
                raise SpoolFull(f"spool holds {self.total_bytes} bytes (limit {self.max_bytes})")
            self._check_free_space(len(frame))
            if self._open is None:
                self._start_segment()
            assert self._open is not None and self._fh is not None
            seg, good = self._open, self._open.size
            try:
                self._fh.write(frame)
                self._fh.flush()  # into the OS page cache: survives a process crash
            except OSError as exc:
                self._cut_back(seg, good)
                raise self._refuse(f"spool write failed: {_describe(exc)}") from exc
            seg.size += len(frame)
            seg.row_count += len(rows)
            self.total_bytes += len(frame)
            if seg.rows is not None:
                if self._cached_rows + len(rows) <= self.max_cached_rows:
                    seg.rows.setdefault(kind, []).extend(rows)
                    self._cached_rows += len(rows)
                else:  # too much waiting in memory: the writer will read this segment from disk
                    self._cached_rows -= sum(len(r) for r in seg.rows.values())
                    seg.rows = None
            self._written += 1
            frame_no = self._written
            self.last_error = None
            if seg.row_count >= self.segment_rows:
                self._seal_locked()
        return frame_no

    def sync(self, frame_no: int) -> None:
        """Block until frame ``frame_no`` is fsynced (group commit); no-op with fsync=never.

        Raises :class:`SpoolUnavailable` if the fsync that should cover the frame failed.
        """
        if self.fsync != "always":
            return
        with self._sync_lock:
            if any(lo <= frame_no <= hi for lo, hi in self._doubtful):
                raise SpoolUnavailable("spool fsync failed; the request was not stored")
            if self._synced >= frame_no:
                return  # another request's fsync already covered this frame
            # Appends wait while we sync; they are then covered by the next group commit.
            with self._lock:
                written = self._written
                try:
                    if self._fh is not None:
                        os.fsync(self._fh.fileno())
                    for seg in self._sealed:
                        if seg.needs_sync:
                            _fsync_path(seg.path)
                            seg.needs_sync = False
                except OSError as exc:
                    # Frames the failed fsync should have covered are in doubt: never acknowledge
                    # them, and write no more behind them (a new segment starts).
                    self._doubtful = [*self._doubtful[-99:], (self._synced + 1, written)]
                    self._synced = written  # later frames go to a new segment with their own fsync
                    self._seal_locked()
                    raise self._refuse(f"spool fsync failed: {_describe(exc)}") from exc
                self._synced = written

    # -- consumer side -----------------------------------------------------------------
    def take(self, timeout: float) -> Segment | None:
        """The oldest sealed segment, sealing an old open one; None after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                ripe_in = self._ripe_in(time.monotonic())
                if ripe_in is not None and ripe_in <= 0:
                    self._seal_locked()
                if self._sealed:
                    return self._sealed[0]
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._consumer_released:
                    return None
                self.available.wait(min(remaining, ripe_in) if ripe_in is not None and ripe_in > 0 else remaining)

    def _ripe_in(self, now: float) -> float | None:
        """Seconds until the open segment is to be sealed (≤ 0: now); None without one.

        It is sealed ``max_age`` after its first row; but when it already holds ``busy_rows``
        by then, requests are arriving fast, and it keeps filling until ``segment_rows`` (sealed
        on append) or ``max_wait``: every insert has a fixed cost in the store, so a busy
        collector stores fewer, larger batches (docs/performance.md, batch size)."""
        if self._open is None:
            return None
        age = now - self._open.created
        if age < self.max_age:
            return self.max_age - age
        if self._open.row_count < self.busy_rows:
            return 0.0
        return self.max_wait - age

    def done(self, seg: Segment) -> None:
        """The segment is stored: delete it."""
        with self._lock:
            self._sealed.remove(seg)
            self.total_bytes -= seg.size
            if seg.rows is not None:
                self._cached_rows -= sum(len(r) for r in seg.rows.values())
        _attempt_path(seg).unlink(missing_ok=True)  # first: a segment without one is looked up again
        seg.path.unlink(missing_ok=True)

    def record_attempt(self, seg: Segment, attempt: dict[tuple[str, str, str], str]) -> None:
        """Record the spans about to be inserted from ``seg``: (project, trace id, span id) →
        chain hash (durably when the spool fsyncs); raises OSError when the disk cannot take it."""
        path = _attempt_path(seg)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump([[*k, h] for k, h in attempt.items()], fh, separators=(",", ":"))
            fh.flush()
            if self.fsync == "always":
                os.fsync(fh.fileno())
        os.replace(tmp, path)
        if self.fsync == "always":
            _fsync_path(self.dir)

    def attempted(self, seg: Segment) -> dict[tuple[str, str, str], str] | None:
        """What an earlier insert of ``seg`` sent (key → chain hash), or None when there was
        none (or its record is unreadable: it was torn before that insert began)."""
        try:
            entries = json.loads(_attempt_path(seg).read_text(encoding="utf-8"))
            return {(str(p), str(t), str(s_)): str(h) for p, t, s_, h in entries}
        except (OSError, ValueError, TypeError):
            return None

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

    def problems(self, recent_s: float = 30.0) -> list[str]:
        """Why the spool would refuse a request now (for ``/readyz``); empty when it would not."""
        out = []
        free = _free_bytes(self.dir)
        if free is not None and free < self.min_free_bytes:
            out.append(f"disk nearly full: {free} bytes free in {self.dir} (needs {self.min_free_bytes})")
        error = self.last_error
        if error is not None and time.monotonic() - error[0] < recent_s and error[1] not in out:
            out.append(error[1])
        return out

    def release_consumer(self) -> None:
        """Shutdown: a consumer waiting in :meth:`take` (and any later call) returns at once."""
        with self._lock:
            self._consumer_released = True
            self.available.notify_all()

    def close(self) -> None:
        with self._lock:
            self._seal_locked()

    # -- internals ---------------------------------------------------------------------
    def _refuse(self, reason: str) -> SpoolUnavailable:
        self.last_error = (time.monotonic(), reason)
        log.error("%s; ingest answers 503 until it can write again", reason)
        return SpoolUnavailable(reason)

    def _check_free_space(self, needed: int) -> None:
        free = _free_bytes(self.dir)
        if free is not None and free < needed + self.min_free_bytes:
            raise self._refuse(f"disk nearly full: {free} bytes free in {self.dir} "
                               f"(keeps {self.min_free_bytes} free)")

    def _start_segment(self) -> None:
        # A random part makes every segment's name unique across restarts and collectors: the
        # writer's insert deduplication token is named after it.
        path = self.dir / f"{_PREFIX}{self._next_seq:012d}-{uuid.uuid4().hex[:16]}{_SUFFIX}"
        try:
            fh = self._opener(path)
            if self.fsync == "always":
                _fsync_path(self.dir)  # the new directory entry must survive a crash too
        except OSError as exc:
            raise self._refuse(f"spool cannot open a segment: {_describe(exc)}") from exc
        self._next_seq += 1
        self._fh = fh
        self._open = Segment(self._next_seq - 1, path, rows={})

    def _cut_back(self, seg: Segment, good: int) -> None:
        """After a failed write: truncate to the last whole frame, then seal (no frame may follow)."""
        assert self._fh is not None
        try:
            self._fh.truncate(good)
        except OSError:
            log.exception("spool %s: could not truncate a failed write at byte %d; the segment is sealed, "
                          "so the torn frame stays its last", seg.path.name, good)
        self._seal_locked()

    def _seal_locked(self) -> None:
        if self._open is None:
            return
        fh, seg = self._fh, self._open
        self._open, self._fh = None, None
        try:
            assert fh is not None
            fh.close()
        except OSError:  # closing flushes: a full disk can fail here; the frames were flushed already
            log.exception("spool %s: error closing the segment", seg.path.name)
        if self.fsync == "always" and self._synced < self._written:
            seg.needs_sync = True
        if seg.size == 0:  # nothing was written (a failed first write): no segment to replay
            seg.path.unlink(missing_ok=True)
        else:
            self._sealed.append(seg)
            self.available.notify_all()


def _open_for_append(path: Path) -> BinaryIO:
    return open(path, "ab")  # noqa: SIM115 - closed by Spool._seal_locked


def _describe(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on device"
    return exc.strerror or str(exc)


def _free_bytes(path: Path) -> int | None:
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def _attempt_path(seg: Segment) -> Path:
    return seg.path.with_suffix(".attempt")


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
