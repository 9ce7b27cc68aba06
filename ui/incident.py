"""Pure helpers for the Trace-back page: table rows from ``GET /api/traces/{id}/traceback``
and the incident report exports (Markdown and JSON). No Streamlit, no network.

The Markdown report is a file to download, never rendered by the UI. Span text inside it
sits in code fences longer than any run of backticks in that text, so it stays literal
when the report is pasted into a ticket.
"""
from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from flightlog.ui.format import format_duration, format_money, format_time, snippet
from flightlog.ui.transcript import chat_messages

__all__ = [
    "CHANGE_MARK",
    "chain_rows",
    "comparison_rows",
    "difference_summary",
    "differing_cells",
    "evidence",
    "evidence_rows",
    "first_message",
    "prompt_diff",
    "ranked_differences",
    "incident_json",
    "incident_markdown",
    "input_rows",
    "prompt_label",
    "step_content",
    "step_properties",
]

CHANGE_MARK = "≠"
"""Prefix of a comparison cell that differs from the incident run (also highlighted)."""

_COMPARE_COLUMNS = {"agent_version": "agent version", "models": "models", "prompts": "prompts",
                    "status": "status", "input": "input"}


def prompt_label(step: Mapping[str, Any]) -> str:
    """``id@version`` of a step's prompt, ``""`` when it had none."""
    pid, version = step.get("prompt_id") or "", step.get("prompt_version") or ""
    return f"{pid}@{version}" if pid or version else ""


def step_content(step: Mapping[str, Any]) -> str:
    """What a step fed forward: LLM output, tool result, retrieved documents, user input."""
    if step.get("role") == "user input":
        return str(step.get("input_text") or "")
    if step.get("span_type") == "checkpoint":
        return " ".join(
            str(v) for v in (f"tier {step.get('checkpoint_tier')}", step.get("checkpoint_decision"),
                             step.get("approver")) if v
        )
    return str(step.get("tool_result") or step.get("output_text") or step.get("status_message") or "")


def _row(step: Mapping[str, Any], width: int) -> dict[str, Any]:
    return {
        "time": format_time(step.get("timestamp")),
        "role": step.get("role") or "",
        "span": step.get("span_name") or "",
        "type": step.get("span_type") or "",
        "agent version": step.get("agent_version") or "",
        "model": step.get("model") or "",
        "prompt": prompt_label(step),
        "status": step.get("status") or "",
        "content": snippet(step_content(step), width=width),
    }


def input_rows(back: Mapping[str, Any], *, width: int = 120) -> list[dict[str, Any]]:
    """One row per input of the trace-back (user input, LLM calls, tool results…), oldest first,
    followed by upstream agents reached through span links."""
    steps = [*(back.get("inputs") or []), *(back.get("upstream") or [])]
    return [_row(s, width) for s in steps]


