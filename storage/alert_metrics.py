"""The figures alert rules watch (docs/alerts.md, "Metrics"), for one scope and one time window.

Each figure is defined as on the Monitoring page (:mod:`.monitoring`): the unit is the agent run
(an ``agent`` span) unless the scope names a prompt or a model, which only LLM calls carry; then
it is the LLM call. Alert windows go down to minutes while the ``usage_hourly`` rollup has hour
grain, so these reads go to ``spans`` for exactly ``[start, end)`` of the project, deduplicated
with ``LIMIT 1 BY TraceId, SpanId`` (docs/decisions/0006-dedupe-at-insert.md) — the same source
:func:`.monitoring.tool_errors` and :func:`.monitoring.checkpoint_escalations` read. Values are
bound parameters, columns come from :data:`SCOPE_COLUMNS` (docs/decisions/0004-bound-parameters-only.md).

``mean_score`` reads one of :data:`SCORE_SOURCES`: the human review scores (:mod:`.reviews`) by
default, or, when the rule names an ``evaluator``, that evaluator's scores in
``evaluation_scores`` — online rules, ``gen_ai.evaluation.result`` events sent by other tools and
experiments (``score_source`` narrows it to one of them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .errors import InvalidQuery
from .filters import MODEL_EXPR
from .monitoring import PROMPT_GROUPS
from .store import Store
from .timewindow import Window

SCOPE_COLUMNS = {
    "agent": "AgentName",
    "agent_version": "AgentVersion",
    "prompt_id": "PromptId",
    "prompt_version": "PromptVersion",
    "model": MODEL_EXPR,
}
"""A rule's scope key → the expression over ``spans`` it filters on."""

WAIT_ATTRIBUTE = "flightlog.checkpoint.wait_ms"
"""What a checkpoint waited for a person (the SDK records it on the checkpoint span)."""


@dataclass(frozen=True)
class Measure:
    """A figure over a window: its value (None when there is nothing to measure) and how many
    units (runs, LLM calls, tool calls, checkpoints, scores) it was computed from."""

    value: float | None
    samples: int


Scope = Mapping[str, str]


def _unit_types(scope: Scope) -> tuple[str, ...]:
    return ("llm", "embedding") if any(scope.get(k) for k in PROMPT_GROUPS) else ("agent",)


def unit_name(metric: str, scope: Scope) -> str:
    """What one sample of ``metric`` is, for people."""
    if metric in ("tool_error_rate",):
        return "tool call"
    if metric == "checkpoint_escalation_rate":
        return "checkpoint"
    if metric == "mean_score":
        return "score"
    if metric in ("cost_per_hour", "cost_per_day"):
        return "LLM call"
    return "LLM call" if _unit_types(scope) != ("agent",) else "run"


def _source(store_columns: str, project: str, window: Window, scope: Scope, params: dict[str, Any],
            *, span_types: tuple[str, ...] | None = None, prefix: str = "w") -> str:
    """Deduplicated spans of the project in the window and scope (optionally of some types)."""
    params["project"] = project
    cond = ["Project = {project:String}", *window.conditions(params, "Timestamp", prefix=prefix)]
    for key, value in scope.items():
        if value:
            name = f"scope_{key}"
            cond.append(f"{SCOPE_COLUMNS[key]} = {{{name}:String}}")
            params[name] = value
    if span_types is not None:
        cond.append(f"SpanType IN {{{prefix}_types:Array(String)}}")
        params[f"{prefix}_types"] = list(span_types)
    return (f"(SELECT {store_columns} FROM spans WHERE {' AND '.join(cond)}"
            " ORDER BY IngestTime DESC LIMIT 1 BY TraceId, SpanId)")


