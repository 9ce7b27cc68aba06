"""Split a Native-format byte stream into its blocks.

The harness adds a BlockInfo header in front of every block when a client asks for a
Native protocol version. chDB streams SELECT results one block per chunk, so the blocks
come apart by themselves; statements chDB cannot stream (DESCRIBE, SHOW, EXISTS,
EXPLAIN, …) return one byte string that may hold several blocks. Those statements
return plain column types, which this reader knows how to step over: String,
FixedString, integers, floats, Bool, Date/DateTime kinds, UUID, IPv4/6, Enum, Decimal,
Nullable, LowCardinality, Array, Map and Tuple. Any other type raises
:class:`UnsupportedType`.
"""

from __future__ import annotations

import re

_FIXED = {
    "UInt8": 1, "Int8": 1, "Bool": 1, "UInt16": 2, "Int16": 2, "Date": 2, "UInt32": 4, "Int32": 4, "Float32": 4,
    "Date32": 4, "IPv4": 4, "UInt64": 8, "Int64": 8, "Float64": 8, "UInt128": 16, "Int128": 16, "UUID": 16,
    "IPv6": 16, "UInt256": 32, "Int256": 32, "Decimal32": 4, "Decimal64": 8, "Decimal128": 16, "Decimal256": 32,
    "Nothing": 1,
}


class UnsupportedType(ValueError):
    pass


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError("truncated Native data")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def leb(self) -> int:
        shift = value = 0
        while True:
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7

    def string(self) -> bytes:
        return self.take(self.leb())

    def uint64(self) -> int:
        return int.from_bytes(self.take(8), "little")


def _args(type_name: str, prefix: str) -> list[str]:
    """The comma-separated arguments of ``prefix(...)``, split at depth 0."""
    inner = type_name[len(prefix) + 1:-1]
    out, depth, start, quoted = [], 0, 0, False
    for i, ch in enumerate(inner):
        if ch == "'" and (i == 0 or inner[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        elif not quoted and ch == "," and depth == 0:
            out.append(inner[start:i].strip())
            start = i + 1
    out.append(inner[start:].strip())
    return out


def _element(arg: str) -> str:
    """A Tuple element's type, without its optional name (``name Type``)."""
    m = re.match(r"^[A-Za-z_][A-Za-z0-9_]*\s+(?=[A-Z])", arg)
    return arg[m.end():] if m else arg


def _fixed_size(t: str) -> int | None:
    if t in _FIXED:
        return _FIXED[t]
    if t.startswith("DateTime64"):
        return 8
    if t.startswith("DateTime"):
        return 4
    if t.startswith("Enum8"):
        return 1
    if t.startswith("Enum16"):
        return 2
    if t.startswith("FixedString("):
        return int(t[len("FixedString("):-1])
    if t.startswith("Decimal("):
        precision = int(_args(t, "Decimal")[0])
        return 4 if precision <= 9 else 8 if precision <= 18 else 16 if precision <= 38 else 32
    return None


def _skip_prefix(r: _Reader, t: str) -> None:
    """The per-column state prefix (only LowCardinality writes one)."""
    if t.startswith("LowCardinality("):
        r.uint64()  # keys serialization version
    elif t.startswith(("Nullable(", "Array(")):
        _skip_prefix(r, _args(t, t.split("(", 1)[0])[0])
    elif t.startswith("Map("):
        for arg in _args(t, "Map"):
            _skip_prefix(r, arg)
    elif t.startswith("Tuple("):
        for arg in _args(t, "Tuple"):
            _skip_prefix(r, _element(arg))


def _skip_data(r: _Reader, t: str, rows: int) -> None:
    size = _fixed_size(t)
    if size is not None:
        r.take(size * rows)
    elif t == "String":
        for _ in range(rows):
            r.string()
    elif t.startswith("Nullable("):
        r.take(rows)
        _skip_data(r, _args(t, "Nullable")[0], rows)
    elif t.startswith(("Array(", "Map(")):
        offsets = [r.uint64() for _ in range(rows)]
        total = offsets[-1] if offsets else 0
        if t.startswith("Array("):
            _skip_data(r, _args(t, "Array")[0], total)
        else:
            for arg in _args(t, "Map"):
                _skip_data(r, arg, total)
    elif t.startswith("Tuple("):
        for arg in _args(t, "Tuple"):
            _skip_data(r, _element(arg), rows)
    elif t.startswith("LowCardinality("):
        if rows == 0:
            return
        flags = r.uint64()
        if flags & (1 << 9):  # HasAdditionalKeys
            inner = _args(t, "LowCardinality")[0]
            if inner.startswith("Nullable("):
                inner = _args(inner, "Nullable")[0]
            _skip_data(r, inner, r.uint64())
        r.take((1 << (flags & 0xFF)) * r.uint64())
    else:
        raise UnsupportedType(t)


def split_blocks(data: bytes) -> list[bytes]:
    """The blocks of a Native stream (client protocol 0: no BlockInfo, no serialization info)."""
    r, blocks = _Reader(data), []
    while r.pos < len(data):
        start = r.pos
        columns, rows = r.leb(), r.leb()
        for _ in range(columns):
            r.string()
            type_name = r.string().decode()
            _skip_prefix(r, type_name)
            _skip_data(r, type_name, rows)
        blocks.append(data[start:r.pos])
    return blocks
