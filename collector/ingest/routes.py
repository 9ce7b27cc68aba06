"""OTLP/HTTP ingest routes: ``POST /v1/traces``, ``POST /v1/logs``, ``POST /v1/metrics``, and
Langfuse's OTLP path ``POST /api/public/otel/v1/traces`` (Basic auth: the Langfuse secret key is
a Flightlog ingest key, docs/connect/index.md (Langfuse SDK)).

Thin: read a bounded body, authorise, call the pure decode/normalise
functions, hand rows to the batch writer and answer once they are stored.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from starlette.concurrency import run_in_threadpool

from flightlog.collector.contract import PROTOBUF_BODY, ApiModel, ContractRoute, errors
from flightlog.collector.ingest import logs as log_records
from flightlog.collector.auth import INGEST_ROLES
from flightlog.collector.ingest.decode import JSON, PROTOBUF, decode_logs, decode_traces, media_type
from flightlog.collector.errors import BadRequest, PayloadTooLarge, Unauthorized, UnsupportedMediaType
from flightlog.collector.ingest.metrics import decode_metrics, metric_rows
from flightlog.collector.ingest.pipeline import finish_rows, rows_and_facts

router = APIRouter(tags=["ingest"], route_class=ContractRoute)


class ExportAnswer(ApiModel):
    """The JSON answer of ``POST /v1/traces``, ``/v1/logs`` and ``/v1/metrics``: an empty object (OTLP success)."""


def _documented(what: str, *statuses: int) -> dict[str, Any]:
    """The OpenAPI documentation of an OTLP/HTTP route: protobuf or JSON in, the same out."""
    return {
        "response_model": ExportAnswer,
        "responses": {
            200: {"description": f"Stored. A protobuf request gets an empty Export{what}ServiceResponse, a JSON "
                                 "request {}.", "content": {PROTOBUF: PROTOBUF_BODY}},
            **errors(*statuses, protobuf=True),
        },
        "openapi_extra": {"requestBody": {"required": True, "description": (
            f"An OTLP Export{what}ServiceRequest, as protobuf or as OTLP/JSON; Content-Encoding: gzip allowed."),
            "content": {PROTOBUF: PROTOBUF_BODY, JSON: {"schema": {"type": "object"}}}}},
    }


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, refusing (413) anything past ``max_bytes`` without buffering it all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > max_bytes:
                raise PayloadTooLarge(f"body of {declared} bytes exceeds the limit of {max_bytes} bytes")
        except ValueError as exc:
            raise BadRequest(f"Content-Length {declared!r} is not a number") from exc
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"body exceeds the limit of {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _check_content_type(request: Request) -> str:
    kind = media_type(request.headers.get("content-type"))
    if kind not in (PROTOBUF, JSON):
        raise UnsupportedMediaType(
            f"Content-Type {request.headers.get('content-type') or '(none)'!r} is not supported; "
            f"use {PROTOBUF} or {JSON}"
        )
    return kind


def _answer(kind: str, message: Any) -> Response:
    if kind == PROTOBUF:
        return Response(message.SerializeToString(), media_type=PROTOBUF)
    return Response(json.dumps({}), media_type=JSON)


async def accept_spans(collector: Any, project: str, raw: Sequence[Mapping[str, Any]]) -> int:
    """The one ingest path shared by OTLP/HTTP and OTLP/gRPC: check, normalise, store.

    Returns when the spans are durable in the spool (see :mod:`.writer`); raises collector errors.
    """
    limit = collector.settings.max_spans_per_request
    if len(raw) > limit:
        raise BadRequest(f"request has {len(raw)} spans; the limit is {limit} per request")

    def normalise_and_spool() -> int:
        rows, facts = rows_and_facts(raw, project=project, prices=collector.prices, settings=collector.settings,
                                     facts=getattr(collector, "trace_facts", None))
        return collector.writer.submit(rows, facts)

    stored = await run_in_threadpool(normalise_and_spool)
    collector.metrics.spans_received.inc(stored)
    return stored


async def accept_rows(collector: Any, project: str, rows: list[dict[str, Any]]) -> int:
    """The rest of :func:`accept_spans` for rows an ingest worker prepared: trace facts, usage
    counted once, price, spool. Returns when they are durable."""

    def finish_and_spool() -> int:
        finished, facts = finish_rows(rows, project=project, prices=collector.prices,
                                      facts=getattr(collector, "trace_facts", None))
        return collector.writer.submit(finished, facts)

    stored = await run_in_threadpool(finish_and_spool)
    collector.metrics.spans_received.inc(stored)
    return stored


async def accept_logs(collector: Any, project: str, records: list[Any]) -> int:
    """The one log-record ingest path (OTLP/HTTP and OTLP/gRPC): redact, spool, answer when durable."""

    def redact_and_spool() -> int:
        rows = log_records.records_to_rows(project, records, collector.settings)
        return collector.writer.submit_logs(rows)

    return await run_in_threadpool(redact_and_spool)


async def accept_metrics(collector: Any, project: str, request: Any) -> int:
    """The one metrics ingest path (OTLP/HTTP and OTLP/gRPC): rows per data point, spool, answer when durable."""

    def rows_and_spool() -> int:
        return collector.writer.submit_metrics(metric_rows(project, request))

    return await run_in_threadpool(rows_and_spool)


def langfuse_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers of a Langfuse SDK export with its Basic credentials turned into the key.

    Langfuse sends ``Authorization: Basic base64(public_key:secret_key)``: the secret key is a
    Flightlog ingest key, the public key may be anything. Bearer and ``x-api-key`` still work.
    """
    auth = headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "basic":
        return dict(headers)
    try:
        public, sep, secret = base64.b64decode(token.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise Unauthorized("Authorization: Basic credentials are not base64 of 'public_key:secret_key'") from exc
    if not sep or not secret.strip():
        raise Unauthorized("Authorization: Basic needs 'public_key:secret_key' with the Flightlog ingest key "
                           "as the secret key (LANGFUSE_SECRET_KEY)")
    out = {k: v for k, v in headers.items() if k.lower() != "authorization"}
    out["x-api-key"] = secret.strip()
    return out


async def _export_traces(request: Request, headers: Mapping[str, str]) -> Response:
    collector = request.app.state.collector
    key = collector.auth.require(headers, INGEST_ROLES)
    kind = _check_content_type(request)
    body = await read_body(request, collector.settings.max_body_bytes)
    encoding = request.headers.get("content-encoding")
    workers = getattr(collector, "ingest_workers", None)
    if workers is not None:  # decode + per-span work in a worker process (docs/performance.md)
        rows = await run_in_threadpool(workers.prepare, body, kind, encoding, key.project)
        await accept_rows(collector, key.project, rows)
        return _answer(kind, ExportTraceServiceResponse())
    raw = await run_in_threadpool(decode_traces, body, kind, encoding, max_bytes=collector.settings.max_body_bytes)
    await accept_spans(collector, key.project, raw)
    return _answer(kind, ExportTraceServiceResponse())


@router.post("/v1/traces", summary="OTLP/HTTP trace export (protobuf or JSON, optionally gzip)",
             **_documented("Trace", 400, 401, 403, 413, 415, 429, 503))
async def export_traces(request: Request) -> Response:
    """Store the spans of one export request; 200 means they are committed."""
    return await _export_traces(request, request.headers)


@router.post("/api/public/otel/v1/traces", summary="Langfuse SDK trace export (OTLP/HTTP, Basic auth)",
             **_documented("Trace", 400, 401, 403, 413, 415, 429, 503))
async def export_langfuse_traces(request: Request) -> Response:
    """The path the Langfuse SDK (v3 and later) exports to, with its Basic auth: point
    ``LANGFUSE_HOST`` at the collector and set ``LANGFUSE_SECRET_KEY`` to an ingest key."""
    return await _export_traces(request, langfuse_headers(request.headers))


@router.post("/v1/metrics", summary="OTLP/HTTP metrics export: GenAI client metrics and any other",
             **_documented("Metrics", 400, 401, 403, 413, 415, 429, 503))
async def export_metrics(request: Request) -> Response:
    """Store the data points of one metrics export request; read them with ``GET /api/metrics``."""
    collector = request.app.state.collector
    key = collector.auth.require(request.headers, INGEST_ROLES)
    kind = _check_content_type(request)
    body = await read_body(request, collector.settings.max_body_bytes)
    message = await run_in_threadpool(
        decode_metrics, body, kind, request.headers.get("content-encoding"),
        max_bytes=collector.settings.max_body_bytes,
    )
    await accept_metrics(collector, key.project, message)
    return _answer(kind, ExportMetricsServiceResponse())


@router.post("/v1/logs", summary="OTLP/HTTP log export: GenAI content events attached to their spans",
             **_documented("Logs", 400, 401, 403, 413, 415, 503))
async def export_logs(request: Request) -> Response:
    """Store log records that carry a trace and span id (other records are ignored)."""
    collector = request.app.state.collector
    key = collector.auth.require(request.headers, INGEST_ROLES)
    kind = _check_content_type(request)
    body = await read_body(request, collector.settings.max_body_bytes)
    records = await run_in_threadpool(
        decode_logs, body, kind, request.headers.get("content-encoding"),
        max_bytes=collector.settings.max_body_bytes,
    )
    await accept_logs(collector, key.project, records)
    return _answer(kind, ExportLogsServiceResponse())
