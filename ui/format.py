"""Pure formatting helpers for the pages: numbers, text, table rows and CSV.

Nothing here calls Streamlit or the network; every function takes plain data (spans as
the query API returns them, docs/contracts.md, "HTTP API answers") and returns plain data, so
each can be table-tested. Figures are in :mod:`flightlog.ui.charts`.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from flightlog import semconv as sc

__all__ = [
    "TEXT_PREVIEW_CHARS",
    "csv_bytes",
    "format_duration",
    "format_money",
    "format_time",
    "format_tokens",
    "is_error",
    "parse_json",
    "plotly_text",
    "result_rows",
    "snippet",
    "start_ns",
    "span_properties",
    "span_status",
    "trace_link",
    "tree_rows",
    "truncate",
]

TEXT_PREVIEW_CHARS = 2000
"""How much of a long text the trace page shows before "Show all"."""

_EMPTY = "—"


# -- numbers ----------------------------------------------------------------------


def format_money(usd: float | None) -> str:
    """US dollars with enough decimals to show small per-call costs: ``$0.000123``, ``$1.50``."""
    if usd is None or (isinstance(usd, float) and math.isnan(usd)):
        return _EMPTY
    sign = "-" if usd < 0 else ""
    usd = abs(float(usd))
    if usd == 0:
        return "$0.00"
    if usd >= 1:
        return f"{sign}${usd:,.2f}"
    # Three significant digits below a dollar, but never fewer than two decimals.
    decimals = max(2, 2 - math.floor(math.log10(usd)))
    text = f"{usd:.{decimals}f}".rstrip("0")
    if len(text.split(".")[1]) < 2:
        text = f"{usd:.2f}"
    return f"{sign}${text}"


def format_duration(ms: float | None) -> str:
    """A duration for people: ``0.42 ms``, ``120 ms``, ``1.23 s``, ``2m 03s``, ``1h 02m``."""
    if ms is None or (isinstance(ms, float) and math.isnan(ms)):
        return _EMPTY
    ms = max(float(ms), 0.0)
    if ms < 1:
        return f"{ms:.2f} ms"
    if ms < 999.5:  # so that rounding never prints "1000 ms"
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 59.995:
        return f"{seconds:.2f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def format_tokens(count: int | None) -> str:
    """A token count with thousands separators; ``—`` when unknown."""
    if count is None:
        return _EMPTY
    return f"{int(count):,}"


def format_time(timestamp: str | None) -> str:
    """An API timestamp (ISO 8601 UTC, maybe with nanoseconds) as ``2026-01-31 12:34:56.789``."""
    if not timestamp:
        return _EMPTY
    match = re.match(r"(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?", timestamp)
    if not match:
        return timestamp
    date, time, fraction = match.groups()
    return f"{date} {time}.{(fraction or '').ljust(3, '0')[:3]}"


# -- text -------------------------------------------------------------------------


def truncate(text: str | None, limit: int = TEXT_PREVIEW_CHARS) -> tuple[str, bool]:
    """``(preview, was_cut)``: at most ``limit`` characters, cut with ``…``."""
    text = text or ""
    if len(text) <= limit:
        return text, False
    return text[: max(limit - 1, 0)] + "…", True


SNIPPET_CHARS = 48
"""Characters of a result snippet: about what a 300 px column shows."""


def snippet(text: str | None, query: str = "", width: int = 80) -> str:
    """One line of ``text`` (whitespace collapsed) around the first word of ``query`` found."""
    flat = " ".join((text or "").split())
    if len(flat) <= width:
        return flat
    lowered = flat.lower()
    found = [(lowered.find(w), w) for w in query.lower().split()]
    hit, word = min(((h, w) for h, w in found if h >= 0), default=(0, ""))
    # The word in the middle of the window, so it is on screen however narrow the column.
    start = max(0, min(hit + len(word) // 2 - width // 2, len(flat) - width)) if word else 0
    end = start + width
    return ("…" if start else "") + flat[start:end].strip() + ("…" if end < len(flat) else "")


def parse_json(text: str | None) -> tuple[bool, Any]:
    """``(True, value)`` when ``text`` is a JSON object or array, else ``(False, None)``."""
    if not text or text.lstrip()[:1] not in ("{", "["):
        return False, None
    try:
        return True, json.loads(text)
    except ValueError:
        return False, None


def plotly_text(text: str) -> str:
    """Make span-derived text literal inside a Plotly label.

    Plotly renders a subset of HTML in labels (``<b>``, ``<br>``, ``<a>``…) and decodes
    entities, so ``<``, ``>`` and ``&`` become entities and are shown as typed. This is the
    one place the UI escapes text: everything else goes to Streamlit elements that show
    text as text.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# -- spans ------------------------------------------------------------------------


def start_ns(span: Mapping[str, Any]) -> int:
    """A span's start in unix nanoseconds (0 when unknown)."""
    return int(span.get("start_ns") or 0)


def is_error(span: Mapping[str, Any]) -> bool:
    """True for a span whose OTel status is Error."""
    return str(span.get("status_code", "")).lower() in ("error", "2")


