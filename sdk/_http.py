"""A small JSON client for the collector's API (``/api/...``), on the standard library only.

The SDK's base install has no HTTP client dependency, so the control loop (the control state
long-poll, the approval inbox) talks to the collector with :mod:`http.client`. The API's base URL
is derived from the traces endpoint (``http://host:4318/v1/traces`` → ``http://host:4318``), and
the export headers (the ingest key) are sent with every request.

Network problems raise :class:`Unreachable`; any HTTP answer, including errors, is returned.
A request in flight can be cancelled from another thread (``Request.cancel``), which is how the
long-polling threads stop at ``shutdown()`` without waiting for the server.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import urllib.parse
from collections.abc import Mapping
from typing import Any

from . import _env

_SKIPPED_HEADERS = frozenset({"content-type", "content-length", "content-encoding", "host", "accept"})


class Unreachable(Exception):
    """The collector could not be reached (refused, reset, timed out, bad answer)."""


def api_base(traces_url: str) -> str:
    """``http://host:port`` (plus any path prefix) from the OTLP traces URL."""
    suffix = _env.DEFAULT_TRACES_PATH
    base = traces_url[: -len(suffix)] if traces_url.endswith(suffix) else traces_url
    return base.rstrip("/")


def api_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The export headers fit to send to the API (the key; not the OTLP content headers)."""
    return {k: v for k, v in headers.items() if k.lower() not in _SKIPPED_HEADERS}


class Response:
    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.body = body

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None

    def error(self) -> str:
        """The API's error message (``{"error": ...}``), else the start of the body."""
        data = self.json()
        if isinstance(data, dict) and isinstance(data.get("error"), str):
            return data["error"]
        return self.body[:300].decode("utf-8", "replace") or f"HTTP {self.status}"


class Request:
    """One HTTP request that another thread may cancel while it waits for the answer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conn: http.client.HTTPConnection | None = None
        self._cancelled = False

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            conn = self._conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def send(self, method: str, url: str, *, headers: Mapping[str, str], body: Any = None,
             timeout: float, on_connected: Any = None) -> Response:
        """Send and read the answer; ``on_connected()`` is called once the connection is open."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Unreachable(f"not an http(s) URL: {url!r}")
        cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = cls(parts.hostname, parts.port, timeout=timeout)
        with self._lock:
            if self._cancelled:
                raise Unreachable("cancelled")
            self._conn = conn
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        sent = dict(headers)
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False, default=str).encode("utf-8")
            sent["Content-Type"] = "application/json"
        sent.setdefault("Accept", "application/json")
        try:
            conn.connect()
            if on_connected is not None:
                on_connected()
            conn.request(method, path, body=data, headers=sent)
            answer = conn.getresponse()
            payload = answer.read()
            return Response(answer.status, dict(answer.getheaders()), payload)
        except (OSError, http.client.HTTPException) as exc:
            if self._cancelled:
                raise Unreachable("cancelled") from exc
            raise Unreachable(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from exc
        finally:
            with self._lock:
                self._conn = None
            conn.close()


def send(method: str, url: str, *, headers: Mapping[str, str], body: Any = None, timeout: float) -> Response:
    """One request (not cancellable); raises :class:`Unreachable` on a network problem."""
    return Request().send(method, url, headers=headers, body=body, timeout=timeout)
