"""OTLP/HTTP request bodies → :class:`~.records.RawSpan` and :class:`~.records.RawLogRecord` dicts.

Both encodings go through the same protobuf message: JSON is first rewritten from the
OTLP/JSON conventions (hex ids) to proto3 JSON (base64 bytes) and parsed with
``google.protobuf.json_format``, so JSON and protobuf bodies give identical rows.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from flightlog.collector.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from flightlog.collector.ingest import stages
from flightlog.collector.ingest.deep import TooDeep, flatten_deep_json, flatten_deep_values
from flightlog.collector.ingest.records import RawLogRecord, RawSpan

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
_ID_KEYS = {"traceId": 16, "spanId": 8, "parentSpanId": 8}


def media_type(content_type: str | None) -> str:
    """The bare media type of a Content-Type header, lower-cased."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def decompress(body: bytes, content_encoding: str | None, *, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> bytes:
    """Undo ``gzip``/``deflate`` encoding, refusing bodies that inflate past ``max_bytes``."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise UnsupportedMediaType(f"Content-Encoding {encoding!r} is not supported; use gzip or none")
    wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise BadRequest(f"body is not valid {encoding} data: {exc}") from exc
    if len(out) > max_bytes or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"decompressed body exceeds the limit of {max_bytes} bytes")
    return out


def _hex_ids_to_base64(node: Any) -> Any:
    """Rewrite OTLP/JSON hex ids into the base64 that proto3 JSON expects for bytes."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                out[key] = _hex_to_b64(value, key, _ID_KEYS[key])
            else:
                out[key] = _hex_ids_to_base64(value)
        return out
    if isinstance(node, list):
        return [_hex_ids_to_base64(v) for v in node]
    return node


def _hex_to_b64(value: str, key: str, size: int) -> str:
    if value == "":
        return ""
    try:
        raw = bytes.fromhex(value)
    except ValueError as exc:
        raise BadRequest(f"{key} {value[:40]!r} is not a hex string") from exc
    if len(raw) != size:
        raise BadRequest(f"{key} must be {size * 2} hex characters, got {len(value)}")
    return base64.b64encode(raw).decode("ascii")


