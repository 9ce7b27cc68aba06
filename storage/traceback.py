"""Incident trace-back and "compare with healthy runs" (behind /api/traces/…/traceback).

The trace-back itself is a pure function over the spans of one trace
(:func:`build_traceback`), so it can be table-tested without a store; :func:`linked_spans`
and :func:`compare_runs` read the store (bounded, bound parameters; docs/decisions/0004 and 0007).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from .errors import InvalidQuery
from .store import Store

MAX_COMPARE = 50
MAX_LINKS = 50
COMPARE_WINDOW_DAYS = 30
"""Other runs of a step are looked for this many days either side of it (bounds the scan)."""
TEXT_CHARS = 4000
"""How much of each text a trace-back step carries (the trace page has the full text)."""

COMPARE_FIELDS = ("agent_version", "models", "prompts", "status", "input")
"""What :func:`diff_profiles` compares between the incident and another run of the step."""

_STEP_COLUMNS = (
    "TraceId, SpanId, ParentSpanId, SpanName, SpanType, AgentName, AgentVersion,"
    " if(ResponseModel != '', ResponseModel, RequestModel) AS Model, PromptId, PromptVersion,"
    " toUnixTimestamp64Nano(Timestamp) AS StartNs, Duration, StatusCode, ErrorType, ToolName,"
    f" leftUTF8(ToolArgs, {TEXT_CHARS}) AS ToolArgs, leftUTF8(ToolResult, {TEXT_CHARS}) AS ToolResult,"
    f" leftUTF8(InputText, {TEXT_CHARS}) AS InputText, leftUTF8(OutputText, {TEXT_CHARS}) AS OutputText"
)


def _cut(text: Any, limit: int = TEXT_CHARS) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _model(span: Mapping[str, Any]) -> str:
    return str(span.get("response_model") or span.get("request_model") or span.get("model") or "")


def _end_ns(span: Mapping[str, Any]) -> int:
    return int(span.get("start_ns") or 0) + int(float(span.get("duration_ms") or 0) * 1e6)


def _is_error(span: Mapping[str, Any]) -> bool:
    return str(span.get("status_code") or "") == "Error"


# -- trace-back (pure) -------------------------------------------------------------------


def _step(span: Mapping[str, Any], role: str) -> dict[str, Any]:
    """One span of a trace-back, with what it contributed (texts cut to TEXT_CHARS)."""
    return {
        "role": role,
        "trace_id": span.get("trace_id") or "",
        "span_id": span.get("span_id") or "",
        "parent_span_id": span.get("parent_span_id") or "",
        "span_name": span.get("span_name") or "",
        "span_type": span.get("span_type") or "",
        "timestamp": span.get("timestamp") or "",
        "start_ns": int(span.get("start_ns") or 0),
        "duration_ms": float(span.get("duration_ms") or 0.0),
        "status": "error" if _is_error(span) else str(span.get("status_code") or "Unset").lower(),
        "status_message": span.get("status_message") or "",
        "error_type": span.get("error_type") or "",
        "agent_name": span.get("agent_name") or "",
        "agent_version": span.get("agent_version") or "",
        "model": _model(span),
        "prompt_id": span.get("prompt_id") or "",
        "prompt_version": span.get("prompt_version") or "",
        "prompt_hash": span.get("prompt_hash") or "",
        "tool_name": span.get("tool_name") or "",
        "tool_args": _cut(span.get("tool_args")),
        "tool_result": _cut(span.get("tool_result")),
        "input_text": _cut(span.get("input_text")),
        "output_text": _cut(span.get("output_text")),
        "checkpoint_tier": int(span.get("checkpoint_tier") or 0),
        "checkpoint_decision": span.get("checkpoint_decision") or "",
        "approver": span.get("approver") or "",
        "input_tokens": int(span.get("input_tokens") or 0),
        "output_tokens": int(span.get("output_tokens") or 0),
        "cost_usd": float(span.get("cost_usd") or 0.0),
    }


_ROLES = {
    "llm": "llm call",
    "embedding": "llm call",
    "tool": "tool result",
    "retrieval": "retrieved documents",
    "checkpoint": "checkpoint",
    "agent": "agent",
}


def _ancestors(spans_by_id: Mapping[str, Mapping[str, Any]], span_id: str) -> list[Mapping[str, Any]]:
    """The span and its ancestors, root first (stops at a missing parent or a cycle)."""
    chain: list[Mapping[str, Any]] = []
    seen: set[str] = set()
    current = spans_by_id.get(span_id)
    while current is not None and current["span_id"] not in seen:
        seen.add(current["span_id"])
        chain.append(current)
        current = spans_by_id.get(current.get("parent_span_id") or "")
    return chain[::-1]


def run_profile(target: Mapping[str, Any], inputs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What configured one run of a step: agent version, models and prompts used before it,
    its input (tool arguments or input text) and its status. Compared by :func:`diff_profiles`.
    """
    llm = [s for s in inputs if s.get("span_type") in ("llm", "embedding")]
    models = list(dict.fromkeys(m for m in (_model(s) for s in llm) if m))
    if _model(target) and _model(target) not in models:
        models.append(_model(target))
    prompts = [f"{s['prompt_id']}@{s['prompt_version']}" for s in llm if s.get("prompt_id") or s.get("prompt_version")]
    if target.get("prompt_id") or target.get("prompt_version"):
        prompts.append(f"{target.get('prompt_id') or ''}@{target.get('prompt_version') or ''}")
    return {
        "agent_version": target.get("agent_version") or "",
        "models": models,
        "prompts": list(dict.fromkeys(prompts)),
        "status": "error" if _is_error(target) else str(target.get("status_code") or "Unset").lower(),
        "input": str(target.get("tool_args") or target.get("input_text") or ""),
    }


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def diff_profiles(base: Mapping[str, Any], other: Mapping[str, Any]) -> dict[str, Any]:
    """Which :data:`COMPARE_FIELDS` differ between two run profiles.

    Returns ``{"fields": [names that differ], "input_keys": [JSON keys whose values differ]}``;
    when both inputs are JSON objects the input is compared key by key.
    """
    differ = [f for f in COMPARE_FIELDS if f != "input" and base.get(f) != other.get(f)]
    keys: list[str] = []
    a, b = _json_object(str(base.get("input") or "")), _json_object(str(other.get("input") or ""))
    if a is not None and b is not None:
        keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        if keys:
            differ.append("input")
    elif base.get("input") != other.get("input"):
        differ.append("input")
    return {"fields": differ, "input_keys": keys}