def _rate(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def _usage(store: Store, project: str, window: Window, scope: Scope) -> dict[str, Any]:
    params: dict[str, Any] = {"units": list(_unit_types(scope))}
    source = _source("SpanType, StatusCode, InputTokens, OutputTokens, CostUsd", project, window, scope, params)
    row = store.query(
        "SELECT countIf(SpanType IN {units:Array(String)}) AS units,"
        " countIf(SpanType IN {units:Array(String)} AND StatusCode = 'Error') AS errors,"
        " sum(InputTokens) + sum(OutputTokens) AS tokens, sum(CostUsd) AS cost,"
        " countIf(SpanType IN ('llm', 'embedding')) AS calls"
        f" FROM {source}", params)[0]
    return {k: (float(v) if k == "cost" else int(v)) for k, v in row.items()}


def _seconds(window: Window) -> float:
    assert window.start is not None and window.end is not None
    return (window.end - window.start).total_seconds()


def error_rate(store: Store, project: str, window: Window, scope: Scope) -> Measure:
    """Failed units / units (a unit whose span status is Error)."""
    u = _usage(store, project, window, scope)
    return Measure(_rate(u["errors"], u["units"]), u["units"])


def success_rate(store: Store, project: str, window: Window, scope: Scope) -> Measure:
    u = _usage(store, project, window, scope)
    return Measure(_rate(u["units"] - u["errors"], u["units"]), u["units"])


def tokens_per_run(store: Store, project: str, window: Window, scope: Scope) -> Measure:
    """Input + output tokens of every span in scope / units (runs, or LLM calls)."""
    u = _usage(store, project, window, scope)
    return Measure(_rate(u["tokens"], u["units"]), u["units"])


def cost_per_hour(store: Store, project: str, window: Window, scope: Scope) -> Measure:
    """Spend in the window scaled to one hour (samples: the LLM calls)."""
    u = _usage(store, project, window, scope)
    return Measure(u["cost"] * 3600.0 / _seconds(window), u["calls"])


def cost_per_day(store: Store, project: str, window: Window, scope: Scope) -> Measure:
    """Spend in the window scaled to one day (samples: the LLM calls)."""
    u = _usage(store, project, window, scope)
    return Measure(u["cost"] * 86400.0 / _seconds(window), u["calls"])


def latency_p95_ms(store: Store, project: str, window: Window, scope: Scope) -> Measure:
    """The 95th percentile of the units' durations (exact: ``quantileExact``), in ms.

    A root agent span's duration less what its run's checkpoints waited for a person
    (``flightlog.checkpoint.wait_ms``): an alert on agent latency must not fire because an
    approver took a coffee. Nested agent spans and LLM calls are taken as they are.
    """
    params: dict[str, Any] = {}
    units = _source("TraceId, ParentSpanId, Duration", project, window, scope, params,
                    span_types=_unit_types(scope), prefix="u")
    waits_window = Window(window.start, None)
    waits = _source(f"TraceId, SpanId, toFloat64OrZero(SpanAttributes['{WAIT_ATTRIBUTE}']) AS wait_ms",
                    project, waits_window, {}, params, span_types=("checkpoint",), prefix="c")
    row = store.query(
        "SELECT quantileExact(0.95)(greatest(toInt64(u.Duration)"
        " - if(u.ParentSpanId = '', toInt64(w.wait_ns), 0), 0)) AS p95, count() AS n"
        f" FROM {units} AS u LEFT JOIN (SELECT TraceId, sum(wait_ms) * 1e6 AS wait_ns FROM {waits} GROUP BY TraceId)"
        " AS w ON u.TraceId = w.TraceId", params, settings={"join_use_nulls": 0})[0]
    n = int(row["n"])
    return Measure(float(row["p95"]) / 1e6 if n else None, n)


def tool_error_rate(store: Store, project: str, window: Window, scope: Scope) -> Measure:
    """Failed tool calls / tool calls."""
    params: dict[str, Any] = {}
    source = _source("StatusCode", project, window, scope, params, span_types=("tool",))
    row = store.query(f"SELECT count() AS n, countIf(StatusCode = 'Error') AS e FROM {source}", params)[0]
    return Measure(_rate(int(row["e"]), int(row["n"])), int(row["n"]))


def checkpoint_escalation_rate(store: Store, project: str, window: Window, scope: Scope) -> Measure:
    """Checkpoints escalated to a person (tier ≥ 2) / checkpoints."""
    params: dict[str, Any] = {}
    source = _source("CheckpointTier", project, window, scope, params, span_types=("checkpoint",))
    row = store.query(f"SELECT count() AS n, countIf(CheckpointTier >= 2) AS e FROM {source}", params)[0]
    return Measure(_rate(int(row["e"]), int(row["n"])), int(row["n"]))


def review_mean_score(store: Store, project: str, window: Window, scope: Scope) -> Measure:
    """The mean of the human review scores given in the window (``review_scores``)."""
    params: dict[str, Any] = {"p": project}
    cond = ["Project = {p:String}", *window.conditions(params, "At")]
    for key, column in (("agent", "AgentName"), ("prompt_version", "PromptVersion")):
        if scope.get(key):
            cond.append(f"{column} = {{{key}:String}}")
            params[key] = scope[key]
    row = store.query(f"SELECT avg(Score) AS m, count() AS n FROM review_scores WHERE {' AND '.join(cond)}",
                      params)[0]
    n = int(row["n"])
    return Measure(float(row["m"]) if n else None, n)


def tool_argument_max(store: Store, project: str, window: Window, scope: Scope, options: Mapping[str, Any]) -> Measure:
    """The largest value of one argument (``options["argument"]``, dotted for nested keys) of
    one tool's calls (``options["tool"]``): a refund amount, a transfer's size. Calls whose
    arguments lack it are not counted."""
    keys = [k for k in str(options["argument"]).split(".") if k]
    params: dict[str, Any] = {"tool": str(options["tool"])}
    params.update({f"arg{i}": k for i, k in enumerate(keys)})
    path = ", ".join(f"{{arg{i}:String}}" for i in range(len(keys)))
    source = _source("ToolName, ToolArgs", project, window, scope, params, span_types=("tool",))
    row = store.query(
        f"SELECT max(JSONExtractFloat(ToolArgs, {path})) AS m, count() AS n FROM {source}"
        f" WHERE ToolName = {{tool:String}} AND JSONHas(ToolArgs, {path})", params)[0]
    n = int(row["n"])
    return Measure(float(row["m"]) if n else None, n)


EVALUATOR_SCOPES = {"agent": "AgentName", "agent_version": "AgentVersion", "prompt_version": "PromptVersion",
                    "model": "Model"}
"""Scope key → column of ``evaluation_scores`` (the facts of the scored run)."""
EVALUATOR_SOURCES = ("online", "ingest", "experiment")
"""Where evaluator scores come from (``score_source``; empty: all of them)."""


def evaluator_mean_score(store: Store, project: str, window: Window, scope: Scope,
                         options: Mapping[str, Any]) -> Measure:
    """The mean of one evaluator's scores (``options["evaluator"]``, its name) made in the window:
    online rules, evaluation events of other tools and experiments, or only ``options["score_source"]``.
    Judge marks still pending and results without a score are not counted."""
    params: dict[str, Any] = {"p": project, "evaluator": str(options["evaluator"])}
    cond = ["Project = {p:String}", "Evaluator = {evaluator:String}", *window.conditions(params, "CreatedAt")]
    if options.get("score_source"):
        cond.append("Source = {source:String}")
        params["source"] = str(options["score_source"])
    for key, column in EVALUATOR_SCOPES.items():
        if scope.get(key):
            cond.append(f"{column} = {{scope_{key}:String}}")
            params[f"scope_{key}"] = scope[key]
    row = store.query(
        "SELECT avg(Score) AS m, count() AS n FROM (SELECT Score, Label FROM evaluation_scores"
        f" WHERE {' AND '.join(cond)} ORDER BY CreatedAt DESC"
        " LIMIT 1 BY Source, ExperimentId, ItemId, TraceId, SpanId, Evaluator)"
        " WHERE Label != 'pending' AND Score IS NOT NULL", params)[0]
    n = int(row["n"])
    return Measure(float(row["m"]) if n else None, n)


MetricFn = Callable[[Store, str, Window, Scope], Measure]

SCORE_SOURCES: dict[str, tuple[Callable[..., Measure], frozenset[str]]] = {
    "review": (lambda store, project, window, scope, options: review_mean_score(store, project, window, scope),
               frozenset({"agent", "prompt_version"})),
    "evaluator": (evaluator_mean_score, frozenset(EVALUATOR_SCOPES)),
}
"""Where ``mean_score`` comes from → (function (store, project, window, scope, options) →
:class:`Measure`, the scope keys it can filter on). A rule naming an ``evaluator`` reads
``evaluator``, any other ``review``."""


def score_source(options: Mapping[str, Any] | None) -> str:
    """Which of :data:`SCORE_SOURCES` a ``mean_score`` rule with these options reads."""
    return "evaluator" if (options or {}).get("evaluator") else "review"


def _mean_score(store: Store, project: str, window: Window, scope: Scope) -> Measure:
    return SCORE_SOURCES["review"][0](store, project, window, scope, {})


ALL_SCOPES = frozenset(SCOPE_COLUMNS)
RUN_SCOPES = frozenset({"agent", "agent_version"})
METRICS: dict[str, tuple[MetricFn, Callable[[], frozenset[str]], str]] = {
    "error_rate": (error_rate, lambda: ALL_SCOPES, "failed runs / runs"),
    "success_rate": (success_rate, lambda: ALL_SCOPES, "successful runs / runs"),
    "latency_p95_ms": (latency_p95_ms, lambda: ALL_SCOPES, "95th percentile run latency, ms, without human waits"),
    "cost_per_hour": (cost_per_hour, lambda: ALL_SCOPES, "USD spent, per hour"),
    "cost_per_day": (cost_per_day, lambda: ALL_SCOPES, "USD spent, per day"),
    "tokens_per_run": (tokens_per_run, lambda: ALL_SCOPES, "input + output tokens per run"),
    "checkpoint_escalation_rate": (checkpoint_escalation_rate, lambda: RUN_SCOPES,
                                   "checkpoints escalated to a person (tier >= 2) / checkpoints"),
    "tool_error_rate": (tool_error_rate, lambda: RUN_SCOPES, "failed tool calls / tool calls"),
    "mean_score": (_mean_score, lambda: SCORE_SOURCES["review"][1] | SCORE_SOURCES["evaluator"][1],
                   "mean review score, or the mean score of an evaluator (needs evaluator)"),
    "tool_argument_max": (lambda *_: Measure(None, 0), lambda: RUN_SCOPES,
                          "the largest value of a tool call argument (needs tool and argument)"),
}
"""Metric name → (function, the scope keys it supports, what it is)."""


def supported_scopes(metric: str, options: Mapping[str, Any] | None = None) -> frozenset[str]:
    """The scope keys ``metric`` can filter on (for ``mean_score``: those of its score source)."""
    if metric == "mean_score":
        return SCORE_SOURCES[score_source(options)][1]
    return METRICS[metric][1]()


OPTION_METRICS = {"tool_argument_max": ("tool", "argument")}
"""Metrics that need more than a scope: the options they read."""
OPTIONAL_OPTIONS = {"mean_score": ("evaluator", "score_source")}
"""Metrics that may take options: the options they read."""


def measure(store: Store, project: str, metric: str, scope: Scope, start: datetime, end: datetime,
            options: Mapping[str, Any] | None = None) -> Measure:
    """``metric`` over ``[start, end)`` in ``scope`` (InvalidQuery for an unknown metric or scope
    key, or missing options)."""
    if metric not in METRICS:
        raise InvalidQuery(f"metric must be one of {sorted(METRICS)}, got {metric!r}")
    extra = sorted(k for k, v in scope.items() if v and k not in supported_scopes(metric, options))
    if extra:
        raise InvalidQuery(f"metric {metric} cannot be scoped by {extra}; it supports "
                           f"{sorted(supported_scopes(metric, options))}")
    window = Window(start, end)
    if metric == "mean_score":
        source = (options or {}).get("score_source")
        if source and source not in EVALUATOR_SOURCES:
            raise InvalidQuery(f"score_source must be one of {list(EVALUATOR_SOURCES)}, got {source!r}")
        return SCORE_SOURCES[score_source(options)][0](store, project, window, dict(scope), options or {})
    if metric in OPTION_METRICS:
        missing = [k for k in OPTION_METRICS[metric] if not (options or {}).get(k)]
        if missing:
            raise InvalidQuery(f"metric {metric} needs {missing}")
        return tool_argument_max(store, project, window, dict(scope), options or {})
    return METRICS[metric][0](store, project, window, dict(scope))
