"""Store-wide leases: one holder at a time among every collector on a ClickHouse server
(docs/decisions/0030-one-writer-at-a-time-through-a-store-lease.md).

ClickHouse has no transactions or unique keys, but it has one atomic compare-and-set: an
insert whose ``insert_deduplication_token`` was already used is dropped, whatever its rows.
A lease is a row per *epoch* in ``store_leases``; taking it means inserting epoch ``n + 1``
(token ``lease:<name>:<n + 1>``) and reading back who owns that epoch: of several collectors
racing for the same epoch exactly one row is stored. Releasing is taking the next epoch for
nobody, which fails harmlessly if someone already took over. A lease runs out ``ttl_s`` after
it was taken (on the server's clock), so a holder killed with SIGKILL blocks the others for at
most that long; its own restart (same owner id) takes it back at once.

A holder must finish what it does under the lease well within the TTL: :meth:`Lease.check`
raises before the protected write when too much of it has gone, and the caller retries.

The embedded store is one process per data directory (docs/decisions/0001), so there a lease
is a plain in-process lock.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Iterator

from .errors import StorageError, StorageUnavailable
from .store import Store

log = logging.getLogger(__name__)

DEFAULT_TTL_S = 10.0
# A holder stops using its lease once this fraction of the TTL has gone (clock drift and the
# time the protected write itself takes fit in the rest).
USABLE_FRACTION = 0.6
POLL_S = 0.03

LEASES_TABLE = (
    "CREATE TABLE IF NOT EXISTS store_leases "
    "(Name LowCardinality(String), Epoch UInt64, Owner String, Until DateTime64(3), At DateTime DEFAULT now()) "
    "ENGINE = MergeTree ORDER BY (Name, Epoch) TTL At + INTERVAL 7 DAY "
    "SETTINGS non_replicated_deduplication_window = 1000"
)
"""Created before the migrations run (they take the ``migrations`` lease)."""


class LeaseLost(StorageUnavailable):
    """The lease could not be taken in time, or ran too short for the write it guards."""


class Lease:
    """One named lease, held by ``owner`` (a collector's instance id). Thread-safe."""

    def __init__(self, store: Store, name: str, owner: str, *, ttl_s: float = DEFAULT_TTL_S) -> None:
        self.store = store
        self.name = name
        self.owner = owner
        self.ttl_s = ttl_s
        self._local = threading.Lock()  # one thread of this process at a time, then the store
        self._epoch = 0
        self._usable_until = 0.0  # monotonic
        self.shared = not store.settings.embedded
        self.waits = 0  # times another holder made this one wait (for metrics and tests)

    # -- public ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def hold(self, timeout: float = 30.0) -> Iterator[Lease]:
        """Hold the lease for the block (waiting up to ``timeout`` s for another holder)."""
        if not self._local.acquire(timeout=timeout):
            raise LeaseLost(f"lease {self.name!r} busy in this process for {timeout:.0f}s")
        try:
            if self.shared:
                self._acquire(time.monotonic() + timeout)
            try:
                yield self
            finally:
                if self.shared:
                    self._release()
        finally:
            self._local.release()

    def try_hold(self) -> contextlib.AbstractContextManager[Lease | None]:
        """Hold the lease for the block if nobody else holds it now, else yield None."""
        return self._try()

    def usable(self) -> bool:
        """Whether the holder may still act under the lease (see :meth:`check`)."""
        return not self.shared or time.monotonic() < self._usable_until

    def check(self) -> None:
        """Raise :class:`LeaseLost` if the lease may have run out (the guarded write must not go on)."""
        if self.shared and time.monotonic() >= self._usable_until:
            raise LeaseLost(f"lease {self.name!r} held too long ({self.ttl_s * USABLE_FRACTION:.1f}s); retrying")

    # -- internals ------------------------------------------------------------------------
    @contextlib.contextmanager
    def _try(self) -> Iterator[Lease | None]:
        if not self._local.acquire(blocking=False):
            yield None
            return
        try:
            if self.shared and not self._attempt():
                yield None
                return
            try:
                yield self
            finally:
                if self.shared:
                    self._release()
        finally:
            self._local.release()

    def _latest(self) -> tuple[int, str, int, int]:
        """(epoch, owner, until ms, server now ms) of the newest epoch; epoch 0 when none."""
        rows = self.store.query_rows(
            "SELECT Epoch, Owner, toUnixTimestamp64Milli(Until), toUnixTimestamp64Milli(now64(3))"
            " FROM store_leases WHERE Name = {n:String} ORDER BY Epoch DESC LIMIT 1", {"n": self.name})
        if rows:
            epoch, owner, until, now = rows[0]
            return int(epoch), str(owner), int(until), int(now)
        day, now = self.store.query_rows(
            "SELECT toUnixTimestamp(toStartOfDay(now(), 'UTC')), toUnixTimestamp64Milli(now64(3))")[0]
        # No row (a new store, or a week idle: the table's TTL removed every row). Every taker
        # must start from the same epoch, or each would win its own; and above any epoch the
        # name had, so no old deduplication token matches: the day's start (in µs) does both.
        return int(day) * 1_000_000, "", 0, int(now)

    def _attempt(self) -> bool:
        """One try at the next epoch; True when this owner holds the lease now."""
        started = time.monotonic()
        epoch, owner, until, now = self._latest()
        if owner and owner != self.owner and until > now:
            return False
        nxt = epoch + 1
        self.store.insert("store_leases", [[self.name, nxt, self.owner, _ms(now + int(self.ttl_s * 1000))]],
                          ("Name", "Epoch", "Owner", "Until"), dedup_token=f"lease:{self.name}:{nxt}")
        won = self.store.query_rows(
            "SELECT Owner FROM store_leases WHERE Name = {n:String} AND Epoch = {e:UInt64} LIMIT 1",
            {"n": self.name, "e": nxt})
        if not won or won[0][0] != self.owner:
            return False
        self._epoch = nxt
        self._usable_until = started + self.ttl_s * USABLE_FRACTION
        return True

    def _acquire(self, deadline: float) -> None:
        waited = False
        while True:
            if self._attempt():
                if waited:
                    self.waits += 1
                return
            waited = True
            if time.monotonic() >= deadline:
                raise LeaseLost(f"lease {self.name!r} is held by another collector")
            time.sleep(POLL_S * random.uniform(0.5, 1.5))  # polling the store within a deadline

    def _release(self) -> None:
        nxt = self._epoch + 1
        self._usable_until = 0.0
        try:
            self.store.insert("store_leases", [[self.name, nxt, "", _ms(0)]], ("Name", "Epoch", "Owner", "Until"),
                              dedup_token=f"lease:{self.name}:{nxt}")
        except StorageError as exc:  # it runs out by itself within its TTL
            log.warning("could not release lease %r (it expires within %.0fs): %s", self.name, self.ttl_s, exc)


def _ms(value: int) -> object:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(value / 1000, tz=timezone.utc)
