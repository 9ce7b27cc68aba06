"""The collector's per-day budgets (project / agent / user), asked before a call starts.

Budgets are set by admins on the collector (``/api/admin/budgets``) and summed there from
the usage rollups, so they bound *all* runs of a user or agent today, across processes. A run
with ``Limits(daily_budget=True)`` asks ``GET /api/budget/remaining`` (the ingest key is
enough) before each LLM or tool call, at most once per ``ttl_s`` per (agent, user).

Fail-open by design: if the collector cannot be reached, the call goes ahead and the problem
is logged once — a monitoring outage must not stop every agent. Local ``Limits`` still apply.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

_logger = logging.getLogger("flightlog")
DEFAULT_TTL_S = 5.0
DEFAULT_TIMEOUT_S = 2.0


class RemoteBudget:
    """A small TTL cache in front of the collector's budget endpoint."""

    def __init__(self, *, ttl_s: float = DEFAULT_TTL_S, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self._ttl = ttl_s
        self._timeout = timeout_s
        self._cache: dict[tuple[str, str, str], tuple[float, dict[str, Any] | None]] = {}
        self._lock = threading.Lock()
        self._warned = False

    def status(self, traces_url: str, headers: dict[str, str], agent: str, user: str) -> dict[str, Any] | None:
        """The endpoint's answer (``{"exhausted": bool, "budgets": [...]}``), or None if unknown."""
        key = (traces_url, agent, user)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        base = traces_url[: -len("/v1/traces")] if traces_url.endswith("/v1/traces") else traces_url.rstrip("/")
        url = f"{base}/api/budget/remaining?" + urllib.parse.urlencode({"agent": agent, "user": user})
        answer: dict[str, Any] | None = None
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=self._timeout) as resp:
                answer = json.load(resp)
            self._warned = False
        except (urllib.error.URLError, OSError, ValueError) as exc:
            if not self._warned:
                _logger.warning("flightlog: cannot check daily budgets at %s (%s); calls are allowed", url, exc)
                self._warned = True
        with self._lock:
            if len(self._cache) > 1000:
                self._cache.clear()
            self._cache[key] = (now, answer)
        return answer

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()


REMOTE = RemoteBudget()
