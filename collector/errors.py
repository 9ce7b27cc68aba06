"""Collector errors; one exception handler in :mod:`flightlog.collector.app` maps them to HTTP.

    CollectorError (500)
    ├── BadRequest (400)             malformed body, bad ids, bad query parameters
    ├── Unauthorized (401)           no key, or a key we do not know
    ├── Forbidden (403)              a known key whose role may not do this
    ├── NotFound (404)
    ├── PayloadTooLarge (413)        body (or its decompressed form) over the limit
    ├── UnsupportedMediaType (415)   content type or encoding we do not speak
    ├── TooManyRequests (429)        the spool is full: back off and retry (OTLP throttling)
    └── Unavailable (503)            the store or the collector cannot take writes right now
"""

from __future__ import annotations

#: Seconds a client is told to wait (``Retry-After``, gRPC ``RetryInfo``) on 429 and 503.
RETRY_AFTER_S = 5


class CollectorError(Exception):
    """Base of the collector's errors; ``status`` is the HTTP status it maps to."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(CollectorError):
    """The request body or parameters are malformed; the message says where."""

    status = 400


class Unauthorized(CollectorError):
    """No API key was sent, or the key is unknown or revoked."""

    status = 401


class Forbidden(CollectorError):
    """The key is valid but its role does not allow this endpoint."""

    status = 403


class NotFound(CollectorError):
    """The requested trace (or other object) does not exist in the key's project."""

    status = 404


class PayloadTooLarge(CollectorError):
    """The body, compressed or decompressed, is larger than the configured limit."""

    status = 413


class UnsupportedMediaType(CollectorError):
    """The Content-Type or Content-Encoding is not one OTLP/HTTP defines."""

    status = 415


class TooManyRequests(CollectorError):
    """The spool is at its limit; the client should retry after ``Retry-After`` seconds."""

    status = 429


class Unavailable(CollectorError):
    """The store cannot accept writes now; clients should retry (OTLP throttling)."""

    status = 503