def _parse(body: bytes, content_type: str | None, message: Any) -> Any:
    kind = media_type(content_type)
    name = type(message).__name__
    if kind == PROTOBUF:
        try:
            message.ParseFromString(body)
        except (DecodeError, ValueError) as exc:
            # Attribute values nested past protobuf's depth limit: flatten them and try again.
            try:
                flattened = flatten_deep_values(body, name)
                message.Clear()
                message.ParseFromString(flattened)
            except TooDeep as deep:
                raise BadRequest(f"body is not a valid OTLP protobuf {name}: {deep}") from exc
            except (DecodeError, ValueError):
                raise BadRequest(f"body is not a valid OTLP protobuf {name}: {exc}") from exc
        return message
    if kind == JSON:
        try:
            data = json.loads(body.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise BadRequest(f"JSON body is not valid UTF-8 (byte {exc.start})") from exc
        except json.JSONDecodeError as exc:
            raise BadRequest(f"body is not valid JSON: {exc}") from exc
        except RecursionError as exc:
            raise BadRequest("JSON body is nested too deeply to read") from exc
        if not isinstance(data, dict):
            raise BadRequest("OTLP/JSON body must be a JSON object")
        try:
            converted = _hex_ids_to_base64(data)
            try:
                json_format.ParseDict(converted, message, ignore_unknown_fields=True)
            except json_format.ParseError:
                message.Clear()  # attribute values nested too deep for protobuf: flatten, try again
                json_format.ParseDict(flatten_deep_json(converted), message, ignore_unknown_fields=True)
        except (json_format.ParseError, ValueError, TypeError, binascii.Error) as exc:
            raise BadRequest(f"body is not a valid OTLP/JSON {name}: {exc}") from exc
        except RecursionError as exc:
            raise BadRequest("OTLP/JSON body is nested too deeply to read") from exc
        return message
    raise UnsupportedMediaType(
        f"Content-Type {content_type or '(none)'!r} is not supported; use {PROTOBUF} or {JSON}"
    )


def any_value(value: AnyValue) -> Any:
    """An OTLP AnyValue as a plain Python value (kvlist → dict, bytes → base64 text)."""
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return getattr(value, which)


def attributes(pairs: Any) -> dict[str, Any]:
    """Repeated KeyValue → dict; a repeated key keeps its last value."""
    return {kv.key: any_value(kv.value) for kv in pairs}


def _id(raw: bytes, size: int, what: str) -> str:
    if not raw:
        return ""
    if len(raw) != size:
        raise BadRequest(f"{what} must be {size} bytes, got {len(raw)}")
    return raw.hex()


def spans_from_request(request: ExportTraceServiceRequest) -> list[RawSpan]:
    """The spans of a decoded export request (the gRPC path), timed as the ``decode`` stage."""
    with stages.timed("decode"):
        spans = _spans_from_request(request)
    stages.add("decode", 0, len(spans))
    return spans


def _spans_from_request(request: ExportTraceServiceRequest) -> list[RawSpan]:
    """Flatten an ExportTraceServiceRequest into RawSpan dicts."""
    out: list[RawSpan] = []
    for rs in request.resource_spans:
        resource = attributes(rs.resource.attributes)
        for ss in rs.scope_spans:
            for span in ss.spans:
                out.append(
                    {
                        "trace_id": _id(span.trace_id, 16, "traceId"),
                        "span_id": _id(span.span_id, 8, "spanId"),
                        "parent_span_id": _id(span.parent_span_id, 8, "parentSpanId"),
                        "trace_state": span.trace_state,
                        "name": span.name,
                        "kind": int(span.kind),
                        "start_ns": int(span.start_time_unix_nano),
                        "end_ns": int(span.end_time_unix_nano),
                        "attributes": attributes(span.attributes),
                        "resource": resource,
                        "scope_name": ss.scope.name,
                        "scope_version": ss.scope.version,
                        "status_code": int(span.status.code),
                        "status_message": span.status.message,
                        "events": [
                            {"time_ns": int(e.time_unix_nano), "name": e.name, "attributes": attributes(e.attributes)}
                            for e in span.events
                        ],
                        "links": [
                            {
                                "trace_id": _id(link.trace_id, 16, "link traceId"),
                                "span_id": _id(link.span_id, 8, "link spanId"),
                                "trace_state": link.trace_state,
                                "attributes": attributes(link.attributes),
                            }
                            for link in span.links
                        ],
                    }
                )
    return out


def logs_from_request(request: ExportLogsServiceRequest) -> list[RawLogRecord]:
    """Flatten an ExportLogsServiceRequest into plain log-record dicts."""
    out: list[RawLogRecord] = []
    for rl in request.resource_logs:
        resource = attributes(rl.resource.attributes)
        for sl in rl.scope_logs:
            for rec in sl.log_records:
                out.append(
                    {
                        "trace_id": _id(rec.trace_id, 16, "traceId"),
                        "span_id": _id(rec.span_id, 8, "spanId"),
                        "time_ns": int(rec.time_unix_nano or rec.observed_time_unix_nano),
                        "event_name": rec.event_name or str(attributes(rec.attributes).get("event.name", "")),
                        "severity_text": rec.severity_text,
                        "body": any_value(rec.body) if rec.HasField("body") else None,
                        "attributes": attributes(rec.attributes),
                        "resource": resource,
                        "scope_name": sl.scope.name,
                    }
                )
    return out


def decode_traces(body: bytes, content_type: str | None, content_encoding: str | None = None,
                  *, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> list[RawSpan]:
    """Decode a ``POST /v1/traces`` body into RawSpan dicts, or raise a collector error."""
    with stages.timed("decode"):
        raw = decompress(body, content_encoding, max_bytes=max_bytes)
        spans = _spans_from_request(_parse(raw, content_type, ExportTraceServiceRequest()))
    stages.add("decode", 0, len(spans))
    return spans


def decode_logs(body: bytes, content_type: str | None, content_encoding: str | None = None,
                *, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> list[RawLogRecord]:
    """Decode a ``POST /v1/logs`` body into log-record dicts, or raise a collector error."""
    raw = decompress(body, content_encoding, max_bytes=max_bytes)
    return logs_from_request(_parse(raw, content_type, ExportLogsServiceRequest()))