def _model(span: Mapping[str, Any]) -> str:
    return str(span.get("response_model") or span.get("request_model") or "")


def span_status(span: Mapping[str, Any]) -> str:
    return "error" if is_error(span) else str(span.get("status_code") or "unset").lower()


def result_rows(items: Iterable[Mapping[str, Any]], query: str = "") -> list[dict[str, Any]]:
    """Rows of the Search results table, one per span, in the order given."""
    rows = []
    for span in items:
        text = span.get("input_text") or span.get("tool_args") or ""
        answer = span.get("output_text") or span.get("tool_result") or ""
        rows.append(
            {
                "time": format_time(span.get("timestamp")),
                "type": span.get("span_type") or "",
                "name": span.get("span_name") or "",
                "agent": span.get("agent_name") or "",
                "model": _model(span),
                "prompt version": span.get("prompt_version") or "",
                "tokens": int(span.get("input_tokens") or 0) + int(span.get("output_tokens") or 0),
                "cost": float(span.get("cost_usd") or 0.0),
                "duration ms": float(span.get("duration_ms") or 0.0),
                "status": span_status(span),
                "trace": trace_link(span),
                "input": snippet(text, query, width=SNIPPET_CHARS),
                "output": snippet(answer, query, width=SNIPPET_CHARS),
            }
        )
    return rows


def trace_link(span: Mapping[str, Any]) -> str:
    """Relative URL of the Trace page focused on this span (``trace?trace_id=…&span_id=…``)."""
    params = {"trace_id": span.get("trace_id") or "", "span_id": span.get("span_id") or ""}
    return "trace?" + urlencode({k: v for k, v in params.items() if v})


def _tree_prefixes(spans: Sequence[Mapping[str, Any]]) -> list[str]:
    """Box-drawing prefixes (``├─ ``, ``│  └─ ``…) for spans listed in tree order with depth."""
    depths = [int(s.get("depth") or 0) for s in spans]
    prefixes = []
    for i, depth in enumerate(depths):
        parts = []
        for level in range(1, depth + 1):
            # Does a later span continue the branch at this level (a later sibling)?
            continues = False
            for later in depths[i + 1 :]:
                if later < level:
                    break
                if later == level:
                    continues = True
                    break
            if level == depth:
                parts.append("├─ " if continues else "└─ ")
            else:
                parts.append("│  " if continues else "   ")
        prefixes.append("".join(parts))
    return prefixes


def tree_rows(spans: Sequence[Mapping[str, Any]], selected: int | None = None) -> list[dict[str, Any]]:
    """Rows of the indented span tree: one per span, in the (tree) order given; row
    ``selected`` (the span shown in detail) is marked ``▶``."""
    starts = [start_ns(s) for s in spans]
    origin = min(starts, default=0)
    rows = []
    for i, (span, prefix, start) in enumerate(zip(spans, _tree_prefixes(spans), starts)):
        rows.append(
            {
                "span": ("▶ " if i == selected else "") + prefix + (span.get("span_name") or "(unnamed)"),
                "status": span_status(span),
                "duration": format_duration(span.get("duration_ms")),
                "cost": format_money(span.get("cost_usd")) if span.get("cost_usd") else "",
                "start": format_duration((start - origin) / 1e6),
                "type": span.get("span_type") or "",
            }
        )
    return rows


def decided_by(span: Mapping[str, Any]) -> str:
    """The LLM call that led to a step, from the SDK's ``flightlog.decided_by.*`` attributes:
    ``model · prompt id@version · span <id>`` (empty when the span has none)."""
    raw = span.get("span_attributes")
    if not isinstance(raw, Mapping):
        return ""
    model = raw.get(sc.DECIDED_BY_MODEL)
    prompt_id, version = raw.get(sc.DECIDED_BY_PROMPT_ID), raw.get(sc.DECIDED_BY_PROMPT_VERSION)
    span_id = raw.get(sc.DECIDED_BY_SPAN_ID)
    prompt = f"{prompt_id or ''}@{version}" if version else (str(prompt_id) if prompt_id else "")
    parts = [str(model) if model else "", prompt, f"span {span_id}" if span_id else ""]
    return " · ".join(p for p in parts if p)


