"""Pure helpers of the Datasets and Compare pages (docs/evaluation.md): tables and diffs built
from the API's answers, so the pages only lay them out. Everything returned is plain text for
``st.dataframe`` / ``st.code`` (never markdown)."""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from typing import Any

from flightlog.ui.types import DatasetItem, Experiment, ExperimentComparison, ExperimentGroupRow, ExperimentResult


def as_text(value: Any) -> str:
    """A JSON value as one readable line (text as is)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def item_rows(items: Sequence[DatasetItem]) -> list[dict[str, Any]]:
    return [{"#": i["seq"], "input": as_text(i["input"]),
             "expected": as_text(i["expected"]) if i["has_expected"] else "—",
             "metadata": as_text(i["metadata"]) if i["metadata"] else "",
             "from trace": i["source_trace_id"], "added by": i["created_by"], "id": i["id"]} for i in items]


def experiment_label(e: Experiment) -> str:
    """``name (prompt v7, agent 2.3.0, gpt-4o) · id``: what tells experiments apart."""
    facts = ", ".join(f for f in (f"prompt {e['prompt_version']}" if e["prompt_version"] else "",
                                  f"agent {e['agent_version']}" if e["agent_version"] else "",
                                  e["model"]) if f)
    return f"{e['name']}" + (f" ({facts})" if facts else "") + f" · {e['id'][:8]}"


def experiment_rows(experiments: Sequence[Experiment]) -> list[dict[str, Any]]:
    return [{"experiment": e["name"], "status": e["status"], "dataset version": e["dataset_version"],
             "agent": " ".join(x for x in (e["agent_name"], e["agent_version"]) if x),
             "prompt version": e["prompt_version"], "model": e["model"], "items": e["results"], "errors": e["errors"],
             **{f"mean {s['evaluator']}": s["mean"] for s in e["scores"]},
             "by": e["created_by"], "started": e["created_at"], "id": e["id"]} for e in experiments]


def facts_rows(comparison: ExperimentComparison) -> list[dict[str, Any]]:
    """One row per experiment: what ran (agent version, prompt version, model) and its size."""
    rows = []
    for n, e in enumerate(comparison["experiments"]):
        rows.append({"": "baseline" if n == 0 else f"#{n}", "experiment": e["name"],
                     "agent": " ".join(x for x in (e["agent_name"], e["agent_version"]) if x) or "—",
                     "prompt version": e["prompt_version"] or "—", "model": e["model"] or "—",
                     "dataset version": e["dataset_version"], "items": e["results"], "errors": e["errors"]})
    return rows


def evaluator_rows(comparison: ExperimentComparison) -> list[dict[str, Any]]:
    """Per evaluator: each experiment's mean, and the change against the baseline."""
    names = [("baseline" if n == 0 else f"#{n}") for n in range(len(comparison["experiments"]))]
    rows = []
    for ev in comparison["evaluators"]:
        row: dict[str, Any] = {"evaluator": ev["evaluator"]}
        for name, mean, delta in zip(names, ev["means"], ev["deltas"], strict=True):
            row[f"mean {name}"] = mean
            if name != "baseline":
                row[f"change {name}"] = delta
        rows.append(row)
    return rows


def _scores(result: ExperimentResult | None) -> str:
    if result is None:
        return "no result"
    if result["error"]:
        return f"error: {result['error']}"
    return ", ".join(f"{s['name']} {'-' if s['score'] is None else format(s['score'], 'g')}"
                     + (f" ({s['label']})" if s["label"] else "") for s in result["scores"])


def item_comparison_rows(comparison: ExperimentComparison) -> list[dict[str, Any]]:
    """Per item (regressions first, as the API orders them): input, expected, each output and its scores."""
    names = [("baseline" if n == 0 else f"#{n}") for n in range(len(comparison["experiments"]))]
    rows = []
    for item in comparison["items"]:
        row: dict[str, Any] = {"": "regressed" if item["regressed"] else ("differs" if item["outputs_differ"] else ""),
                               "#": item["seq"], "input": as_text(item["input"]),
                               "expected": "—" if item["expected"] is None else as_text(item["expected"])}
        for name, result in zip(names, item["results"], strict=True):
            row[f"output {name}"] = "—" if result is None else as_text(result["output"])
            row[f"scores {name}"] = _scores(result)
        row["change"] = item["delta"]
        rows.append(row)
    return rows


def output_diff(baseline: ExperimentResult | None, other: ExperimentResult | None) -> str:
    """A unified diff of two outputs, pretty-printed JSON line by line ('' when equal)."""
    def lines(result: ExperimentResult | None) -> list[str]:
        if result is None:
            return ["(no result)"]
        if result["error"]:
            return [f"(error) {result['error']}"]
        value = result["output"]
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True, indent=2)
        return text.splitlines() or [""]

    old, new = lines(baseline), lines(other)
    if old == new:
        return ""
    return "\n".join(difflib.unified_diff(old, new, "baseline", "this experiment", lineterm=""))


def group_rows(rows: Sequence[ExperimentGroupRow], label: str) -> list[dict[str, Any]]:
    """The grouped scores as a table: one row per group and evaluator, ``label`` naming the group."""
    return [{label: r["group"] or "(unknown)", "evaluator": r["evaluator"], "mean score": r["mean"],
             "items scored": r["scored"], "passed": r["passed"], "failed": r["failed"],
             "experiments": r["experiments"]} for r in rows]
