"""The access-log ASGI middleware: records every ``/api/…`` request (key id, role, endpoint,
parameters, status, rows) into the ``AuditServices`` access-log buffer.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flightlog.storage.keys import KeyRecord

from flightlog.collector.auth import key_from_headers
from flightlog.collector.errors import CollectorError

if TYPE_CHECKING:
    from flightlog.collector.audit.services import AuditServices

MAX_COUNTED_BODY = 8 * 1024 * 1024  # larger JSON answers are logged with rows = -1 → 0


_ROW_KEYS = ("rows", "spans", "entries", "checkpoints", "keys", "traces", "items", "holds", "budgets", "alerts",
             "queue", "scores", "points", "series", "changes", "results", "models", "steps")


def count_rows(payload: Any) -> int:
    """Rows in a JSON answer: a list's length, else the first list under a known key, else 1."""
    if isinstance(payload, list):
        return len(payload)
    if isinstance(payload, dict):
        for key in _ROW_KEYS:
            if isinstance(payload.get(key), list):
                return len(payload[key])
        return 1
    return 0


class AccessLogMiddleware:
    """Records every ``/api/…`` request (key id, role, endpoint, parameters, status, rows)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        seen: dict[str, Any] = {"status": 0, "json": False, "body": [], "size": 0}

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                headers = dict(message.get("headers") or [])
                seen["json"] = headers.get(b"content-type", b"").startswith(b"application/json")
            elif message["type"] == "http.response.body" and seen["json"]:
                body = message.get("body", b"")
                seen["size"] += len(body)
                if seen["size"] <= MAX_COUNTED_BODY:
                    seen["body"].append(body)
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            self._record(scope, seen, (time.perf_counter() - started) * 1000)

    def _record(self, scope: Scope, seen: dict[str, Any], duration_ms: float) -> None:
        app = scope.get("app")
        collector = getattr(getattr(app, "state", None), "collector", None)
        services: AuditServices | None = getattr(collector, "audit", None)
        if services is None or collector is None:
            return
        from starlette.datastructures import Headers, QueryParams

        record: KeyRecord | None = None
        try:
            record = collector.auth.lookup(key_from_headers(Headers(scope=scope)))
        except CollectorError:
            record = None
        rows = (scope.get("state") or {}).get("flightlog_rows")
        if rows is None:
            rows = 0
            if seen["json"] and 200 <= seen["status"] < 300 and seen["size"] <= MAX_COUNTED_BODY:
                try:
                    rows = count_rows(json.loads(b"".join(seen["body"]) or b"null"))
                except ValueError:
                    rows = 0
        query = QueryParams(scope.get("query_string", b""))
        params: dict[str, Any] = {}
        for k in query.keys():
            values = query.getlist(k)
            params[k] = values if len(values) > 1 else values[0]
        params.update({f"path.{k}": str(v) for k, v in (scope.get("path_params") or {}).items()})
        route = scope.get("route")
        client = scope.get("client") or ("", 0)
        services.record_access([
            int(time.time() * 1000), record.project if record else "", record.key_id if record else "",
            record.role if record else "", scope.get("method", ""), getattr(route, "path", "unmatched"),
            scope["path"], json.dumps(params, sort_keys=True), int(seen["status"]), int(rows), duration_ms,
            str(client[0]),
        ])