def build_traceback(spans: Sequence[Mapping[str, Any]], span_id: str) -> dict[str, Any] | None:
    """The causal chain to ``span_id`` within one trace, or None if the span is not there.

    - ``chain``: the root, each ancestor and the span itself (root first).
    - ``inputs``: every other span of the trace that had finished when the span started
      (user input of the root, earlier LLM calls with prompt id/version and output, tool
      results, retrieved documents, checkpoints), oldest first.
    - ``links``: span links of the chain and the inputs (upstream agents in other traces).
    - ``profile``: :func:`run_profile` of the span.
    """
    by_id = {str(s.get("span_id") or ""): s for s in spans}
    target = by_id.get(span_id)
    if target is None:
        return None
    chain = _ancestors(by_id, span_id)
    chain_ids = {s["span_id"] for s in chain}
    started = int(target.get("start_ns") or 0)
    earlier = sorted(
        (s for s in spans if s["span_id"] not in chain_ids and _end_ns(s) <= started),
        key=lambda s: (int(s.get("start_ns") or 0), s["span_id"]),
    )
    inputs: list[dict[str, Any]] = []
    root = chain[0]
    if root.get("input_text"):
        inputs.append({**_step(root, "user input"), "output_text": ""})
    inputs.extend(_step(s, _ROLES.get(str(s.get("span_type") or ""), "span")) for s in earlier)
    links = []
    for span in [*chain, *earlier]:
        for link in span.get("links") or []:
            if link.get("trace_id") and link.get("span_id"):
                links.append({"from_span_id": span["span_id"], "trace_id": link["trace_id"],
                              "span_id": link["span_id"], "attributes": link.get("attributes") or {}})
    return {
        "trace_id": str(target.get("trace_id") or ""),
        "span_id": span_id,
        "target": _step(target, "target"),
        "chain": [_step(s, "target" if s is target else "ancestor") for s in chain],
        "inputs": inputs,
        "links": links[:MAX_LINKS],
        "profile": run_profile(target, earlier),
    }


# -- trace-back (store) ------------------------------------------------------------------


def _row_to_span(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "trace_id": row["TraceId"], "span_id": row["SpanId"], "parent_span_id": row["ParentSpanId"],
        "span_name": row["SpanName"], "span_type": row["SpanType"], "agent_name": row["AgentName"],
        "agent_version": row["AgentVersion"], "response_model": row["Model"], "prompt_id": row["PromptId"],
        "prompt_version": row["PromptVersion"], "start_ns": int(row["StartNs"]),
        "duration_ms": int(row["Duration"]) / 1e6, "status_code": row["StatusCode"],
        "error_type": row["ErrorType"], "tool_name": row["ToolName"], "tool_args": row["ToolArgs"],
        "tool_result": row["ToolResult"], "input_text": row["InputText"], "output_text": row["OutputText"],
        "timestamp": datetime.fromtimestamp(int(row["StartNs"]) / 1e9, tz=timezone.utc).isoformat(),
    }


