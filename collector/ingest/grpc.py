"""OTLP/gRPC ingest: ``TraceService``, ``LogsService`` and ``MetricsService`` ``/Export`` on the collector's loop.

The server is a ``grpc.aio`` server started from the app's lifespan, so it runs on the same
event loop as uvicorn and shares the collector's auth, decoding and the one ingest path
(:func:`.ingest.accept_spans`) with OTLP/HTTP. Servicers are thin:
authorise from metadata, flatten the already-parsed request, hand it to the shared path.

Collector errors are translated at this boundary (H5) by :func:`grpc_status`:

    BadRequest, PayloadTooLarge,
    UnsupportedMediaType            → INVALID_ARGUMENT   (do not retry: the data is wrong)
    Unauthorized                    → UNAUTHENTICATED
    Forbidden                       → PERMISSION_DENIED
    NotFound                        → NOT_FOUND
    TooManyRequests (429)           → RESOURCE_EXHAUSTED + RetryInfo
    Unavailable (503), StorageError → UNAVAILABLE        + RetryInfo
    any other CollectorError        → INTERNAL

RetryInfo (OTLP throttling) travels twice in the trailing metadata: inside the
``google.rpc.Status`` of ``grpc-status-details-bin`` (what the OTel Collector and the Go
exporters read) and as ``google.rpc.retryinfo-bin`` (what the Python exporter reads).

Request bytes are parsed by the generated deserializers, wrapped by :class:`_ParseInServicer`
so that an oversize or corrupt message is refused by the servicer after the key check, with
INVALID_ARGUMENT, rather than by gRPC with UNKNOWN.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.any_pb2 import Any as AnyProto
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import DecodeError
from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from starlette.concurrency import run_in_threadpool

from flightlog.storage import StorageError

from flightlog.collector import errors
from flightlog.collector.auth import INGEST_ROLES
from flightlog.collector.ingest.decode import logs_from_request, spans_from_request
from flightlog.collector.ingest.routes import accept_logs, accept_metrics, accept_spans

log = logging.getLogger(__name__)

RETRY_DELAY_S = errors.RETRY_AFTER_S
"""Back-off asked of clients on RESOURCE_EXHAUSTED/UNAVAILABLE: the HTTP side's Retry-After."""

GRPC_PORT_ENV = "FLIGHTLOG_GRPC_PORT"
STATUS_DETAILS_KEY = "grpc-status-details-bin"
RETRY_INFO_KEY = "google.rpc.retryinfo-bin"
HARD_LIMIT_FACTOR = 2
"""gRPC itself refuses messages over this many times ``max_body_bytes`` before reading them
(as RESOURCE_EXHAUSTED, its own rule); between the limit and that, we answer INVALID_ARGUMENT."""

_CODES: dict[type[Exception], grpc.StatusCode] = {
    errors.BadRequest: grpc.StatusCode.INVALID_ARGUMENT,
    errors.PayloadTooLarge: grpc.StatusCode.INVALID_ARGUMENT,
    errors.UnsupportedMediaType: grpc.StatusCode.INVALID_ARGUMENT,
    errors.Unauthorized: grpc.StatusCode.UNAUTHENTICATED,
    errors.Forbidden: grpc.StatusCode.PERMISSION_DENIED,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.TooManyRequests: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
    StorageError: grpc.StatusCode.UNAVAILABLE,
    errors.CollectorError: grpc.StatusCode.INTERNAL,
}
_RETRYABLE = frozenset({grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE})


@dataclass(frozen=True)
class GrpcStatus:
    """How one refused export is answered: code, details text and trailing metadata."""

    code: grpc.StatusCode
    message: str
    trailing_metadata: tuple[tuple[str, bytes], ...] = ()

    @property
    def retry_info(self) -> RetryInfo | None:
        """The RetryInfo carried in ``grpc-status-details-bin``, if any."""
        for key, value in self.trailing_metadata:
            if key == STATUS_DETAILS_KEY:
                status = Status.FromString(value)
                for detail in status.details:
                    info = RetryInfo()
                    if detail.Unpack(info):
                        return info
        return None


def grpc_status(exc: Exception, *, retry_delay_s: int = RETRY_DELAY_S) -> GrpcStatus:
    """Translate a collector (or storage) error into the gRPC status an OTLP exporter expects."""
    code = next((_CODES[cls] for cls in type(exc).__mro__ if cls in _CODES), grpc.StatusCode.INTERNAL)
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    if isinstance(exc, StorageError):
        message = f"store unavailable: {message}"
    if code not in _RETRYABLE:
        return GrpcStatus(code, message)
    retry = RetryInfo(retry_delay=Duration(seconds=retry_delay_s))
    detail = AnyProto()
    detail.Pack(retry)
    status = Status(code=code.value[0], message=message, details=[detail])
    return GrpcStatus(code, message, (
        (STATUS_DETAILS_KEY, status.SerializeToString()),
        (RETRY_INFO_KEY, retry.SerializeToString()),
    ))


def _headers(context: grpc.aio.ServicerContext) -> dict[str, str]:
    """Invocation metadata as the lower-case header mapping :mod:`.auth` reads (text keys only)."""
    return {
        key.lower(): value
        for key, value in (context.invocation_metadata() or ())
        if isinstance(value, str)
    }


@dataclass(frozen=True)
class _Unreadable:
    """Stands in for a request message that was too large or not valid protobuf.

    Parsing happens in gRPC's deserializer, before the servicer runs; refusing there would
    answer UNKNOWN and skip auth. So the error is carried to the servicer, which raises it
    after checking the key (the same order as OTLP/HTTP).
    """

    error: errors.CollectorError


