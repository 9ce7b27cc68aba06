"""Experiments (``/api/experiments``, docs/evaluation.md): a task run over a dataset version,
with every evaluator's result per item.

``flightlog eval run`` (or ``flightlog.evaluate``) creates the experiment, posts the results
as the items finish and finishes it; the UI's Compare page reads them side by side.
Writes need an engineer or admin key, reads any read key.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from flightlog.storage import evaluation as db
from flightlog.storage.keys import KeyRecord
from flightlog.storage.timewindow import iso

from flightlog.collector.api import models
from flightlog.collector.api.datasets import NAME_PATTERN, Conflict, _version, item_to_api, require_dataset
from flightlog.collector.api.deps import CollectorDep, ReadKey, hex_id, require
from flightlog.collector.auth import ENGINEER_ROLES
from flightlog.collector.contract import ContractRoute, errors, respond
from flightlog.collector.errors import BadRequest, NotFound

router = APIRouter(prefix="/api/experiments", tags=["experiments"], route_class=ContractRoute)
EngineerKey = Annotated[KeyRecord, Depends(require(ENGINEER_ROLES))]
MAX_RESULTS_PER_POST = 500
MAX_COMPARED = 6
_SHORT = 200


class NewExperiment(BaseModel):
    name: str = Field(default="", max_length=_SHORT, description="For people; default the task and the time.")
    dataset: str = Field(pattern=NAME_PATTERN)
    dataset_version: int | None = Field(default=None, ge=0, description="Default: the dataset's current version.")
    task: str = Field(default="", max_length=500, description="What ran, e.g. module:function.")
    metadata: dict[str, Any] = Field(default_factory=dict)


class Score(BaseModel):
    """One evaluator's result (OTel GenAI gen_ai.evaluation.result)."""

    name: str = Field(min_length=1, max_length=_SHORT)
    score: float | None = Field(default=None, allow_inf_nan=False)
    label: str = Field(default="", max_length=_SHORT)
    explanation: str = Field(default="", max_length=10_000)


class Facts(BaseModel):
    agent_name: str = Field(default="", max_length=_SHORT)
    agent_version: str = Field(default="", max_length=_SHORT)
    prompt_version: str = Field(default="", max_length=_SHORT)
    model: str = Field(default="", max_length=_SHORT)


class NewResult(Facts):
    item_id: str = Field(min_length=20, max_length=20)
    output: Any = None
    error: str = Field(default="", max_length=10_000)
    trace_id: str = Field(default="", max_length=32)
    span_id: str = Field(default="", max_length=16)
    latency_ms: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    cost_usd: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    tokens: int = Field(default=0, ge=0, le=2**62)
    scores: list[Score] = Field(default_factory=list, max_length=100)


class NewResults(BaseModel):
    results: list[NewResult] = Field(min_length=1, max_length=MAX_RESULTS_PER_POST)


class Finish(Facts):
    """What the experiment ran, when known (filled from the results when left empty)."""


