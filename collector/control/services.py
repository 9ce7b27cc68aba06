"""The control loop's services in one process: approvals, the control state, notifications, the
job that expires and escalates approvals, and alert evaluation (built by :mod:`flightlog.collector.app`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from flightlog.storage import StorageError, Store
from flightlog.storage.leases import Lease

from flightlog.collector.control.alerts import AlertService
from flightlog.collector.control.approvals import ApprovalService
from flightlog.collector.control.events import Emit
from flightlog.collector.control.notify import Notifier
from flightlog.collector.control.state import ControlState

log = logging.getLogger(__name__)
EXPIRY_CHECK_S = 1.0


class ControlServices:
    def __init__(self, store: Store, *, emit: Emit, redact: Callable[[Any], Any], owner: str = "",
                 lease_s: float = 10.0, alert_interval_s: float = 60.0) -> None:
        # With other collectors on the store, decisions and deliveries take turns (docs/decisions/0030).
        shared = bool(owner) and not store.settings.embedded
        control = Lease(store, "control", owner, ttl_s=lease_s) if shared else None
        notify = Lease(store, "notify", owner, ttl_s=max(lease_s, 60.0)) if shared else None
        self.notifier = Notifier(store, lease=notify, instance=owner)
        self.alerts = AlertService(store, self.notifier, interval_s=alert_interval_s, instance=self.notifier.instance)
        self.approvals = ApprovalService(store, emit=emit, notify=self.notifier.queue, redact=redact, lease=control)
        self.state = ControlState(store, emit=emit, notify=self.notifier.queue, lease=control)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="flightlog-control", daemon=True)

    def start(self) -> None:
        self.notifier.start()
        self._thread.start()
        self.alerts.start()

    def _run(self) -> None:
        while not self._stop.wait(EXPIRY_CHECK_S):
            try:
                self.approvals.expire_due(self.notifier.escalate_after)
            except StorageError:
                log.warning("approval expiry check skipped: the store is unavailable")
            except Exception:  # the job must outlive one bad row; logged with its traceback
                log.exception("approval expiry check failed")

    def close(self) -> None:
        self._stop.set()
        self.alerts.close()
        if self._thread.ident is not None:
            self._thread.join(10)
        self.notifier.close()