def chain_rows(back: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The causal chain, root first, as table rows."""
    return [_row(s, 60) for s in back.get("chain") or []]


def step_properties(step: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(field, value)`` pairs of a step for a two-column table, empty ones left out."""
    pairs = [
        ("span", step.get("span_name")),
        ("type", step.get("span_type")),
        ("status", step.get("status")),
        ("error type", step.get("error_type")),
        ("started", format_time(step.get("timestamp"))),
        ("latency", format_duration(step.get("duration_ms"))),
        ("agent", " ".join(str(v) for v in (step.get("agent_name"), step.get("agent_version")) if v)),
        ("model", step.get("model")),
        ("prompt", prompt_label(step)),
        ("prompt hash", step.get("prompt_hash")),
        ("tool", step.get("tool_name")),
        ("cost", format_money(step.get("cost_usd")) if step.get("cost_usd") else ""),
        ("trace id", step.get("trace_id")),
        ("span id", step.get("span_id")),
    ]
    return [(k, str(v)) for k, v in pairs if v not in (None, "")]


def _cell(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value or "")


def comparison_rows(back: Mapping[str, Any], *, width: int = 80) -> list[dict[str, Any]]:
    """The incident run first, then each other run of the same step; cells that differ from
    the incident start with :data:`CHANGE_MARK`; ``differs`` names the fields."""
    profile = back.get("profile") or {}
    target = back.get("target") or {}
    rows = [{
        "run": "this run (incident)",
        "time": format_time(target.get("timestamp")),
        **{label: snippet(_cell(profile.get(f)), width=width) for f, label in _COMPARE_COLUMNS.items()},
        "differs": "",
        "trace": f"trace?trace_id={target.get('trace_id', '')}&span_id={target.get('span_id', '')}",
    }]
    for run in (back.get("comparison") or {}).get("runs") or []:
        other, differs = run.get("profile") or {}, run.get("differs") or {}
        fields = list(differs.get("fields") or [])
        row = {"run": "other run", "time": format_time(run.get("timestamp"))}
        for f, label in _COMPARE_COLUMNS.items():
            text = snippet(_cell(other.get(f)), width=width)
            row[label] = f"{CHANGE_MARK} {text}" if f in fields else text
        keys = differs.get("input_keys") or []
        row["differs"] = ", ".join(
            _COMPARE_COLUMNS[f] + (f" ({', '.join(keys)})" if f == "input" and keys else "") for f in fields
        )
        row["trace"] = f"trace?trace_id={run.get('trace_id', '')}&span_id={run.get('span_id', '')}"
        rows.append(row)
    return rows


def difference_summary(back: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per compared field that differed in at least one other run: this run's value, the
    distinct values of the other runs, and in how many runs it differed."""
    profile = back.get("profile") or {}
    runs = (back.get("comparison") or {}).get("runs") or []
    out = []
    for field, label in _COMPARE_COLUMNS.items():
        differing = [r for r in runs if field in ((r.get("differs") or {}).get("fields") or [])]
        if not differing:
            continue
        others = list(dict.fromkeys(_cell((r.get("profile") or {}).get(field)) for r in differing))
        if field == "input":
            keys = sorted({k for r in differing for k in (r.get("differs") or {}).get("input_keys") or []})
            others = [f"differs in keys: {', '.join(keys)}"] if keys else [f"{len(others)} different inputs"]
        out.append({"field": label, "this run": _cell(profile.get(field)), "other runs": others,
                    "runs differing": f"{len(differing)} of {len(runs)}"})
    return out


def differing_cells(rows: Sequence[Mapping[str, Any]]) -> list[list[bool]]:
    """For each row and column of :func:`comparison_rows`: does that cell differ?"""
    return [[isinstance(v, str) and v.startswith(CHANGE_MARK) for v in row.values()] for row in rows]


def incident_json(back: Mapping[str, Any]) -> bytes:
    """The trace-back as the API returned it, pretty-printed UTF-8 JSON."""
    return json.dumps(back, indent=2, ensure_ascii=False, sort_keys=True).encode("utf-8")


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}text\n{text}\n{ticks}"


def _inline(text: Any) -> str:
    """Short span-derived text for a Markdown line, inside an inline code span."""
    flat = " ".join(str(text or "").split())
    if not flat:
        return "—"
    longest = max((len(m) for m in re.findall(r"`+", flat)), default=0)
    ticks = "`" * (longest + 1)
    return f"{ticks} {flat} {ticks}"


def _md_step(n: int, step: Mapping[str, Any]) -> list[str]:
    facts = [f"{step.get('role')}", f"type {_inline(step.get('span_type'))}", f"status {_inline(step.get('status'))}"]
    if step.get("agent_version"):
        facts.append(f"agent version {_inline(step['agent_version'])}")
    if step.get("model"):
        facts.append(f"model {_inline(step['model'])}")
    if prompt_label(step):
        facts.append(f"prompt {_inline(prompt_label(step))}")
    lines = [f"### {n}. {_inline(step.get('span_name'))}", "",
             f"- {' · '.join(facts)}", f"- started {format_time(step.get('timestamp'))},"
             f" span `{step.get('span_id', '')}`, trace `{step.get('trace_id', '')}`"]
    for label, key in (("Tool arguments", "tool_args"),):
        if step.get(key):
            lines += ["", f"{label}:", "", _fence(str(step[key]))]
    content = step_content(step)
    if content:
        lines += ["", "Content:", "", _fence(content)]
    return lines + [""]


def incident_markdown(back: Mapping[str, Any], found: Mapping[str, Any] | None = None) -> str:
    """An incident report in Markdown: the failing step, why it went through (``found``, from
    :func:`evidence`), its chain, its inputs in time order, upstream agents, and the comparison
    with other runs of the same step (most unusual differences first)."""
    target = back.get("target") or {}
    profile = back.get("profile") or {}
    lines = [
        f"# Incident trace-back: {_inline(target.get('span_name'))}",
        "",
        f"- trace `{back.get('trace_id', '')}`, span `{back.get('span_id', '')}`, project {_inline(back.get('project'))}",
        f"- agent {_inline(target.get('agent_name'))} version {_inline(profile.get('agent_version'))}",
        f"- models {_inline(', '.join(profile.get('models') or []))}",
        f"- prompts {_inline(', '.join(profile.get('prompts') or []))}",
        f"- status {_inline(profile.get('status'))}",
        "",
        "## The step",
        "",
        *_md_step(0, target),
    ]
    if found:
        lines += ["## Why it went through", ""]
        for row in evidence_rows(found):
            lines.append(f"- {row['what']}: {_inline(row['span'])} {_inline(row['details'])}")
            if row["its words"]:
                lines += ["", _fence(str(row["its words"])), ""]
        lines.append("")
    lines += [
        "## Causal chain (root first)",
        "",
    ]
    for i, step in enumerate(back.get("chain") or [], 1):
        lines.append(f"{i}. {_inline(step.get('span_name'))} ({step.get('span_type')}, agent version "
                     f"{_inline(step.get('agent_version'))})")
    lines += ["", "## Inputs in time order", ""]
    for i, step in enumerate(back.get("inputs") or [], 1):
        lines += _md_step(i, step)
    if back.get("upstream"):
        lines += ["## Upstream agents (span links)", ""]
        for i, step in enumerate(back["upstream"], 1):
            lines += _md_step(i, step)
    lines += ["## Compared with other runs of this step", ""]
    ranked = ranked_differences(back)
    if ranked:
        lines += ["What differed, most unusual first:", ""]
        lines += [f"{i}. {_inline(d['field'])}: this run {_inline(d['this run'])}, other runs "
                  f"{_inline(d['other runs'])} ({_inline(d['why'])})" for i, d in enumerate(ranked, 1)]
        lines.append("")
    rows = comparison_rows(back)
    if len(rows) == 1:
        lines.append("No other run of this step was found.")
    else:
        columns = list(rows[0])
        lines.append("| " + " | ".join(columns) + " |")
        lines.append("|" + "---|" * len(columns))
        for row in rows:
            lines.append("| " + " | ".join(_inline(row[c]).replace("|", "\\|") for c in columns) + " |")
    return "\n".join(lines) + "\n"


# -- evidence: who decided, what let it through, what it did ---------------------------

DECIDED_BY_SPAN = "flightlog.decided_by.span_id"
CHECKPOINT_ACTION = "flightlog.checkpoint.action"


def evidence(back: Mapping[str, Any], spans: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The case against one step, from its trace's spans (``GET /api/traces/{id}``):

    - ``decided_by``: the LLM call named by the step's ``flightlog.decided_by.span_id``;
    - ``checkpoint``: the checkpoint that let the step through (the last one that had finished
      when it started, preferring one about the same tool or decided by the same call), with
      ``said`` — its own words (``flightlog.checkpoint.action``);
    - ``did``: what the step did (its tool arguments, else its input).
    Keys are left out when the trace does not say.
    """
    target = back.get("target") or {}
    by_id = {str(s.get("span_id") or ""): s for s in spans}
    step = by_id.get(str(target.get("span_id") or ""), target)
    attrs = step.get("span_attributes") or {}
    out: dict[str, Any] = {"did": str(target.get("tool_args") or target.get("input_text") or "")}
    decider = by_id.get(str(attrs.get(DECIDED_BY_SPAN) or ""))
    if decider is not None:
        out["decided_by"] = decider
    started = int(step.get("start_ns") or target.get("start_ns") or 0)
    tool = str(target.get("tool_name") or "")

    def finished_before(s: Mapping[str, Any]) -> bool:
        return int(s.get("start_ns") or 0) + float(s.get("duration_ms") or 0.0) * 1e6 <= started + 1e6

    checkpoints = [s for s in spans if s.get("span_type") == "checkpoint" and finished_before(s)]

    def relevant(s: Mapping[str, Any]) -> int:
        a = s.get("span_attributes") or {}
        return int(bool(tool) and tool in str(s.get("span_name") or "") + str(a.get(CHECKPOINT_ACTION) or "")) + int(
            bool(attrs.get(DECIDED_BY_SPAN)) and a.get(DECIDED_BY_SPAN) == attrs.get(DECIDED_BY_SPAN))

    if checkpoints:
        chosen = max(checkpoints, key=lambda s: (relevant(s), int(s.get("start_ns") or 0)))
        out["checkpoint"] = chosen
        out["said"] = str((chosen.get("span_attributes") or {}).get(CHECKPOINT_ACTION) or "")
    return out


def evidence_rows(found: Mapping[str, Any]) -> list[dict[str, str]]:
    """The evidence as table rows: what, which span, and its words."""
    rows = []
    decider = found.get("decided_by")
    if decider:
        rows.append({"what": "decided by (LLM call)", "span": str(decider.get("span_name") or ""),
                     "details": " · ".join(v for v in (
                         str(decider.get("response_model") or decider.get("request_model") or ""),
                         prompt_label(decider)) if v),
                     "its words": snippet(str(decider.get("output_text") or ""), width=160)})
    checkpoint = found.get("checkpoint")
    if checkpoint:
        rows.append({"what": "let through by (checkpoint)", "span": str(checkpoint.get("span_name") or ""),
                     "details": " · ".join(str(v) for v in (
                         f"tier {checkpoint.get('checkpoint_tier')}" if checkpoint.get("checkpoint_tier") else "",
                         checkpoint.get("checkpoint_decision"), checkpoint.get("approver")) if v),
                     "its words": str(found.get("said") or "(the checkpoint recorded no action text)")})
    if found.get("did"):
        rows.append({"what": "what the step did", "span": "", "details": "", "its words": str(found["did"])})
    return rows


# -- what differed, most unusual first ---------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    return float(value) if isinstance(value, (int, float)) else None  # "93118" (an id) is no number


def _unusual(value: Any, others: Sequence[Any]) -> tuple[float, str]:
    """How unusual ``value`` is against the healthy runs' ``others`` (0 = like them), and why.

    Numbers: 0 inside the others' range; outside it, one plus how many powers of ten it lies
    beyond the nearer end (4950 against 24.75…129 scores ≈ 2.6). Other values: 1 when the
    others mostly agree on values this run does not have (v6 against v7); 0.1 when they are
    all different from each other (ids).
    """
    if not others:
        return 0.0, ""
    number, numbers = _number(value), [_number(o) for o in others]
    if number is not None and all(n is not None for n in numbers):
        known = [n for n in numbers if n is not None]
        lo, hi = min(known), max(known)
        if lo <= number <= hi:
            return 0.0, f"within the other runs' range {lo:g} … {hi:g}"
        edge = hi if number > hi else lo
        ratio = abs(number) / abs(edge) if edge and number else 10.0
        return 1.0 + abs(math.log10(ratio)) if ratio > 0 else 1.0, (
            f"{'above' if number > hi else 'below'} every other run ({lo:g} … {hi:g}), {ratio:.0f}× the nearest")
    texts = [_cell(o) for o in others]
    if _cell(value) in texts:
        return 0.0, "seen in other runs"
    distinct = len(set(texts))
    if distinct <= max(1, len(texts) // 2):
        return 1.0, f"no other run has it; they have {', '.join(sorted(set(texts))[:3])}"
    return 0.1, "every run differs here"


def ranked_differences(back: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What differed between this run and the other runs of the step, most unusual first:
    each compared field, and each key of a JSON input, with this run's value, the other runs'
    values, a score (:func:`_unusual`) and why."""
    profile = back.get("profile") or {}
    runs = [r.get("profile") or {} for r in (back.get("comparison") or {}).get("runs") or []]
    if not runs:
        return []
    out: list[dict[str, Any]] = []
    for field, label in _COMPARE_COLUMNS.items():
        if field == "input":
            continue
        value, others = profile.get(field), [r.get(field) for r in runs]
        if all(_cell(o) == _cell(value) for o in others):
            continue
        score, why = _unusual(_cell(value), [_cell(o) for o in others])
        out.append({"field": label, "this run": _cell(value), "other runs": _values(others), "unusual": score,
                    "why": why})
    mine = _json_dict(profile.get("input"))
    theirs = [_json_dict(r.get("input")) for r in runs]
    if mine is not None and all(t is not None for t in theirs):
        for key in sorted(set(mine) | {k for t in theirs if t for k in t}):
            others = [t.get(key) for t in theirs if t is not None]
            if all(o == mine.get(key) for o in others):
                continue
            score, why = _unusual(mine.get(key), others)
            out.append({"field": f"input {key}", "this run": _cell(mine.get(key)), "other runs": _values(others),
                        "unusual": score, "why": why})
    elif any(_cell(r.get("input")) != _cell(profile.get("input")) for r in runs):
        out.append({"field": "input", "this run": snippet(_cell(profile.get("input")), width=80),
                    "other runs": f"{len({_cell(r.get('input')) for r in runs})} different inputs",
                    "unusual": 0.1, "why": "not JSON: compared as a whole"})
    return sorted(out, key=lambda d: -d["unusual"])


def _values(others: Sequence[Any]) -> str:
    distinct = list(dict.fromkeys(_cell(o) for o in others))
    shown = ", ".join(distinct[:6])
    return shown + (f" … ({len(distinct)} values)" if len(distinct) > 6 else "")


def _json_dict(text: Any) -> dict[str, Any] | None:
    try:
        value = json.loads(str(text or ""))
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


# -- prompt text between versions ----------------------------------------------------------


def prompt_diff(old: str, new: str, old_label: str, new_label: str) -> str:
    """A unified diff of two prompt texts (what changed from ``old_label`` to ``new_label``)."""
    return "\n".join(difflib.unified_diff(old.splitlines(), new.splitlines(), fromfile=old_label,
                                          tofile=new_label, lineterm="", n=1))


def first_message(span: Mapping[str, Any]) -> str:
    """The text of a call's first input message (where the prompt is), from its transcript."""
    messages = chat_messages(span) if span else []
    return messages[0][1] if messages else ""
