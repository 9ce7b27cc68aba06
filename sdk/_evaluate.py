"""``flightlog.evaluate``: run a task over a dataset as an experiment, score every output, and
check the gates a CI pipeline fails on (docs/evaluation.md).

Each item runs as a traced agent run (``flightlog.experiment.id`` and
``flightlog.dataset.item_id`` on its span) whose finished spans are also kept in memory for the
evaluators (tool calls, tokens, cost). Results go to the collector's ``/api/experiments`` as the
items finish; the report holds the means per evaluator and whether every gate held.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import inspect
import json
import math
import os
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from . import _env, _http
from . import semconv as K
from ._exceptions import FlightlogError
from ._run import AgentRun
from ._setup import flush, get_state, init, shutdown
from .evaluators import EvalCase, EvalResult, Evaluator, ToolCallRecord, evaluator, parse

RESULTS_BATCH = 25
_API_TIMEOUT_S = 60.0


class EvaluationError(FlightlogError):
    """The experiment could not run: unknown dataset, unreachable collector, a refused key."""


@dataclasses.dataclass(frozen=True)
class Gate:
    """One CI gate: ``min_score`` (an evaluator's mean at least a value) or ``max_drop`` (not
    more below the baseline's mean than allowed)."""

    kind: str
    evaluator: str
    ok: bool
    detail: str


@dataclasses.dataclass
class ItemResult:
    item_id: str
    input: Any
    expected: Any
    output: Any
    error: str
    scores: list[EvalResult]
    trace_id: str = ""
    latency_s: float = 0.0


@dataclasses.dataclass
class EvalReport:
    """What ``evaluate`` ran and found; ``passed`` is False when a gate failed."""

    experiment_id: str | None
    dataset: str
    dataset_version: int
    items: list[ItemResult]
    means: dict[str, float | None]
    gates: list[Gate]
    baseline_id: str | None = None
    baseline_means: dict[str, float | None] = dataclasses.field(default_factory=dict)
    #: Spans of the runs that the exporter could not deliver (a key that may not ingest, say).
    spans_not_delivered: int = 0

    @property
    def passed(self) -> bool:
        return all(g.ok for g in self.gates)

    @property
    def errors(self) -> int:
        return sum(1 for i in self.items if i.error)

    def table(self) -> str:
        """The summary as a plain-text table: per evaluator the mean, passes, fails, the baseline."""
        rows = [("evaluator", "mean", "pass", "fail", "baseline", "delta")]
        for name, mean in sorted(self.means.items()):
            scores = [s for i in self.items for s in i.scores if s.name == name]
            base = self.baseline_means.get(name)
            rows.append((name, _fmt(mean), str(sum(1 for s in scores if s.label == "pass")),
                         str(sum(1 for s in scores if s.label == "fail")), _fmt(base),
                         "" if mean is None or base is None else f"{mean - base:+.3f}"))
        widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        head = (f"experiment {self.experiment_id or '(not stored)'} on {self.dataset} v{self.dataset_version}:"
                f" {len(self.items)} items, {self.errors} errors")
        gates = [f"{'PASS' if g.ok else 'FAIL'}  {g.kind} {g.evaluator}: {g.detail}" for g in self.gates]
        return "\n".join([head, *lines, *gates])


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


# -- the run's spans, kept for the evaluators ---------------------------------------------------------
class _Recorder(SpanProcessor):
    """Keeps the finished spans of the traces being evaluated (nothing else)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spans: dict[int, list[ReadableSpan]] = {}

    def watch(self, trace_id: int) -> None:
        with self._lock:
            self._spans.setdefault(trace_id, [])

    def take(self, trace_id: int) -> list[ReadableSpan]:
        with self._lock:
            return self._spans.pop(trace_id, [])

    def on_end(self, span: ReadableSpan) -> None:
        context = span.context
        if context is None:
            return
        with self._lock:
            kept = self._spans.get(context.trace_id)
            if kept is not None:
                kept.append(span)


_RECORDER = _Recorder()
_RECORDING_ON: set[int] = set()
_RECORDING_LOCK = threading.Lock()


def _recorder() -> _Recorder:
    """The recorder, added once to the provider flightlog records on (so each span is kept once)."""
    provider = get_state().provider
    with _RECORDING_LOCK:
        if provider is not None and id(provider) not in _RECORDING_ON and hasattr(provider, "add_span_processor"):
            provider.add_span_processor(_RECORDER)
            _RECORDING_ON.add(id(provider))
    return _RECORDER


def _json_value(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _facts(spans: Sequence[ReadableSpan], own_span_id: int) -> dict[str, Any]:
    """Tool calls, tokens, cost, and the agent, prompt version and model the run's spans name."""
    tools, tokens, cost, facts = [], 0, 0.0, {"agent_name": "", "agent_version": "", "prompt_version": "", "model": ""}
    has_tokens = has_cost = False
    for span in sorted(spans, key=lambda s: s.start_time or 0):
        a = span.attributes or {}
        operation = a.get(K.OPERATION)
        if operation == "execute_tool":
            tools.append(ToolCallRecord(str(a.get(K.TOOL_NAME, "")), _json_value(a.get(K.TOOL_ARGUMENTS)),
                                        _json_value(a.get(K.TOOL_RESULT))))
        elif operation == "invoke_agent" and span.context is not None and span.context.span_id != own_span_id:
            facts["agent_name"] = facts["agent_name"] or str(a.get(K.AGENT_NAME, ""))
            facts["agent_version"] = facts["agent_version"] or str(a.get(K.AGENT_VERSION, ""))
        elif operation is not None and a.get(K.REQUEST_MODEL) is not None:
            for key in (K.INPUT_TOKENS, K.OUTPUT_TOKENS):
                count = a.get(key)
                if isinstance(count, int):
                    tokens += count
                    has_tokens = True
            facts["model"] = str(a.get(K.RESPONSE_MODEL) or a.get(K.REQUEST_MODEL) or facts["model"])
            if a.get(K.PROMPT_VERSION):
                facts["prompt_version"] = str(a[K.PROMPT_VERSION])
        spent = a.get(K.COST_USD)
        if isinstance(spent, (int, float)) and operation != "invoke_agent":
            cost += float(spent)
            has_cost = True
    own = next((s for s in spans if s.context is not None and s.context.span_id == own_span_id), None)
    if own is not None and not facts["agent_name"]:
        facts["agent_name"] = str((own.attributes or {}).get(K.AGENT_NAME, ""))
        facts["agent_version"] = str((own.attributes or {}).get(K.AGENT_VERSION, "") or "")
    return {"tool_calls": tools, "tokens": tokens if has_tokens else None, "cost_usd": cost if has_cost else None,
            **facts}


class _Discard(SpanExporter):
    """Exports nothing: a local evaluation's runs are only read by its evaluators."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


# -- the collector's API ---------------------------------------------------------------------------------
class _Api:
    def __init__(self, url: str, key: str) -> None:
        self.url, self.key = url.rstrip("/"), key

    def call(self, method: str, path: str, body: Any = None, params: Mapping[str, Any] | None = None) -> Any:
        query = ("?" + urllib.parse.urlencode(params)) if params else ""
        try:
            resp = _http.send(method, self.url + path + query, headers={"Authorization": f"Bearer {self.key}"},
                              body=body, timeout=_API_TIMEOUT_S)
        except _http.Unreachable as exc:
            raise EvaluationError(f"cannot reach {self.url}: {exc}") from exc
        if resp.status >= 400:
            raise EvaluationError(f"{method} {path}: HTTP {resp.status}: {resp.error()}")
        return resp.json()

    def items(self, dataset: str, version: int | None) -> tuple[int, list[dict[str, Any]]]:
        name = urllib.parse.quote(dataset, safe="")
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": 1000, "offset": 0}
        if version is not None:
            params["version"] = version
        while True:
            page = self.call("GET", f"/api/datasets/{name}/items", params=params)
            found += page["items"]
            params["offset"] += len(page["items"])
            if not page["items"] or params["offset"] >= page["total"]:
                return int(page["version"]), found


# -- evaluate ---------------------------------------------------------------------------------------------
def load_task(spec: str) -> Callable[..., Any]:
    """``module:function`` (the current directory importable, as ``python -m`` has it)."""
    module, sep, attr = spec.partition(":")
    if not sep or not module or not attr:
        raise EvaluationError(f"task must be module:function, got {spec!r}")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        target = importlib.import_module(module)
        for part in attr.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise EvaluationError(f"cannot load task {spec!r}: {exc}") from exc
    if not callable(target):
        raise EvaluationError(f"task {spec!r} is not callable")
    return target


def _call(task: Callable[..., Any], value: Any) -> Any:
    result = task(value)
    if inspect.isawaitable(result):
        async def wait() -> Any:
            return await result

        return asyncio.run(wait())
    return result


def _evaluators(given: Iterable[Any]) -> list[Evaluator]:
    found = [parse(e) if isinstance(e, str) else evaluator(e) for e in given]
    names = [e.name for e in found]
    doubles = sorted({n for n in names if names.count(n) > 1})
    if doubles:
        raise EvaluationError(f"evaluators must have distinct names (give one a name): {', '.join(doubles)}")
    return found


def _run_item(task: Callable[..., Any], item: Mapping[str, Any], evaluators: Sequence[Evaluator], experiment_id: str,
              dataset: str, task_name: str) -> tuple[ItemResult, dict[str, Any]]:
    recorder = _recorder()
    attributes = {K.EXPERIMENT_ID: experiment_id, K.DATASET_ITEM_ID: item["id"], K.DATASET_NAME: dataset}
    run = AgentRun(task_name, input=item["input"], attributes={k: v for k, v in attributes.items() if v})
    output: Any = None
    error = ""
    started = time.perf_counter()
    trace_id = span_id = 0
    try:
        with run:
            context = run.span.get_span_context()
            trace_id, span_id = context.trace_id, context.span_id
            if trace_id:
                recorder.watch(trace_id)
            try:
                output = _call(task, item["input"])
                run.set_output(output)
            except Exception as exc:  # noqa: BLE001 - the task's failure is this item's result
                error = f"{type(exc).__name__}: {exc}"
                run.set_error(error)
    except Exception as exc:  # noqa: BLE001 - refused before the task ran (a paused agent, a limit)
        error = error or f"{type(exc).__name__}: {exc}"
    latency = time.perf_counter() - started
    facts = _facts(recorder.take(trace_id), span_id) if trace_id else _facts([], 0)
    case = EvalCase(input=item["input"], output=output, expected=item.get("expected"),
                    has_expected=bool(item.get("has_expected", "expected" in item)),
                    metadata=item.get("metadata") or {}, error=error, tool_calls=facts["tool_calls"],
                    latency_s=latency, cost_usd=facts["cost_usd"], tokens=facts["tokens"])
    scores = [e(case) if not error else EvalResult(e.name, 0.0, "fail", f"the task raised: {error}")
              for e in evaluators]
    trace_hex = format(trace_id, "032x") if trace_id else ""
    result = ItemResult(item["id"], item["input"], case.expected, output, error, scores, trace_hex, latency)
    posted = {"item_id": item["id"], "output": _jsonable(output), "error": error[:10_000], "trace_id": trace_hex,
              "span_id": format(span_id, "016x") if span_id else "", "latency_ms": latency * 1000,
              "cost_usd": facts["cost_usd"] or 0.0, "tokens": facts["tokens"] or 0,
              "agent_name": facts["agent_name"], "agent_version": facts["agent_version"],
              "prompt_version": facts["prompt_version"], "model": facts["model"],
              "scores": [{"name": s.name, "score": s.score, "label": s.label, "explanation": s.explanation[:10_000]}
                         for s in scores]}
    return result, posted


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


def means_of(items: Sequence[ItemResult]) -> dict[str, float | None]:
    """Mean score per evaluator over the items it scored (None: it scored none)."""
    by_name: dict[str, list[float]] = {}
    for item in items:
        for score in item.scores:
            values = by_name.setdefault(score.name, [])
            if score.score is not None:
                values.append(score.score)
    return {name: (math.fsum(v) / len(v) if v else None) for name, v in by_name.items()}


def check_gates(means: Mapping[str, float | None], min_scores: Mapping[str, float],
                baseline: Mapping[str, float | None] | None, max_drop: float | None) -> list[Gate]:
    """The gates: each ``min_scores`` evaluator's mean at least its value; with ``max_drop``,
    no evaluator's mean more than that below the baseline's."""
    gates = []
    for name, minimum in sorted(min_scores.items()):
        mean = means.get(name)
        if mean is None:
            gates.append(Gate("min-score", name, False, f"no scores (evaluators: {', '.join(sorted(means)) or 'none'})"))
        else:
            gates.append(Gate("min-score", name, mean >= minimum, f"mean {mean:.3f} {'>=' if mean >= minimum else '<'}"
                                                                  f" {minimum:g}"))
    if max_drop is not None and baseline is not None:
        for name, base in sorted(baseline.items()):
            mean = means.get(name)
            if base is None or name not in means:
                continue
            if mean is None:
                gates.append(Gate("max-drop", name, False, f"no scores now (baseline {base:.3f})"))
                continue
            drop = base - mean
            gates.append(Gate("max-drop", name, drop <= max_drop + 1e-12,
                              f"mean {mean:.3f} vs baseline {base:.3f} (drop {drop:.3f}, allowed {max_drop:g})"))
    return gates


def _baseline(api: _Api, dataset: str, baseline: str, current: str | None) -> tuple[str | None, dict[str, float | None]]:
    if baseline == "last":
        found = api.call("GET", "/api/experiments", params={"dataset": dataset, "status": "finished", "limit": 50})
        previous = next((e for e in found["experiments"] if e["id"] != current), None)
        if previous is None:
            return None, {}
    else:
        previous = api.call("GET", f"/api/experiments/{urllib.parse.quote(baseline, safe='')}")
    return previous["id"], {s["evaluator"]: s["mean"] for s in previous["scores"]}


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="item", desc="evaluating", file=sys.stderr)


def evaluate(dataset: str | Sequence[Mapping[str, Any]], task: Callable[..., Any] | str,
             evaluators: Iterable[Evaluator | Callable[[EvalCase], Any] | str] = (), *, url: str | None = None,
             key: str | None = None, ingest_key: str | None = None, version: int | None = None,
             name: str | None = None, min_scores: Mapping[str, float] | None = None, baseline: str | None = None,
             max_drop: float | None = None, concurrency: int = 4, progress: bool = True,
             metadata: Mapping[str, Any] | None = None) -> EvalReport:
    """Run ``task`` on every item of ``dataset`` and score each output with ``evaluators``.

    Example::

        report = flightlog.evaluate("refund-regressions", refund_bot, ["exact", "tool_called:issue_refund"],
                                    min_scores={"exact": 1.0}, baseline="last", max_drop=0.05)
        assert report.passed, report.table()

    Parameters:
        dataset: a dataset's name on the collector (an experiment is stored there), or a list of
            items (``{"input": …, "expected": …, "metadata": …}``) evaluated locally, not stored.
        task: called with an item's ``input`` (sync or async), returns the output; or
            ``"module:function"``. Each call is a traced agent run.
        evaluators: :mod:`flightlog.evaluators` objects, callables taking an ``EvalCase``, or
            names as the CLI takes them (``"exact"``, ``"regex:^ok"``, ``"module:function"``).
        url, key: the collector's API and a key that may write experiments (engineer or admin);
            default the traces endpoint's host and ``FLIGHTLOG_API_KEY``.
        ingest_key: when flightlog is not initialised yet, it is, with this key (default
            ``FLIGHTLOG_INGEST_KEY``, else ``key``) for the runs' spans, and shut down afterwards.
        version: the dataset version to run on (default: the current one).
        min_scores: gates, ``{evaluator: minimum mean}``.
        baseline, max_drop: ``"last"`` (the latest finished experiment on the dataset) or an
            experiment id; fail when an evaluator's mean is more than ``max_drop`` below it.
        concurrency: items run at once (threads).
    """
    state = get_state()
    api_url = (url or _http.api_base(state.config.endpoint or _env.DEFAULT_ENDPOINT)).rstrip("/")
    api_key = key if key is not None else os.environ.get(_env.FLIGHTLOG_API_KEY, "")
    run_task = load_task(task) if isinstance(task, str) else task
    task_name = task if isinstance(task, str) else f"{getattr(task, '__module__', '')}:{getattr(task, '__name__', 'task')}"
    agent_name = task_name.rpartition(":")[2].rpartition(".")[2] or "task"
    chosen = _evaluators(evaluators)
    local = not isinstance(dataset, str)
    api = None if local else _Api(api_url, api_key)
    if api is not None:
        at, items = api.items(str(dataset), version)
    else:
        items = [{"id": f"{n:020x}", **dict(i)} for n, i in enumerate(dataset, start=1) if isinstance(i, Mapping)]
        if len(items) != len(dataset):
            raise EvaluationError("a local dataset is a list of items: {\"input\": …, \"expected\": …, \"metadata\": …}")
        at = len(items)
    owns_pipeline = not state.processors
    if owns_pipeline and local:  # the runs are recorded for the evaluators only, sent nowhere
        from opentelemetry.sdk.trace import TracerProvider

        init(tracer_provider=TracerProvider(), exporter=_Discard(), batch=False, control=False)
    elif owns_pipeline:
        init(endpoint=api_url + _env.DEFAULT_TRACES_PATH, control=False,
             api_key=ingest_key or os.environ.get(_env.FLIGHTLOG_INGEST_KEY) or api_key)
    pipeline = get_state()
    _recorder()
    dataset_name = str(dataset) if not local else "(local)"
    experiment_id = ""
    try:
        if api is not None:
            experiment_id = api.call("POST", "/api/experiments", body={
                "name": name or "", "dataset": dataset_name, "dataset_version": at, "task": task_name,
                "metadata": dict(metadata or {})})["id"]
        results: list[ItemResult] = []
        pending: list[dict[str, Any]] = []
        bar = _progress(len(items), progress)
        with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="flightlog-eval") as pool:
            futures = [pool.submit(_run_item, run_task, item, chosen, experiment_id, dataset_name, agent_name)
                       for item in items]
            for future in as_completed(futures):
                result, posted = future.result()
                results.append(result)
                pending.append(posted)
                if bar is not None:
                    bar.update(1)
                if api is not None and len(pending) >= RESULTS_BATCH:
                    api.call("POST", f"/api/experiments/{experiment_id}/results", body={"results": pending})
                    pending = []
        if bar is not None:
            bar.close()
        if api is not None:
            if pending:
                api.call("POST", f"/api/experiments/{experiment_id}/results", body={"results": pending})
            api.call("POST", f"/api/experiments/{experiment_id}/finish", body={})
    finally:
        if owns_pipeline:
            shutdown()
        else:
            flush()
    exporter = pipeline.exporter
    lost = (exporter.failed_spans if exporter is not None else 0) + sum(
        getattr(p, "dropped_spans", 0) for p in pipeline.processors)
    order = {item["id"]: n for n, item in enumerate(items)}
    results.sort(key=lambda r: order[r.item_id])
    means = means_of(results)
    base_id: str | None = None
    base_means: dict[str, float | None] = {}
    if baseline and api is not None:
        base_id, base_means = _baseline(api, dataset_name, baseline, experiment_id)
    gates = check_gates(means, dict(min_scores or {}), base_means if base_id else None, max_drop)
    if max_drop is not None and baseline and base_id is None:
        gates.append(Gate("max-drop", "*", True, f"no baseline ({baseline}) yet: nothing to compare with"))
    return EvalReport(experiment_id or None, dataset_name, at, results, means, gates, base_id, base_means, lost)