def _mean(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def experiment_to_api(row: dict[str, Any], aggregates: list[dict[str, Any]],
                      counts: tuple[int, int]) -> dict[str, Any]:
    return {"id": row["ExperimentId"], "name": row["Name"], "dataset": row["Dataset"],
            "dataset_version": int(row["DatasetVersion"]), "task": row["Task"], "status": row["Status"],
            "agent_name": row["AgentName"], "agent_version": row["AgentVersion"],
            "prompt_version": row["PromptVersion"], "model": row["Model"],
            "metadata": json.loads(row["Metadata"] or "{}"), "created_by": row["CreatedBy"],
            "created_at": iso(row["CreatedAt"]), "finished_at": iso(row["FinishedAt"]) if row["FinishedAt"] else None,
            "results": counts[0], "errors": counts[1],
            "scores": [{"evaluator": a["Evaluator"], "mean": _mean(a["Mean"]), "scored": int(a["Scored"]),
                        "items": int(a["Items"]), "passed": int(a["Passed"]), "failed": int(a["Failed"])}
                       for a in aggregates if a["ExperimentId"] == row["ExperimentId"]]}


def _with_aggregates(collector: Any, project: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = [r["ExperimentId"] for r in rows]
    if not ids:
        return []
    aggregates = db.experiment_aggregates(collector.store, project, ids)
    counts = db.result_counts(collector.store, project, ids)
    return [experiment_to_api(r, aggregates, counts.get(r["ExperimentId"], (0, 0))) for r in rows]


def _require(collector: Any, project: str, experiment_id: str) -> dict[str, Any]:
    row = db.get_experiment(collector.store, project, hex_id(experiment_id, 20, "experiment id"))
    if row is None:
        raise NotFound(f"no experiment {experiment_id} in project {project!r}")
    return row


def _show(collector: Any, project: str, experiment_id: str) -> dict[str, Any]:
    return _with_aggregates(collector, project, [_require(collector, project, experiment_id)])[0]


def result_to_api(row: dict[str, Any], item: dict[str, Any] | None) -> dict[str, Any]:
    return {"item_id": row["ItemId"], "seq": int(row["Seq"]), "output": json.loads(row["Output"] or "null"),
            "error": row["Error"], "trace_id": row["TraceId"], "span_id": row["SpanId"],
            "latency_ms": float(row["LatencyMs"]), "cost_usd": float(row["CostUsd"]), "tokens": int(row["Tokens"]),
            "agent_name": row["AgentName"], "agent_version": row["AgentVersion"],
            "prompt_version": row["PromptVersion"], "model": row["Model"],
            "input": item["input"] if item else None, "expected": item["expected"] if item else None,
            "scores": [{"name": n, "score": _mean(s), "label": lb, "explanation": ex}
                       for n, s, lb, ex in sorted(row["Scores"] or [])]}


def _results(collector: Any, project: str, experiment: dict[str, Any]) -> list[dict[str, Any]]:
    rows = db.experiment_results(collector.store, project, experiment["ExperimentId"])
    items = db.items_by_id(collector.store, project, experiment["Dataset"], [r["ItemId"] for r in rows])
    return [result_to_api(r, item_to_api(items[r["ItemId"]]) if r["ItemId"] in items else None) for r in rows]


@router.post("", summary="Start an experiment on a dataset version", response_model=models.Experiment,
             responses=errors(400, 401, 403, 404, 503))
async def create(key: EngineerKey, collector: CollectorDep, body: NewExperiment) -> Response:
    def make() -> dict[str, Any]:
        dataset = require_dataset(collector, key.project, body.dataset)
        version = _version(dataset, body.dataset_version)
        now = db.utc_now()
        row = db.put_experiment(collector.store, {
            "Project": key.project, "ExperimentId": db.new_id(),
            "Name": body.name or f"{body.task or 'experiment'} {now:%Y-%m-%d %H:%M:%S}", "Dataset": body.dataset,
            "DatasetVersion": version, "Task": body.task, "Status": "running", "AgentName": "", "AgentVersion": "",
            "PromptVersion": "", "Model": "", "Metadata": json.dumps(body.metadata, ensure_ascii=False),
            "CreatedBy": key.name or key.key_id, "CreatedAt": now, "FinishedAt": None})
        return experiment_to_api(row, [], (0, 0))

    return respond(await run_in_threadpool(make))


@router.get("", summary="Experiments, newest first", response_model=models.ExperimentList,
            responses=errors(400, 401, 403, 503))
async def list_(key: ReadKey, collector: CollectorDep,
                dataset: Annotated[str, Query(max_length=100, description="Only this dataset's")] = "",
                status: Annotated[str, Query(pattern="^(|running|finished)$")] = "",
                limit: Annotated[int, Query(ge=1, le=db.MAX_PAGE)] = 100) -> Response:
    def read() -> dict[str, Any]:
        rows = db.list_experiments(collector.store, key.project, dataset=dataset, status=status, limit=limit)
        return {"experiments": _with_aggregates(collector, key.project, rows)}

    return respond(await run_in_threadpool(read))


@router.get("/compare", summary="Experiments side by side: per evaluator and per item, regressions first",
            response_model=models.ExperimentComparison, responses=errors(400, 401, 403, 404, 503))
async def compare(key: ReadKey, collector: CollectorDep,
                  ids: Annotated[list[str], Query(description="2 or more experiment ids (repeated or comma-separated); "
                                                              "the first is the baseline")] = []) -> Response:
    wanted = [part.strip() for value in ids for part in value.split(",") if part.strip()]
    if not 2 <= len(wanted) <= MAX_COMPARED:
        raise BadRequest(f"ids: give 2 to {MAX_COMPARED} experiment ids, got {len(wanted)}")
    return respond(await run_in_threadpool(_compare, collector, key.project, wanted))


@router.get("/grouped", summary="Mean score per evaluator of finished experiments, by agent version, prompt "
                               "version or model", response_model=models.ExperimentGroups,
            responses=errors(400, 401, 403, 503))
async def grouped(key: ReadKey, collector: CollectorDep,
                  by: Annotated[Literal["agent_version", "prompt_version", "model"],
                                Query(description="The run fact to split by (each item's own run)")] = "agent_version",
                  dataset: Annotated[str, Query(max_length=100, description="Only this dataset's experiments")] = "",
                  agent: Annotated[str, Query(max_length=200, description="Only runs of this agent")] = "") -> Response:
    def read() -> dict[str, Any]:
        rows = db.experiment_scores_by(collector.store, key.project, by=by, dataset=dataset, agent=agent)
        return {"dataset": dataset, "by": by, "rows": [
            {"group": r["GroupValue"], "evaluator": r["Evaluator"], "mean": _mean(r["Mean"]), "scored": int(r["Scored"]),
             "items": int(r["Items"]), "passed": int(r["Passed"]), "failed": int(r["Failed"]),
             "experiments": int(r["Experiments"])} for r in rows]}

    return respond(await run_in_threadpool(read))


def _compare(collector: Any, project: str, ids: list[str]) -> dict[str, Any]:
    experiments = [_show(collector, project, i) for i in ids]
    results = {e["id"]: {r["item_id"]: r for r in _results(collector, project, _require(collector, project, e["id"]))}
               for e in experiments}
    base = experiments[0]["id"]
    item_ids = list(dict.fromkeys(i for e in experiments for i in results[e["id"]]))
    rows = []
    for item_id in item_ids:
        cells = [results[e["id"]].get(item_id) for e in experiments]
        known = next(c for c in cells if c is not None)
        means = [_item_mean(c) for c in cells]
        deltas = [m - means[0] for m in means[1:] if m is not None and means[0] is not None]
        rows.append({"item_id": item_id, "seq": known["seq"], "input": known["input"], "expected": known["expected"],
                     "results": cells,
                     "delta": min(deltas) if deltas else None,
                     "regressed": bool(deltas) and min(deltas) < 0,
                     "outputs_differ": len({json.dumps(c["output"], sort_keys=True) if c else "" for c in cells}) > 1})
    rows.sort(key=lambda r: (not r["regressed"], r["delta"] if r["delta"] is not None else 0.0, r["seq"]))
    evaluators = sorted({s["evaluator"] for e in experiments for s in e["scores"]})
    table = []
    for name in evaluators:
        means = [next((s["mean"] for s in e["scores"] if s["evaluator"] == name), None) for e in experiments]
        table.append({"evaluator": name, "means": means,
                      "deltas": [None if m is None or means[0] is None else m - means[0] for m in means]})
    return {"baseline": base, "experiments": experiments, "evaluators": table, "items": rows,
            "regressions": sum(1 for r in rows if r["regressed"])}


def _item_mean(result: dict[str, Any] | None) -> float | None:
    scores = [s["score"] for s in (result or {}).get("scores", []) if s["score"] is not None]
    return sum(scores) / len(scores) if scores else None


@router.get("/{experiment_id}", summary="One experiment with its mean score per evaluator",
            response_model=models.Experiment, responses=errors(400, 401, 403, 404, 503))
async def show(key: ReadKey, collector: CollectorDep, experiment_id: str) -> Response:
    return respond(await run_in_threadpool(_show, collector, key.project, experiment_id))


@router.get("/{experiment_id}/results", summary="Every item's output and scores, in item order",
            response_model=models.ExperimentResults, responses=errors(400, 401, 403, 404, 503))
async def results(key: ReadKey, collector: CollectorDep, experiment_id: str) -> Response:
    def read() -> dict[str, Any]:
        experiment = _require(collector, key.project, experiment_id)
        return {"experiment_id": experiment["ExperimentId"], "results": _results(collector, key.project, experiment)}

    return respond(await run_in_threadpool(read))


@router.post("/{experiment_id}/results", summary="Record items' outputs and evaluator scores",
             response_model=models.ResultsAdded, responses=errors(400, 401, 403, 404, 409, 503))
async def add_results(key: EngineerKey, collector: CollectorDep, experiment_id: str, body: NewResults) -> Response:
    def write() -> dict[str, Any]:
        experiment = _require(collector, key.project, experiment_id)
        if experiment["Status"] != "running":
            raise Conflict(f"experiment {experiment_id} is {experiment['Status']}: no more results")
        items = db.items_by_id(collector.store, key.project, experiment["Dataset"], [r.item_id for r in body.results])
        unknown = sorted({r.item_id for r in body.results} - set(items))
        if unknown:
            raise BadRequest(f"items not in dataset {experiment['Dataset']!r}: {', '.join(unknown[:5])}")
        late = [i for i, row in items.items() if int(row["Seq"]) > int(experiment["DatasetVersion"])]
        if late:
            raise BadRequest(f"items newer than dataset version {experiment['DatasetVersion']}: {', '.join(late[:5])}")
        results, scores = [], []
        for r in body.results:
            trace_id = hex_id(r.trace_id, 32, "trace_id") if r.trace_id else ""
            span_id = hex_id(r.span_id, 16, "span_id") if r.span_id else ""
            facts = {"AgentName": r.agent_name, "AgentVersion": r.agent_version, "PromptVersion": r.prompt_version,
                     "Model": r.model}
            results.append({"Project": key.project, "ExperimentId": experiment["ExperimentId"], "ItemId": r.item_id,
                            "Seq": int(items[r.item_id]["Seq"]), "Output": json.dumps(r.output, ensure_ascii=False),
                            "Error": r.error, "TraceId": trace_id, "SpanId": span_id, "LatencyMs": r.latency_ms,
                            "CostUsd": r.cost_usd, "Tokens": r.tokens, **facts})
            names = [s.name for s in r.scores]
            if len(set(names)) != len(names):
                raise BadRequest(f"item {r.item_id}: each evaluator name once per result, got {names}")
            scores += [{"Project": key.project, "Source": "experiment", "ExperimentId": experiment["ExperimentId"],
                        "ItemId": r.item_id, "TraceId": trace_id, "SpanId": span_id, "Evaluator": s.name,
                        "Score": s.score, "Label": s.label, "Explanation": s.explanation, **facts}
                       for s in r.scores]
        db.add_results(collector.store, results, scores)
        return {"experiment_id": experiment["ExperimentId"], "added": len(results)}

    return respond(await run_in_threadpool(write))


@router.post("/{experiment_id}/finish", summary="Mark an experiment finished (its results are then fixed)",
             response_model=models.Experiment, responses=errors(400, 401, 403, 404, 503))
async def finish(key: EngineerKey, collector: CollectorDep, experiment_id: str, body: Finish) -> Response:
    def write() -> dict[str, Any]:
        row = _require(collector, key.project, experiment_id)
        if row["Status"] != "finished":
            facts = _facts_of_results(collector, key.project, row["ExperimentId"])
            given = {"AgentName": body.agent_name, "AgentVersion": body.agent_version,
                     "PromptVersion": body.prompt_version, "Model": body.model}
            db.put_experiment(collector.store, {**row, **facts, **{k: v for k, v in given.items() if v},
                                                "Status": "finished", "FinishedAt": db.utc_now()})
        return _show(collector, key.project, row["ExperimentId"])

    return respond(await run_in_threadpool(write))


def _facts_of_results(collector: Any, project: str, experiment_id: str) -> dict[str, str]:
    """The agent, versions and model the results name, when they all name the same (else '')."""
    rows = db.experiment_results(collector.store, project, experiment_id)
    facts = {}
    for column in ("AgentName", "AgentVersion", "PromptVersion", "Model"):
        values = {r[column] for r in rows if r[column]}
        facts[column] = values.pop() if len(values) == 1 else (", ".join(sorted(values)) if values else "")
    return facts
