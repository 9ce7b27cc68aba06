"""Pure helpers for the Monitoring page: choices, URL values and totals over the rows of
``GET /api/insights/monitoring``. No Streamlit, no network."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["BREAKDOWNS", "BUCKETS", "escalation_total", "tool_error_series", "totals"]

BREAKDOWNS = {
    "": "None",
    "agent_version": "Agent version",
    "prompt_version": "Prompt version",
    "agent": "Agent",
    "model": "Model",
}
"""URL value → label. Prompt version and model count LLM calls; the others count agent runs."""


def legend_title(by: str) -> str:
    """A chart legend's title for a breakdown ("series" for none, not the "None" of the picker)."""
    return BREAKDOWNS[by].lower() if by and by in BREAKDOWNS else "series"

BUCKETS = {"day": "Day", "hour": "Hour"}


def totals(series: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Units, errors, success rate and tokens per unit over every row (all buckets and groups).

    Latency quantiles cannot be added up, so the worst bucket's p95 is reported instead.
    """
    units = sum(int(r.get("units") or 0) for r in series)
    errors = sum(int(r.get("errors") or 0) for r in series)
    tokens = sum(int(r.get("tokens") or 0) for r in series)
    p95 = [float(r["latency_p95_ms"]) for r in series if r.get("latency_p95_ms") is not None]
    return {
        "units": units,
        "errors": errors,
        "success_rate": (units - errors) / units if units else None,
        "tokens_per_unit": tokens / units if units else None,
        "worst_p95_ms": max(p95) if p95 else None,
    }


def escalation_total(series: Sequence[Mapping[str, Any]]) -> float | None:
    """Share of all checkpoints that were escalated to a person (tier ≥ 2)."""
    checkpoints = sum(int(r.get("checkpoints") or 0) for r in series)
    escalated = sum(int(r.get("escalated") or 0) for r in series)
    return escalated / checkpoints if checkpoints else None


def tool_error_series(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Tool errors per time bucket and tool (error types added up), as ``time``/``group``/``errors``
    rows for :func:`flightlog.ui.charts.series_figure`."""
    counts: dict[tuple[str, str], int] = {}
    for row in errors:
        key = (str(row.get("time") or ""), str(row.get("tool") or ""))
        counts[key] = counts.get(key, 0) + int(row.get("errors") or 0)
    return [{"time": t, "group": tool, "errors": n} for (t, tool), n in sorted(counts.items())]
