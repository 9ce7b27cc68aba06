"""Hostile-input limits applied to decoded spans before they are mapped (docs/ingest-rules.md).

Pure functions over RawSpan dicts (docs/contracts.md, "Decoded span"). Each fix returns a new span and
a list of fix-up flags; nothing here mutates its input (decoded spans of one resource share
the same ``resource`` dict). The pipeline stores the flags on the row as
``SpanAttributes["flightlog.ingest.fixups"]``.

    reject_reason(raw, index)        → str | None   bad ids reject the whole request (400)
    dedupe(raw_spans)                → [(span, flags)]  later copy of a span id wins
    limit_span(raw, limits, now_ns)  → (span, flags)    counts, sizes, depth, timestamps
    limit_row(row, limits)           → flags            mapped text columns and numbers

Invalid UTF-8 (and JSON's unpaired surrogates) never reach this module: the decoders reject
such bodies with 400. Strings are still encoded with ``surrogatepass`` so a direct caller
cannot make these functions raise.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flightlog import semconv as sc

FIXUPS_KEY = sc.INGEST_FIXUPS

NS_PER_DAY = 86_400 * 1_000_000_000
DEFAULT_MAX_ATTRIBUTES = 1000
DEFAULT_MAX_VALUE_BYTES = 256 * 1024
DEFAULT_MAX_DEPTH = 8
DEFAULT_MAX_EVENTS = 1000
DEFAULT_MAX_LINKS = 1000
DEFAULT_MAX_FUTURE_NS = 1 * NS_PER_DAY
DEFAULT_MAX_AGE_NS = 30 * NS_PER_DAY
# DateTime64(9) ends in 2262; UInt64 columns end at 2**64 - 1.
MAX_TIMESTAMP_NS = 2**63 - 1
MAX_UINT64 = 2**64 - 1

_ZERO_TRACE_ID = "0" * 32
_ZERO_SPAN_ID = "0" * 16
# A derived text that is one truncated value plus a short prefix ("user: …[truncated N
# bytes]") is left alone; only texts this far over the limit are cut again.
MARKER_SLACK_BYTES = 128
# Row columns whose text is derived from attributes; capped again after mapping because a
# renderer may join many (each already capped) values.
TEXT_COLUMNS = ("InputText", "OutputText", "ToolArgs", "ToolResult", "StatusMessage")


@dataclass(frozen=True)
class Limits:
    """The per-span limits; built from collector Settings by :meth:`from_settings`."""

    max_attributes: int = DEFAULT_MAX_ATTRIBUTES
    max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES
    max_depth: int = DEFAULT_MAX_DEPTH
    max_events: int = DEFAULT_MAX_EVENTS
    max_links: int = DEFAULT_MAX_LINKS
    max_future_ns: int = DEFAULT_MAX_FUTURE_NS
    max_age_ns: int = DEFAULT_MAX_AGE_NS

    @classmethod
    def from_settings(cls, settings: Any) -> "Limits":
        """Limits from a :class:`~flightlog.collector.config.Settings` (or None: defaults)."""
        if settings is None:
            return cls()
        return cls(max_attributes=max(0, int(settings.max_attributes_per_span)),
                   max_value_bytes=max(1, int(settings.max_attribute_value_bytes)))


# --- request level ------------------------------------------------------------------------


def reject_reason(raw: Mapping[str, Any], index: int) -> str | None:
    """Why span number ``index`` makes the request unacceptable, or None.

    A span without a trace id or span id, or with an all-zero one, is invalid per the OTel
    spec; it cannot be stored under a key, so the whole request is rejected (400).
    """
    for key, zero, what in (("trace_id", _ZERO_TRACE_ID, "traceId"),
                            ("span_id", _ZERO_SPAN_ID, "spanId")):
        value = raw.get(key) or ""
        if not value or value == zero:
            state = "is missing" if not value else f"is all zeros ({value})"
            name = truncate_text(str(raw.get("name") or ""), 80)[0]
            return (f"span {index} (name {name!r}) {what} {state}; "
                    f"the request was rejected, no span of it was stored")
    return None


def dedupe(raw_spans: Sequence[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], list[str]]]:
    """One span per (trace id, span id): the later copy wins and is flagged.

    The survivor keeps the position of the last copy; its flag counts the copies dropped
    (``duplicate_span_id:1``). The store would keep only one of them anyway.
    """
    last: dict[tuple[str, str], int] = {}
    copies: dict[tuple[str, str], int] = {}
    for i, raw in enumerate(raw_spans):
        key = (raw.get("trace_id") or "", raw.get("span_id") or "")
        last[key] = i
        copies[key] = copies.get(key, 0) + 1
    if len(last) == len(raw_spans):
        return [(raw, []) for raw in raw_spans]
    out = []
    for i, raw in enumerate(raw_spans):
        key = (raw.get("trace_id") or "", raw.get("span_id") or "")
        if last[key] == i:
            dropped = copies[key] - 1
            out.append((raw, [f"duplicate_span_id:{dropped}"] if dropped else []))
    return out


# --- span level ---------------------------------------------------------------------------


def limit_span(raw: Mapping[str, Any], limits: Limits, *, now_ns: int) -> tuple[dict[str, Any], list[str]]:
    """A copy of ``raw`` within ``limits`` and the fix-up flags describing what changed."""
    flags: list[str] = []
    span = dict(raw)
    counter = _Counter()

    span["attributes"] = limit_attributes(raw.get("attributes") or {}, limits, counter, "attributes")
    span["resource"] = limit_attributes(raw.get("resource") or {}, limits, counter, "resource_attributes")
    for key in ("name", "status_message", "trace_state", "scope_name", "scope_version"):
        value = raw.get(key)
        if isinstance(value, str):
            span[key] = counter.text(value, limits.max_value_bytes)

    events = list(raw.get("events") or [])
    if len(events) > limits.max_events:
        flags.append(f"events_dropped:{len(events) - limits.max_events}")
        events = events[: limits.max_events]
    span["events"] = [
        {**event, "time_ns": counter.clamp_time(event.get("time_ns")),
         "name": counter.text(str(event.get("name") or ""), limits.max_value_bytes),
         "attributes": limit_attributes(event.get("attributes") or {}, limits, counter, "event_attributes")}
        for event in events
    ]
    links = list(raw.get("links") or [])
    if len(links) > limits.max_links:
        flags.append(f"links_dropped:{len(links) - limits.max_links}")
        links = links[: limits.max_links]
    span["links"] = [
        {**link, "attributes": limit_attributes(link.get("attributes") or {}, limits, counter, "link_attributes")}
        for link in links
    ]
    if raw.get("parent_span_id") == _ZERO_SPAN_ID:
        span["parent_span_id"] = ""
        flags.append("parent_span_id_zero")

    start, end, time_flags = fix_timestamps(raw.get("start_ns"), raw.get("end_ns"), limits, now_ns=now_ns)
    span["start_ns"], span["end_ns"] = start, end
    return span, flags + counter.flags() + time_flags


def fix_timestamps(start: Any, end: Any, limits: Limits, *, now_ns: int) -> tuple[int, int, list[str]]:
    """(start_ns, end_ns, flags): a start of 0 becomes ``now_ns``; an end before it, the start.

    A start more than ``max_future_ns`` ahead or ``max_age_ns`` behind ``now_ns`` is kept as
    sent and flagged ``timestamp_out_of_range``; values past what DateTime64(9) holds are
    clamped (``timestamp_clamped``).
    """
    flags = []
    start_ns, end_ns = _as_int(start), _as_int(end)
    if start_ns > MAX_TIMESTAMP_NS or end_ns > MAX_TIMESTAMP_NS or start_ns < 0 or end_ns < 0:
        start_ns = min(max(start_ns, 0), MAX_TIMESTAMP_NS)
        end_ns = min(max(end_ns, 0), MAX_TIMESTAMP_NS)
        flags.append("timestamp_clamped")
    if start_ns == 0:
        start_ns = now_ns
        flags.append("start_time_missing")
    if end_ns < start_ns:
        flags.append("end_time_missing" if end_ns == 0 else "end_before_start")
        end_ns = start_ns
    if start_ns > now_ns + limits.max_future_ns or start_ns < now_ns - limits.max_age_ns:
        flags.append("timestamp_out_of_range")
    return start_ns, end_ns, flags


def limit_attributes(attrs: Mapping[str, Any], limits: Limits, counter: "_Counter | None" = None,
                     what: str = "attributes") -> dict[str, Any]:
    """The first ``max_attributes`` entries of ``attrs``, each value within size and depth."""
    if len(attrs) <= limits.max_attributes:
        short = limits.max_value_bytes // 4  # no string this short can be over the limit
        for key, value in attrs.items():
            kind = type(value)
            if (type(key) is not str or len(key) > short or (kind is str and len(value) > short)
                    or kind is list or kind is dict or kind is tuple):
                break
        else:  # the common case: nothing to cut, count or flatten
            return dict(attrs)
    counter = counter if counter is not None else _Counter()
    out: dict[str, Any] = {}
    for i, (key, value) in enumerate(attrs.items()):
        if i >= limits.max_attributes:
            counter.add(f"{what}_dropped", len(attrs) - limits.max_attributes)
            break
        out[counter.text(str(key), limits.max_value_bytes)] = limit_value(value, limits, counter)
    return out


def limit_value(value: Any, limits: Limits, counter: "_Counter | None" = None, depth: int = 1) -> Any:
    """An attribute value with long strings truncated and containers past ``max_depth`` as JSON."""
    counter = counter if counter is not None else _Counter()
    if isinstance(value, str):
        return counter.text(value, limits.max_value_bytes)
    if isinstance(value, (list, tuple, dict)):
        if depth > limits.max_depth:
            counter.add("nested_value_flattened", 1)
            return counter.text(_json(value), limits.max_value_bytes)
        if isinstance(value, dict):
            return {counter.text(str(k), limits.max_value_bytes): limit_value(v, limits, counter, depth + 1)
                    for k, v in value.items()}
        return [limit_value(v, limits, counter, depth + 1) for v in value]
    return value


def truncate_text(text: str, max_bytes: int) -> tuple[str, int]:
    """(text, bytes removed): at most ``max_bytes`` UTF-8 bytes kept, cut on a character
    boundary, followed by the marker ``…[truncated N bytes]`` when anything was cut."""
    if len(text) * 4 <= max_bytes:  # no string this short can be over the limit
        return text, 0
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= max_bytes:
        return text, 0
    kept = data[:max_bytes].decode("utf-8", "ignore")  # drops a character cut in half
    removed = len(data) - len(kept.encode("utf-8", "surrogatepass"))
    return f"{kept}…[truncated {removed} bytes]", removed


# --- row level (after mapping) -------------------------------------------------------------


def limit_row(row: dict[str, Any], limits: Limits) -> list[str]:
    """Cap a mapped row in place: derived texts to ``max_value_bytes``, numbers to their
    column types (UInt64 tokens, finite non-negative cost). Returns fix-up flags."""
    flags = []
    for column in TEXT_COLUMNS:
        value = row.get(column)
        if isinstance(value, str) and len(value) * 4 > limits.max_value_bytes + MARKER_SLACK_BYTES \
                and len(value.encode("utf-8", "surrogatepass")) > limits.max_value_bytes + MARKER_SLACK_BYTES:
            text, removed = truncate_text(value, limits.max_value_bytes)
            if removed:
                row[column] = text
                flags.append(f"text_truncated:{column}")
    for column in ("InputTokens", "OutputTokens"):
        value = row.get(column)
        if isinstance(value, int) and not 0 <= value <= MAX_UINT64:
            row[column] = min(max(value, 0), MAX_UINT64)
            flags.append(f"number_clamped:{column}")
    cost = row.get("CostUsd")
    if isinstance(cost, float) and not (0.0 <= cost < float("inf")):
        row["CostUsd"] = 0.0
        flags.append("number_clamped:CostUsd")
    return flags


def record_fixups(row: dict[str, Any], flags: list[str]) -> None:
    """Store ``flags`` on the row; the key is server-owned, so a client's value is dropped."""
    attributes = row.setdefault("SpanAttributes", {})
    attributes.pop(FIXUPS_KEY, None)
    if flags:
        attributes[FIXUPS_KEY] = ",".join(flags)


# --- helpers ------------------------------------------------------------------------------


class _Counter:
    """Tallies what one span's fixes changed, in first-seen order, for the flag list."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def add(self, flag: str, n: int) -> None:
        self.counts[flag] = self.counts.get(flag, 0) + n

    def text(self, value: str, max_bytes: int) -> str:
        if len(value) * 4 <= max_bytes:
            return value
        out, removed = truncate_text(value, max_bytes)
        if removed:
            self.add("value_truncated", 1)
        return out

    def clamp_time(self, value: Any) -> int:
        time_ns = _as_int(value)
        if not 0 <= time_ns <= MAX_TIMESTAMP_NS:
            self.add("event_timestamp_clamped", 1)
            return min(max(time_ns, 0), MAX_TIMESTAMP_NS)
        return time_ns

    def flags(self) -> list[str]:
        return [f"{flag}:{n}" for flag, n in self.counts.items()]


def _as_int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError, OverflowError):
        return 0


def _json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (RecursionError, ValueError):  # too deep even for json (not reachable via OTLP)
        return "[value nested too deeply to encode]"