class _ParseInServicer(grpc.aio.ServerInterceptor):
    """Wraps the generated deserializers: oversize or corrupt bytes become :class:`_Unreadable`."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None or handler.request_deserializer is None:
            return handler
        parse, max_bytes = handler.request_deserializer, self.max_bytes

        def lenient(data: bytes) -> Any:
            if len(data) > max_bytes:
                return _Unreadable(errors.PayloadTooLarge(
                    f"message of {len(data)} bytes exceeds the limit of {max_bytes} bytes (FLIGHTLOG_MAX_BODY_BYTES)"))
            try:
                return parse(data)
            except DecodeError as exc:
                return _Unreadable(errors.BadRequest(f"message is not a valid OTLP protobuf request: {exc}"))

        return grpc.unary_unary_rpc_method_handler(
            handler.unary_unary, request_deserializer=lenient, response_serializer=handler.response_serializer)


class _Ingest:
    """Authorise and refuse in one place, so both services answer errors the same way."""

    def __init__(self, collector: Any) -> None:
        self.collector = collector

    async def authorise(self, request: Any, context: grpc.aio.ServicerContext) -> str:
        """The key's project, then refuse an unreadable message; raises collector errors."""
        key = await run_in_threadpool(self.collector.auth.require, _headers(context), INGEST_ROLES)
        if isinstance(request, _Unreadable):
            raise request.error
        return key.project

    async def refuse(self, exc: Exception, context: grpc.aio.ServicerContext) -> None:
        status = grpc_status(exc)
        if isinstance(exc, StorageError):
            log.error("storage error on gRPC export: %s", exc)
        self.collector.metrics.requests_rejected.labels(str(getattr(exc, "status", 503))).inc()
        await context.abort(status.code, status.message, trailing_metadata=status.trailing_metadata)


class TraceService(trace_service_pb2_grpc.TraceServiceServicer, _Ingest):
    """``opentelemetry.proto.collector.trace.v1.TraceService``."""

    async def Export(  # noqa: N802 (the generated servicer's name)
        self, request: ExportTraceServiceRequest, context: grpc.aio.ServicerContext
    ) -> ExportTraceServiceResponse:
        try:
            project = await self.authorise(request, context)
            raw = await run_in_threadpool(spans_from_request, request)
            accepted = await accept_spans(self.collector, project, raw)
        except (errors.CollectorError, StorageError) as exc:
            await self.refuse(exc, context)
        return trace_response(accepted)


class LogsService(logs_service_pb2_grpc.LogsServiceServicer, _Ingest):
    """``opentelemetry.proto.collector.logs.v1.LogsService``: GenAI content events for spans."""

    async def Export(  # noqa: N802 (the generated servicer's name)
        self, request: ExportLogsServiceRequest, context: grpc.aio.ServicerContext
    ) -> ExportLogsServiceResponse:
        try:
            project = await self.authorise(request, context)
            records = await run_in_threadpool(logs_from_request, request)
            await accept_logs(self.collector, project, records)
        except (errors.CollectorError, StorageError) as exc:
            await self.refuse(exc, context)
        return ExportLogsServiceResponse()


class MetricsService(metrics_service_pb2_grpc.MetricsServiceServicer, _Ingest):
    """``opentelemetry.proto.collector.metrics.v1.MetricsService``: GenAI client metrics and others."""

    async def Export(  # noqa: N802 (the generated servicer's name)
        self, request: ExportMetricsServiceRequest, context: grpc.aio.ServicerContext
    ) -> ExportMetricsServiceResponse:
        try:
            project = await self.authorise(request, context)
            await accept_metrics(self.collector, project, request)
        except (errors.CollectorError, StorageError) as exc:
            await self.refuse(exc, context)
        return ExportMetricsServiceResponse()


def trace_response(accepted: int | tuple[int, int]) -> ExportTraceServiceResponse:
    """The Export answer. ``accept_spans`` returns an int today; a ``(accepted, rejected)``
    pair from it becomes OTLP ``partial_success.rejected_spans``."""
    response = ExportTraceServiceResponse()
    if isinstance(accepted, tuple):
        rejected = accepted[1]
        if rejected:
            response.partial_success.rejected_spans = rejected
            response.partial_success.error_message = f"{rejected} spans were rejected"
    return response


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


async def start_grpc_server(collector: Any, host: str, port: int) -> grpc.aio.Server:
    """Start OTLP/gRPC on ``host:port`` on the running loop; the caller awaits ``stop(grace)``.

    Raises RuntimeError naming the port if it cannot be bound (taken, or not allowed).
    """
    max_bytes = collector.settings.max_body_bytes
    server = grpc.aio.server(interceptors=[_ParseInServicer(max_bytes)], options=[
        ("grpc.max_receive_message_length", max_bytes * HARD_LIMIT_FACTOR),
        # Without this a second process could silently share the port (SO_REUSEPORT).
        ("grpc.so_reuseport", 0),
    ])
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceService(collector), server)
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(LogsService(collector), server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(MetricsService(collector), server)
    address = _address(host, port)
    refusal = (f"cannot listen for OTLP/gRPC on {address}: port {port} is in use or not allowed; "
               f"choose another with --grpc-port or {GRPC_PORT_ENV}, or 0 to turn gRPC off")
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as exc:  # grpcio ≥ 1.5x raises; older releases returned 0
        raise RuntimeError(f"{refusal} ({exc})") from exc
    if not bound:
        raise RuntimeError(refusal)
    await server.start()
    log.info("OTLP/gRPC listening on %s", _address(host, bound))
    return server


__all__ = ["GrpcStatus", "LogsService", "MetricsService", "TraceService", "grpc_status", "start_grpc_server", "trace_response"]
