"""Search filters as ``(sql_fragment, params)`` pairs (docs/decisions/0004-bound-parameters-only.md).

Values are always bound parameters; column names come from the allow-lists below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flightlog.search import EQUALITY_FILTERS

from .errors import InvalidQuery
from .timewindow import Window

# The searchable text: must be the exact expression of the `idx_text` text index.
TEXT_EXPR = "concatWithSeparator(' ', InputText, OutputText, ToolArgs, ToolResult)"
MODEL_EXPR = "if(ResponseModel != '', ResponseModel, RequestModel)"
# The searchable text of a log record: the expression of its `idx_log_text` bloom filter.
LOG_TEXT_EXPR = "concatWithSeparator(' ', InputText, OutputText)"

# Equality filters (name → column): one definition for storage, API and UI (flightlog.search).
_EQUALS = EQUALITY_FILTERS
_STATUS = {"ok": "Ok", "error": "Error", "unset": "Unset"}
# Filters on run-level facts, which a span may have been stored without.
_TRACE_FACTS = frozenset({"AgentName", "AgentVersion", "UserId", "SessionId"})
SORTS = {
    "time": "Timestamp",
    "cost": "CostUsd",
    "tokens": "InputTokens + OutputTokens",
    "duration": "Duration",
}
# Letters and digits of any script: the same cut as the index's splitByNonAlpha tokenizer.
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
# Scripts written without spaces (Han, kana, Hangul). splitByNonAlpha makes a whole run of
# them one token, so a word inside a run is only found by a substring scan.
_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def text_tokens(q: str) -> list[str]:
    """Lower-cased words of a search box entry, as the text index stores them."""
    return [t.lower() for t in _TOKEN.findall(q)]


@dataclass
class SpanFilter:
    """What a span search asks for; every field optional."""

    q: str = ""
    start: datetime | None = None
    end: datetime | None = None
    model: str = ""
    status: str = ""
    equals: dict[str, str] = field(default_factory=dict)

    def where(self, project: str, *, text_index: str = "text") -> tuple[str, dict[str, Any]]:
        """The WHERE clause (without the keyword) and its parameters.

        ``text_index`` is the store's full-text index kind (DSN option, :mod:`.ddl`):
        ``text`` asks ``hasAllTokens`` (served by the text index); ``tokenbf`` and ``none``
        ask ``hasToken`` per word over the lower-cased text (served by the bloom filter, or
        a scan). Words in scripts without spaces (CJK) are matched as substrings: a scan.
        """
        bits = ["Project = {project:String}"]
        params: dict[str, Any] = {"project": project}
        if self.q.strip():
            tokens = text_tokens(self.q)
            spaced = [t for t in tokens if not _UNSPACED.search(t)]
            unspaced = [t for t in tokens if _UNSPACED.search(t)]
            span_text: list[str] = []
            log_text: list[str] = []
            if spaced and text_index == "text":
                span_text.append(f"hasAllTokens({TEXT_EXPR}, {{tokens:Array(String)}})")
                params["tokens"] = spaced
            elif spaced:
                for i in range(len(spaced)):
                    span_text.append(f"hasToken(lowerUTF8({TEXT_EXPR}), {{tok{i}:String}})")
            for i, token in enumerate(spaced):
                log_text.append(f"hasToken(lowerUTF8({LOG_TEXT_EXPR}), {{tok{i}:String}})")
                params[f"tok{i}"] = token
            for i, token in enumerate(unspaced):
                span_text.append(f"positionCaseInsensitiveUTF8({TEXT_EXPR}, {{cjk{i}:String}}) > 0")
                log_text.append(f"positionCaseInsensitiveUTF8({LOG_TEXT_EXPR}, {{cjk{i}:String}}) > 0")
                params[f"cjk{i}"] = token
            if not tokens:  # punctuation only: no token to look up, fall back to a substring scan
                span_text.append(f"positionCaseInsensitiveUTF8({TEXT_EXPR}, {{needle:String}}) > 0")
                log_text.append(f"positionCaseInsensitiveUTF8({LOG_TEXT_EXPR}, {{needle:String}}) > 0")
                params["needle"] = self.q.strip()
            # Content that came only as log records (GenAI event mode) is found too, whichever
            # arrived first: the record's text is rendered at ingest (migration 0018).
            bits.append(f"(({' AND '.join(span_text)}) OR (TraceId, SpanId) IN (SELECT TraceId, SpanId"
                        f" FROM log_records WHERE Project = {{project:String}} AND {' AND '.join(log_text)}))")
        bits += Window(self.start, self.end).conditions(params)
        if self.model:
            bits.append("(RequestModel = {model:String} OR ResponseModel = {model:String})")
            params["model"] = self.model
        if self.status:
            if self.status not in _STATUS:
                raise InvalidQuery(f"status must be one of {sorted(_STATUS)}, got {self.status!r}")
            bits.append("StatusCode = {status:String}")
            params["status"] = _STATUS[self.status]
        for i, (name, value) in enumerate(sorted(self.equals.items())):
            if name not in _EQUALS:
                raise InvalidQuery(f"unknown filter {name!r}; allowed: {sorted(_EQUALS)}")
            if value == "":
                continue
            column = _EQUALS[name]
            if column in _TRACE_FACTS:
                # A span stored before its run's agent span named the run has it empty: the
                # trace's facts say it (docs/decisions/0013-trace-facts-across-requests.md).
                bits.append(f"({column} = {{f{i}:String}} OR ({column} = '' AND TraceId IN (SELECT TraceId"
                            f" FROM trace_facts WHERE Project = {{project:String}} AND {column} = {{f{i}:String}})))")
            else:
                bits.append(f"{column} = {{f{i}:String}}")
            params[f"f{i}"] = value
        return " AND ".join(bits), params


FILTER_NAMES: tuple[str, ...] = tuple(sorted(_EQUALS))
