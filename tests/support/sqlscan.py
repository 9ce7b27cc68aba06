"""Just enough of a ClickHouse SQL lexer for the HTTP harness (:mod:`.clickhouse_http`).

The harness never rewrites SQL: the engine parses every statement. It only needs to know
a few things a real server learns from its own parser before it runs a query:

- what kind of statement it is (does it return a result set? is it ``SET`` / ``USE``?);
- for ``INSERT … FORMAT <fmt>``: where the statement ends and the inline data begins
  (the data may be binary, so scanning stops there);
- the output format named by a top-level ``FORMAT`` clause;
- whether the request holds more than one statement (the server refuses those).

The scanner works on bytes, knows quoted strings (``'…'`` with backslash escapes and
doubled quotes), quoted identifiers (``"…"``, backquotes), heredocs (``$tag$…$tag$``),
``--``/``# ``/``#!`` line comments, nested ``/* */`` comments and bracket depth.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

_WORD = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(rb"[0-9][0-9A-Za-z_.]*")
_HEREDOC = re.compile(rb"\$([A-Za-z0-9_]*)\$")
_SPACE = b" \t\r\n\f\v"

# Statements that send a result set back (the server then reports X-ClickHouse-Format).
RESULT_KEYWORDS = frozenset({
    "SELECT", "WITH", "SHOW", "DESC", "DESCRIBE", "EXISTS", "EXPLAIN", "CHECK", "KILL", "WATCH", "FROM",
})
# Statements that GET may run (the server runs GET requests with readonly=2).
READONLY_KEYWORDS = RESULT_KEYWORDS - {"KILL", "CHECK"} | {"SET", "USE"}


@dataclass(frozen=True)
class Token:
    kind: str  # word | string | ident | number | punct
    text: bytes
    start: int
    end: int
    depth: int  # bracket depth the token sits at

    @property
    def upper(self) -> str:
        return self.text.decode("latin-1").upper() if self.kind == "word" else ""


def tokens(sql: bytes) -> Iterator[Token]:
    """Yield the tokens of ``sql`` lazily (callers stop before binary data)."""
    i, n, depth = 0, len(sql), 0
    while i < n:
        c = sql[i]
        if c in _SPACE:
            i += 1
            continue
        if sql.startswith(b"--", i) or (c == 0x23 and sql[i + 1:i + 2] in (b" ", b"!")):
            j = sql.find(b"\n", i)
            i = n if j < 0 else j + 1
            continue
        if sql.startswith(b"/*", i):
            level, j = 1, i + 2
            while j < n and level:
                if sql.startswith(b"/*", j):
                    level, j = level + 1, j + 2
                elif sql.startswith(b"*/", j):
                    level, j = level - 1, j + 2
                else:
                    j += 1
            i = j
            continue
        if c in b"'\"`":
            j = i + 1
            while j < n:
                ch = sql[j]
                if ch == 0x5C:  # backslash escape
                    j += 2
                    continue
                if ch == c:
                    if j + 1 < n and sql[j + 1] == c:  # doubled quote
                        j += 2
                        continue
                    break
                j += 1
            end = min(j + 1, n)
            yield Token("string" if c == 0x27 else "ident", sql[i:end], i, end, depth)
            i = end
            continue
        if c == 0x24:  # $
            m = _HEREDOC.match(sql, i)
            if m:
                close = sql.find(m.group(0), m.end())
                end = n if close < 0 else close + len(m.group(0))
                yield Token("string", sql[i:end], i, end, depth)
                i = end
                continue
        m = _WORD.match(sql, i)
        if m:
            yield Token("word", m.group(0), i, m.end(), depth)
            i = m.end()
            continue
        m = _NUMBER.match(sql, i)
        if m:
            yield Token("number", m.group(0), i, m.end(), depth)
            i = m.end()
            continue
        if c in b"([{":
            yield Token("punct", sql[i:i + 1], i, i + 1, depth)
            depth += 1
        elif c in b")]}":
            depth = max(0, depth - 1)
            yield Token("punct", sql[i:i + 1], i, i + 1, depth)
        else:
            yield Token("punct", sql[i:i + 1], i, i + 1, depth)
        i += 1


def first_keyword(sql: bytes) -> str:
    """The statement's leading keyword, upper-cased; ``(`` counts as SELECT; "" if none."""
    for tok in tokens(sql):
        if tok.kind == "word":
            return tok.upper
        if tok.text == b"(":
            return "SELECT"
        return ""
    return ""


@dataclass(frozen=True)
class InsertShape:
    """How an INSERT carries its rows."""

    kind: str  # "format": rows follow in `fmt`; "inline": VALUES/SELECT, the engine parses all
    head: bytes = b""  # the statement without its FORMAT clause (for kind == "format")
    fmt: str = ""
    data_start: int = 0


def insert_shape(sql: bytes) -> InsertShape:
    """Find where an INSERT's inline data starts. Scanning stops at the data."""
    for tok in (it := tokens(sql)):
        if tok.depth or tok.kind != "word":
            continue
        word = tok.upper
        if word in ("VALUES", "SELECT", "WITH"):
            return InsertShape("inline")
        if word == "FORMAT":
            name = next(it, None)
            if name is None or name.kind != "word":
                return InsertShape("inline")  # let the engine report the syntax error
            pos = name.end
            # The data begins after the format name, blanks and one line break.
            while pos < len(sql) and sql[pos] in b" \t\f":
                pos += 1
            if sql[pos:pos + 1] == b"\r":
                pos += 1
            if sql[pos:pos + 1] == b"\n":
                pos += 1
            return InsertShape("format", sql[:tok.start].rstrip(), name.text.decode(), pos)
    return InsertShape("inline")


def output_format(sql: bytes) -> str | None:
    """The format named by the statement's top-level ``FORMAT`` clause, if any."""
    found = None
    toks = list(tokens(sql))
    for k, tok in enumerate(toks):
        if tok.depth == 0 and tok.kind == "word" and tok.upper == "FORMAT" and k + 1 < len(toks):
            name = toks[k + 1]
            after = toks[k + 2] if k + 2 < len(toks) else None
            if name.kind == "word" and not (after is not None and after.text == b"("):
                found = name.text.decode()
    return found


def second_statement_at(sql: bytes) -> int | None:
    """Offset of a ``;`` that is followed by another statement, else None."""
    semicolon = None
    for tok in tokens(sql):
        if semicolon is not None:
            return semicolon
        if tok.depth == 0 and tok.text == b";":
            semicolon = tok.start
    return None


def use_target(sql: bytes) -> str | None:
    """The database of a ``USE db`` statement."""
    toks = list(tokens(sql))
    if len(toks) >= 2 and toks[0].upper == "USE" and toks[1].kind in ("word", "ident"):
        name = toks[1].text.decode()
        return name[1:-1] if toks[1].kind == "ident" else name
    return None
