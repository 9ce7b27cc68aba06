"""Flattening attribute values nested too deep for the protobuf parser.

protobuf's parser refuses messages nested more than 100 levels, and every level of an OTLP
``kvlistValue`` or ``arrayValue`` costs it three (AnyValue → KeyValueList → KeyValue). A span
whose attribute nests ~30 levels would make the whole request "not a valid protobuf", but the
ingest rules promise that an odd span is kept, with values below level 8 flattened to text
(docs/ingest-rules.md). So when parsing fails, :func:`flatten_deep_values` walks the request's
wire format along the OTLP schema, replaces every AnyValue deeper than :data:`MAX_WIRE_DEPTH`
with a ``stringValue`` holding its JSON, and the request is parsed again. For OTLP/JSON bodies
:func:`flatten_deep_json` does the same on the decoded JSON. Everything else is copied byte for
byte, so a request that is broken for another reason still fails to parse.
"""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

#: AnyValue levels kept as structure at decode; below, values become JSON text (the ingest
#: limits then flatten from level 8 on, so nothing a user sees depends on this number).
MAX_WIRE_DEPTH = 16

# Message fields that hold sub-messages, per OTLP message type (opentelemetry-proto numbers).
_SCHEMA: dict[str, dict[int, str]] = {
    "ExportTraceServiceRequest": {1: "ResourceSpans"},
    "ResourceSpans": {1: "Resource", 2: "ScopeSpans"},
    "ScopeSpans": {1: "InstrumentationScope", 2: "Span"},
    "Span": {9: "KeyValue", 11: "Event", 13: "Link", 15: "Status"},
    "Event": {3: "KeyValue"},
    "Link": {4: "KeyValue"},
    "ExportLogsServiceRequest": {1: "ResourceLogs"},
    "ResourceLogs": {1: "Resource", 2: "ScopeLogs"},
    "ScopeLogs": {1: "InstrumentationScope", 2: "LogRecord"},
    "LogRecord": {5: "AnyValue", 6: "KeyValue"},
    "Resource": {1: "KeyValue"},
    "InstrumentationScope": {3: "KeyValue"},
    "Status": {},
    "KeyValue": {2: "AnyValue"},
    "AnyValue": {5: "ArrayValue", 6: "KeyValueList"},
    "ArrayValue": {1: "AnyValue"},
    "KeyValueList": {1: "KeyValue"},
}
_LEN = 2


class TooDeep(ValueError):
    """Nested beyond what even the plain walk can follow (Python's own recursion limit)."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _put_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _fields(data: bytes) -> list[tuple[int, int, int, int, int]]:
    """(field number, wire type, start of field, start of value, end) for each field."""
    out, pos = [], 0
    while pos < len(data):
        start = pos
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            _, end = _varint(data, pos)
        elif wire == 1:
            end = pos + 8
        elif wire == 5:
            end = pos + 4
        elif wire == _LEN:
            length, pos = _varint(data, pos)
            end = pos + length
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if end > len(data):
            raise ValueError("truncated field")
        out.append((number, wire, start, pos, end))
        pos = end
    return out


def _rewrite(data: bytes, kind: str, depth: int) -> bytes:
    """``data`` (one ``kind`` message) with AnyValues below MAX_WIRE_DEPTH flattened to strings."""
    if kind == "AnyValue" and depth > MAX_WIRE_DEPTH:
        text = json.dumps(_plain_any(data), ensure_ascii=False, sort_keys=True)
        encoded = text.encode("utf-8")
        return b"\x0a" + _put_varint(len(encoded)) + encoded  # field 1: string_value
    children = _SCHEMA.get(kind, {})
    out = bytearray()
    for number, wire, start, value_start, end in _fields(data):
        child = children.get(number)
        if child is None or wire != _LEN:
            out += data[start:end]
            continue
        inner = _rewrite(data[value_start:end], child, depth + 1 if child == "AnyValue" else depth)
        out += _put_varint((number << 3) | _LEN) + _put_varint(len(inner)) + inner
    return bytes(out)


def _plain_any(data: bytes) -> Any:
    """An AnyValue's wire bytes as a plain value (what the decoder would make of it)."""
    value: Any = None
    try:
        for number, wire, _, start, end in _fields(data):
            raw = data[start:end]
            if number == 1 and wire == _LEN:
                value = raw.decode("utf-8", "replace")
            elif number == 2 and wire == 0:
                value = bool(_varint(data, start)[0])
            elif number == 3 and wire == 0:
                n = _varint(data, start)[0]
                value = n - (1 << 64) if n >= 1 << 63 else n
            elif number == 4 and wire == 1:
                value = struct.unpack("<d", raw)[0]
            elif number == 5 and wire == _LEN:
                value = [_plain_any(raw[s:e]) for n, w, _, s, e in _fields(raw) if n == 1 and w == _LEN]
            elif number == 6 and wire == _LEN:
                value = dict(_plain_kv(raw[s:e]) for n, w, _, s, e in _fields(raw) if n == 1 and w == _LEN)
            elif number == 7 and wire == _LEN:
                value = base64.b64encode(raw).decode("ascii")
    except RecursionError as exc:
        raise TooDeep("attribute value nested too deeply to read") from exc
    return value


def _plain_kv(data: bytes) -> tuple[str, Any]:
    key, value = "", None
    for number, wire, _, start, end in _fields(data):
        if number == 1 and wire == _LEN:
            key = data[start:end].decode("utf-8", "replace")
        elif number == 2 and wire == _LEN:
            value = _plain_any(data[start:end])
    return key, value


def flatten_deep_values(body: bytes, request_type: str) -> bytes:
    """The protobuf ``body`` (an ``ExportTraceServiceRequest`` or ``ExportLogsServiceRequest``)
    with over-deep AnyValues flattened; raises ValueError when the wire format is broken."""
    try:
        return _rewrite(body, request_type, 0)
    except RecursionError as exc:
        raise TooDeep("attribute value nested too deeply to read") from exc


def flatten_deep_json(node: Any, depth: int = 0) -> Any:
    """OTLP/JSON with AnyValues (``{"kvlistValue": …}`` / ``{"arrayValue": …}``) below
    MAX_WIRE_DEPTH replaced by ``{"stringValue": <their JSON>}``."""
    if isinstance(node, dict):
        if "kvlistValue" in node or "arrayValue" in node:
            depth += 1
            if depth > MAX_WIRE_DEPTH:
                return {"stringValue": json.dumps(_plain_json(node), ensure_ascii=False, sort_keys=True)}
        return {k: flatten_deep_json(v, depth) for k, v in node.items()}
    if isinstance(node, list):
        return [flatten_deep_json(v, depth) for v in node]
    return node


def _plain_json(value: Any) -> Any:
    """An OTLP/JSON AnyValue as a plain value."""
    if not isinstance(value, dict):
        return value
    if "kvlistValue" in value:
        pairs = (value["kvlistValue"] or {}).get("values") or []
        return {str(p.get("key", "")): _plain_json(p.get("value")) for p in pairs if isinstance(p, dict)}
    if "arrayValue" in value:
        return [_plain_json(v) for v in (value["arrayValue"] or {}).get("values") or []]
    for key in ("stringValue", "boolValue", "intValue", "doubleValue", "bytesValue"):
        if key in value:
            return value[key]
    return None