def span_properties(span: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(field, value)`` pairs for the detail panel, leaving out empty ones."""
    tokens_in, tokens_out = span.get("input_tokens") or 0, span.get("output_tokens") or 0
    tier = span.get("checkpoint_tier") or 0
    cost = span.get("cost_usd")
    pairs = [
        ("span", span.get("span_name")),
        ("type", span.get("span_type")),
        ("status", span_status(span) + (f": {span['status_message']}" if span.get("status_message") else "")),
        ("error type", span.get("error_type")),
        ("operation", span.get("operation")),
        ("span kind", span.get("span_kind")),
        ("service", span.get("service_name")),
        ("started", format_time(span.get("timestamp"))),
        ("latency", format_duration(span.get("duration_ms"))),
        ("agent", " ".join(str(v) for v in (span.get("agent_name"), span.get("agent_version")) if v)),
        ("model", _model(span)),
        ("requested model", span.get("request_model") if span.get("request_model") != _model(span) else ""),
        ("provider", span.get("provider")),
        ("prompt id", span.get("prompt_id")),
        ("prompt version", span.get("prompt_version")),
        ("prompt hash", span.get("prompt_hash")),
        ("decided by", decided_by(span)),
        ("tokens", f"{format_tokens(tokens_in)} in / {format_tokens(tokens_out)} out" if tokens_in or tokens_out else ""),
        ("cost", f"{format_money(cost)} ({span.get('cost_source') or 'unknown'})" if cost else ""),
        ("price version", span.get("price_version") if cost else ""),
        ("finish reason", span.get("finish_reason")),
        ("tool", span.get("tool_name")),
        ("tool call id", span.get("tool_call_id")),
        ("checkpoint tier", str(tier) if tier else ""),
        ("checkpoint decision", span.get("checkpoint_decision")),
        ("approver", span.get("approver")),
        ("violation", span.get("violation")),
        ("user", span.get("user_id")),
        ("session", span.get("session_id")),
        ("trace id", span.get("trace_id")),
        ("span id", span.get("span_id")),
        ("parent span id", span.get("parent_span_id")),
        ("ingested", format_time(span.get("ingest_time")) if span.get("ingest_time") else ""),
        ("chain hash", span.get("chain_hash")),
    ]
    return [(name, str(value)) for name, value in pairs if value not in (None, "")]


# -- export -----------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_bytes(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> bytes:
    """UTF-8 CSV of ``rows``. Text cells that a spreadsheet would run as a formula get a
    leading ``'`` (OWASP "CSV injection"); numbers are written as they are.
    """
    columns = list(columns or (rows[0].keys() if rows else []))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_cell(row.get(c)) for c in columns])
    return out.getvalue().encode("utf-8")


def _csv_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return "" if value is None else value


def trace_rows(items: Iterable[Mapping[str, Any]], query: str = "") -> list[dict[str, Any]]:
    """Rows of the Traces table, one per trace (``GET /api/traces`` items), in the order given."""
    rows = []
    for t in items:
        agent = str(t.get("agent") or "")
        version = str(t.get("agent_version") or "")
        session_id = str(t.get("session") or "")
        rows.append({
            "started": format_time(t.get("started"))[:19],
            "status": "✕ error" if t.get("status") == "error" else str(t.get("status") or ""),
            "errors": int(t.get("errors") or 0),
            "trace": str(t.get("name") or ""),
            "agent": f"{agent} {version}".strip(),
            "duration s": float(t.get("duration_ms") or 0.0) / 1000,
            "cost": float(t.get("cost_usd") or 0.0),
            "tokens": int(t.get("input_tokens") or 0) + int(t.get("output_tokens") or 0),
            "spans": int(t.get("spans") or 0),
            "open": "trace?" + urlencode({"trace_id": t.get("trace_id") or ""}),
            "user": str(t.get("user") or ""),
            "session": ("sessions?" + urlencode({"session_id": session_id})) if session_id else None,
            "input": snippet(str(t.get("input") or ""), query),
        })
    return rows


def table_height(rows: int, most: int = 20, *, row_px: int = 35) -> int:
    """Pixels for a grid just tall enough for ``rows`` rows of ``row_px`` (at most ``most`` before it scrolls)."""
    return 38 + row_px * max(1, min(rows, most))


HIGHLIGHT = "background-color: #FFF3C4; font-weight: 600"


def highlight_row(frame: Any, row: int | None) -> Any:
    """A pandas Styler of ``frame`` with row ``row`` highlighted (the selected span)."""
    return frame.style.apply(lambda r: [HIGHLIGHT if r.name == row else ""] * len(r), axis=1)


_SNAPSHOT = re.compile(r"-(\d{4}-\d\d-\d\d|\d{8}|\d{4})$")
NO_MODEL = "(no model)"


def model_family(model: str) -> str:
    """A model without its dated snapshot suffix: ``gpt-4o-mini-2024-07-18`` → ``gpt-4o-mini``."""
    return _SNAPSHOT.sub("", model) if model else ""


def group_models(rows: Sequence[Mapping[str, Any]], *, snapshots: bool = True,
                 numbers: Sequence[str] = ("cost_usd", "calls", "input_tokens", "output_tokens")) -> list[dict[str, Any]]:
    """Cost rows with each dated snapshot added to its model (``snapshots`` lists which were
    merged), and an empty model named :data:`NO_MODEL`; row order by cost within the keys."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        model = str(row.get("model") or "")
        name = (model_family(model) if snapshots else model) or NO_MODEL
        key = tuple((k, row[k]) for k in sorted(row) if k not in (*numbers, "model", "spans")) + (("model", name),)
        out = merged.setdefault(key, {**{k: v for k, v in key}, **{n: 0 for n in numbers}, "snapshots": []})
        for n in numbers:
            out[n] += row.get(n) or 0
        if model and model != name and model not in out["snapshots"]:
            out["snapshots"].append(model)
    result = list(merged.values())
    for r in result:
        r["snapshots"] = ", ".join(sorted(r["snapshots"]))
    return result
