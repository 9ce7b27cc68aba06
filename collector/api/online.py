"""Online evaluation (``/api/evaluation``, docs/evaluation.md): evaluator rules on an agent's
arriving runs, the judge work queue and the scores of live runs.

- rules: create and delete with an engineer or admin key, list with a read key;
- pending / scores: the ``flightlog evaluate --online`` worker (engineer or admin key) takes the
  sampled runs waiting for an LLM judge and posts their scores;
- summary: mean score per agent version (or prompt version, model) and evaluator, read key.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from flightlog.storage import evaluation as db
from flightlog.storage.keys import KeyRecord
from flightlog.storage.queries import get_trace
from flightlog.storage.timewindow import iso

from flightlog.collector.api import models
from flightlog.collector.api.deps import CollectorDep, ReadKey, TimeWindow, hex_id, require
from flightlog.collector.auth import ENGINEER_ROLES
from flightlog.collector.contract import ContractRoute, errors, respond
from flightlog.collector.errors import BadRequest, NotFound
from flightlog.collector.online_eval import rule_kind

router = APIRouter(prefix="/api/evaluation", tags=["evaluation"], route_class=ContractRoute)
EngineerKey = Annotated[KeyRecord, Depends(require(ENGINEER_ROLES))]
_SHORT = 200


class NewRule(BaseModel):
    agent: str = Field(min_length=1, max_length=_SHORT, description="The agent whose arriving runs are scored.")
    evaluator: str = Field(min_length=1, max_length=10_000,
                           description="A built-in evaluator as the CLI writes it: regex:…, max_latency:2, judge:{…}.")
    sample_rate: float = Field(ge=0.0, le=1.0, description="The share of runs scored (0…1).")
    name: str = Field(default="", max_length=_SHORT, description="The scores' name; default the evaluator's.")


class JudgeScore(BaseModel):
    rule_id: str = Field(min_length=20, max_length=20)
    trace_id: str = Field(min_length=32, max_length=32)
    span_id: str = Field(min_length=16, max_length=16)
    score: float | None = Field(default=None, allow_inf_nan=False)
    label: str = Field(default="", max_length=_SHORT)
    explanation: str = Field(default="", max_length=10_000)


class JudgeScores(BaseModel):
    scores: list[JudgeScore] = Field(min_length=1, max_length=500)


def rule_to_api(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["RuleId"], "agent": row["AgentName"], "evaluator": row["Evaluator"], "name": row["Name"],
            "kind": row["Kind"], "sample_rate": float(row["SampleRate"]), "deleted": bool(row["Deleted"]),
            "changed_by": row["ChangedBy"], "changed_at": iso(row["ChangedAt"])}


def _rule(collector: Any, project: str, rule_id: str) -> dict[str, Any]:
    rule_id = hex_id(rule_id, 20, "rule id")
    found = next((r for r in db.rules(collector.store, project) if r["RuleId"] == rule_id), None)
    if found is None:
        raise NotFound(f"no evaluator rule {rule_id} in project {project!r}")
    return found


@router.post("/rules", summary="Score a share of an agent's arriving runs with an evaluator",
             response_model=models.EvaluationRule, responses=errors(400, 401, 403, 503))
async def create_rule(key: EngineerKey, collector: CollectorDep, body: NewRule) -> Response:
    try:
        kind = rule_kind(body.evaluator)
        name = body.name or body.evaluator.partition(":")[0].strip()
    except (ValueError, ImportError, TypeError) as exc:
        raise BadRequest(f"evaluator: {exc}") from exc
    row = await run_in_threadpool(db.put_rule, collector.store, {
        "Project": key.project, "RuleId": db.new_id(), "AgentName": body.agent, "Evaluator": body.evaluator,
        "Name": name, "Kind": kind, "SampleRate": body.sample_rate, "Deleted": 0, "ChangedBy": key.name or key.key_id})
    return respond(rule_to_api(row))


@router.get("/rules", summary="The evaluator rules in force", response_model=models.EvaluationRuleList,
            responses=errors(400, 401, 403, 503))
async def list_rules(key: ReadKey, collector: CollectorDep) -> Response:
    rows = await run_in_threadpool(db.rules, collector.store, key.project)
    return respond({"rules": [rule_to_api(r) for r in rows]})


@router.delete("/rules/{rule_id}", summary="Stop a rule (its scores stay)", response_model=models.EvaluationRule,
               responses=errors(400, 401, 403, 404, 503))
async def delete_rule(key: EngineerKey, collector: CollectorDep, rule_id: str) -> Response:
    def write() -> dict[str, Any]:
        rule = _rule(collector, key.project, rule_id)
        return rule_to_api(db.put_rule(collector.store, {**rule, "Deleted": 1, "ChangedBy": key.name or key.key_id}))

    return respond(await run_in_threadpool(write))


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


@router.get("/pending", summary="Sampled runs waiting for an LLM judge (the online worker's queue)",
            response_model=models.PendingJudgements, responses=errors(400, 401, 403, 503))
async def pending(key: EngineerKey, collector: CollectorDep,
                  limit: Annotated[int, Query(ge=1, le=500)] = 50) -> Response:
    def read() -> dict[str, Any]:
        rules = {r["RuleId"]: r for r in db.rules(collector.store, key.project)}
        items = []
        for row in db.pending_judgements(collector.store, key.project, limit=limit):
            rule = rules.get(row["ItemId"])
            trace = get_trace(collector.store, key.project, row["TraceId"]) if rule else None
            span = next((s for s in (trace or {}).get("spans", []) if s["span_id"] == row["SpanId"]), None)
            if rule is None or span is None:
                continue  # the rule was deleted, or the run is gone (retention)
            items.append({"rule_id": rule["RuleId"], "evaluator": rule["Evaluator"], "name": rule["Name"],
                          "trace_id": row["TraceId"], "span_id": row["SpanId"], "agent_name": row["AgentName"],
                          "agent_version": row["AgentVersion"], "prompt_version": row["PromptVersion"],
                          "model": row["Model"], "input": _json(span["input_text"]),
                          "output": _json(span["output_text"])})
        return {"items": items}

    return respond(await run_in_threadpool(read))


@router.post("/scores", summary="Post judge scores for pending runs", response_model=models.ScoresAdded,
             responses=errors(400, 401, 403, 404, 503))
async def post_scores(key: EngineerKey, collector: CollectorDep, body: JudgeScores) -> Response:
    def write() -> dict[str, Any]:
        rows = []
        for s in body.scores:
            trace_id, span_id = hex_id(s.trace_id, 32, "trace_id"), hex_id(s.span_id, 16, "span_id")
            rule = _rule(collector, key.project, s.rule_id)
            marked = db.online_score(collector.store, key.project, rule["RuleId"], trace_id, span_id)
            if marked is None:
                raise NotFound(f"run {trace_id}/{span_id} was not sampled for rule {rule['RuleId']}")
            rows.append({**{k: marked[k] for k in db.SCORE_COLUMNS if k != "CreatedAt"},
                         "Score": s.score, "Label": s.label, "Explanation": s.explanation})
        db.add_scores(collector.store, rows)
        return {"added": len(rows)}

    return respond(await run_in_threadpool(write))


@router.get("/summary", summary="Mean score of live runs per agent version (or prompt version, model) and evaluator",
            response_model=models.ScoreSummary, responses=errors(400, 401, 403, 503))
async def summary(key: ReadKey, collector: CollectorDep, window: TimeWindow,
                  by: Annotated[str, Query(pattern="^(agent_version|prompt_version|model)$")] = "agent_version",
                  agent: Annotated[str, Query(max_length=_SHORT)] = "",
                  source: Annotated[str, Query(pattern="^(|online|ingest)$")] = "",
                  agent_version: Annotated[str, Query(max_length=_SHORT, description="only runs of this version")] = "",
                  prompt_version: Annotated[str, Query(max_length=_SHORT,
                                                       description="only runs that used this prompt version")] = "",
                  model: Annotated[str, Query(max_length=_SHORT, description="only runs on this model")] = ""
                  ) -> Response:
    rows = await run_in_threadpool(lambda: db.score_summary(
        collector.store, key.project, source=source, agent=agent, by=by, start=window.start, end=window.end,
        agent_version=agent_version, prompt_version=prompt_version, model=model))
    return respond({"by": by, "rows": [
        {"agent": r["AgentName"], "group": r["GroupValue"], "evaluator": r["Evaluator"],
         "mean": None if r["Mean"] is None or r["Mean"] != r["Mean"] else float(r["Mean"]), "scores": int(r["Scores"]),
         "failed": int(r["Failed"]), "source": r["Source"]} for r in rows]})