def linked_spans(store: Store, project: str, links: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The spans that ``links`` point at (upstream agents), as trace-back steps; unknown ones left out."""
    wanted = [(str(link["trace_id"]), str(link["span_id"])) for link in links][:MAX_LINKS]
    if not wanted:
        return []
    rows = store.query(
        f"SELECT {_STEP_COLUMNS} FROM spans WHERE Project = {{project:String}}"
        " AND TraceId IN {trace_ids:Array(String)} AND SpanId IN {span_ids:Array(String)}"
        " ORDER BY IngestTime DESC LIMIT 1 BY TraceId, SpanId LIMIT {limit:UInt32}",
        {"project": project, "trace_ids": sorted({t for t, _ in wanted}),
         "span_ids": sorted({s for _, s in wanted}), "limit": MAX_LINKS},
    )
    keys = set(wanted)
    found = [_row_to_span(r) for r in rows if (r["TraceId"], r["SpanId"]) in keys]
    return [_step(s, "upstream agent") for s in sorted(found, key=lambda s: s["start_ns"])]


def compare_runs(
    store: Store,
    project: str,
    target: Mapping[str, Any],
    profile: Mapping[str, Any],
    *,
    limit: int = 10,
    healthy_only: bool = True,
) -> dict[str, Any]:
    """Other runs of the same agent step (same agent, span name and tool) within
    :data:`COMPARE_WINDOW_DAYS` of it, newest first, each with its :func:`run_profile` and
    what differs from ``profile``.

    "Healthy" means the step's span did not end in error. Only the step's trace is read
    for each run (ids first, then the spans of those traces: bounded by ``limit``).
    """
    if not 1 <= limit <= MAX_COMPARE:
        raise InvalidQuery(f"compare must be between 1 and {MAX_COMPARE}, got {limit}")
    params: dict[str, Any] = {
        "project": project, "agent": target.get("agent_name") or "", "name": target.get("span_name") or "",
        "tool": target.get("tool_name") or "", "trace_id": target.get("trace_id") or "", "limit": limit,
        "around": int(target.get("start_ns") or 0), "window": COMPARE_WINDOW_DAYS * 86_400 * 1_000_000_000,
    }
    healthy = " AND StatusCode != 'Error'" if healthy_only else ""
    keys = store.query_rows(
        "SELECT TraceId, SpanId, toUnixTimestamp64Nano(Timestamp) FROM spans"
        " WHERE Project = {project:String} AND AgentName = {agent:String} AND SpanName = {name:String}"
        " AND ToolName = {tool:String} AND TraceId != {trace_id:String}"
        " AND Timestamp >= fromUnixTimestamp64Nano(toInt64(greatest({around:Int64} - {window:Int64}, 0)))"
        " AND Timestamp <= fromUnixTimestamp64Nano({around:Int64} + {window:Int64})" + healthy +
        " ORDER BY Timestamp DESC LIMIT 1 BY TraceId, SpanId LIMIT {limit:UInt32}",
        params,
    )
    runs: list[dict[str, Any]] = []
    if keys:
        trace_ids = sorted({k[0] for k in keys})
        ranges = store.query_rows(
            "SELECT toUnixTimestamp64Nano(min(Start)), toUnixTimestamp64Nano(max(End)) FROM trace_index"
            " WHERE Project = {project:String} AND TraceId IN {trace_ids:Array(String)}",
            {"project": project, "trace_ids": trace_ids},
        )
        lo = min(int(ranges[0][0]), min(k[2] for k in keys)) if ranges and ranges[0][0] else min(k[2] for k in keys)
        hi = max(int(ranges[0][1]), max(k[2] for k in keys)) if ranges and ranges[0][1] else max(k[2] for k in keys)
        rows = store.query(
            f"SELECT {_STEP_COLUMNS} FROM spans WHERE Project = {{project:String}}"
            " AND Timestamp >= fromUnixTimestamp64Nano({lo:Int64}) AND Timestamp <= fromUnixTimestamp64Nano({hi:Int64})"
            " AND TraceId IN {trace_ids:Array(String)}"
            " ORDER BY IngestTime DESC LIMIT 1 BY TraceId, SpanId LIMIT {max_rows:UInt32}",
            {"project": project, "lo": lo, "hi": hi, "trace_ids": trace_ids, "max_rows": 2000 * limit},
        )
        by_trace: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            span = _row_to_span(row)
            by_trace.setdefault(span["trace_id"], []).append(span)
        for trace_id, span_id, _ in keys:
            back = build_traceback(by_trace.get(trace_id, []), span_id)
            if back is None:
                continue
            other = back["profile"]
            runs.append({
                "trace_id": trace_id,
                "span_id": span_id,
                "timestamp": back["target"]["timestamp"],
                "profile": other,
                "differs": diff_profiles(profile, other),
            })
    return {
        "step": {"agent_name": params["agent"], "span_name": params["name"], "tool_name": params["tool"]},
        "healthy_only": healthy_only,
        "runs": runs,
    }
