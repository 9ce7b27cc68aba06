"""Datasets, experiments and evaluation scores in the store (migration 0020, docs/evaluation.md).

A dataset's items are immutable and numbered (``Seq`` 1, 2, …): version N of a dataset is its
first N items, so an experiment or an export that names a version always sees the same items.
Experiments are versioned rows (running, then finished; the latest ``Version`` wins); results
and scores are appended. Values are bound parameters; rows come back as plain dicts.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from .errors import InvalidQuery
from .store import Store

DATASET_COLUMNS = ("Project", "Name", "DatasetId", "Description", "CreatedBy", "CreatedAt", "Version")
ITEM_COLUMNS = ("Project", "Dataset", "Seq", "ItemId", "Input", "Expected", "HasExpected", "Metadata",
                "SourceTraceId", "SourceSpanId", "CreatedBy", "CreatedAt")
EXPERIMENT_COLUMNS = ("Project", "ExperimentId", "Name", "Dataset", "DatasetVersion", "Task", "Status", "AgentName",
                      "AgentVersion", "PromptVersion", "Model", "Metadata", "CreatedBy", "CreatedAt", "FinishedAt",
                      "Version")
RESULT_COLUMNS = ("Project", "ExperimentId", "ItemId", "Seq", "Output", "Error", "TraceId", "SpanId", "LatencyMs",
                  "CostUsd", "Tokens", "AgentName", "AgentVersion", "PromptVersion", "Model", "CreatedAt")
SCORE_COLUMNS = ("Project", "Source", "ExperimentId", "ItemId", "TraceId", "SpanId", "Evaluator", "Score", "Label",
                 "Explanation", "AgentName", "AgentVersion", "PromptVersion", "Model", "CreatedAt")
SCORE_SOURCES = ("experiment", "online", "ingest")
MAX_PAGE = 1000


def new_id() -> str:
    """A random id of 20 hex characters (datasets, items, experiments)."""
    return secrets.token_hex(10)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.replace(tzinfo=timezone.utc) if isinstance(v, datetime) and v.tzinfo is None else v
            for k, v in row.items()}


# -- datasets -------------------------------------------------------------------------------------
def put_dataset(store: Store, project: str, name: str, description: str, by: str) -> dict[str, Any]:
    row = {"Project": project, "Name": name, "DatasetId": new_id(), "Description": description, "CreatedBy": by,
           "CreatedAt": utc_now(), "Version": time.time_ns()}
    store.insert("datasets", [[row[c] for c in DATASET_COLUMNS]], DATASET_COLUMNS)
    return row


def _dataset_state(one: bool) -> str:
    name = " AND Name = {n:String}" if one else ""
    item_name = " AND Dataset = {n:String}" if one else ""
    return (
        "SELECT d.*, ifNull(i.items, 0) AS Items, i.last_added AS LastAddedAt FROM"
        " (SELECT * FROM datasets WHERE Project = {p:String}" + name + " ORDER BY Version DESC LIMIT 1 BY Name) AS d"
        " LEFT JOIN (SELECT Dataset, max(Seq) AS items, max(CreatedAt) AS last_added FROM dataset_items"
        " WHERE Project = {p:String}" + item_name + " GROUP BY Dataset) AS i ON i.Dataset = d.Name"
        " ORDER BY d.Name SETTINGS join_use_nulls = 1"
    )


def get_dataset(store: Store, project: str, name: str) -> dict[str, Any] | None:
    """A dataset with ``Items`` (= its current version) and ``LastAddedAt``; None if unknown."""
    rows = store.query(_dataset_state(True), {"p": project, "n": name})
    return _aware(rows[0]) if rows else None


def list_datasets(store: Store, project: str) -> list[dict[str, Any]]:
    return [_aware(r) for r in store.query(_dataset_state(False), {"p": project})]


def add_items(store: Store, project: str, dataset: str, items: Sequence[Mapping[str, Any]], by: str,
              current: int) -> list[dict[str, Any]]:
    """Append items after the dataset's ``current`` version (the caller serialises adds);
    each item has Input, Expected (None: none), Metadata (JSON text) and optional sources."""
    now = utc_now()
    rows = []
    for n, item in enumerate(items, start=1):
        expected = item.get("Expected")
        rows.append({"Project": project, "Dataset": dataset, "Seq": current + n, "ItemId": new_id(),
                     "Input": item["Input"], "Expected": expected if expected is not None else "",
                     "HasExpected": int(expected is not None), "Metadata": item.get("Metadata") or "{}",
                     "SourceTraceId": item.get("SourceTraceId", ""), "SourceSpanId": item.get("SourceSpanId", ""),
                     "CreatedBy": by, "CreatedAt": now})
    store.insert("dataset_items", [[r[c] for c in ITEM_COLUMNS] for r in rows], ITEM_COLUMNS)
    return rows


def dataset_items(store: Store, project: str, dataset: str, *, version: int | None = None, limit: int = 100,
                  offset: int = 0) -> list[dict[str, Any]]:
    """Items of a dataset in order (up to ``version`` items if given)."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidQuery(f"limit must be 1…{MAX_PAGE}")
    params: dict[str, Any] = {"p": project, "d": dataset, "limit": limit, "offset": offset,
                              "v": version if version is not None else 2**63}
    rows = store.query(
        "SELECT * FROM dataset_items WHERE Project = {p:String} AND Dataset = {d:String} AND Seq <= {v:UInt64}"
        " ORDER BY Seq LIMIT 1 BY Seq LIMIT {limit:UInt32} OFFSET {offset:UInt32}", params)
    return [_aware(r) for r in rows]


def items_by_id(store: Store, project: str, dataset: str, item_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    rows = store.query(
        "SELECT * FROM dataset_items WHERE Project = {p:String} AND Dataset = {d:String}"
        " AND ItemId IN {ids:Array(String)} LIMIT 1 BY ItemId", {"p": project, "d": dataset, "ids": list(item_ids)})
    return {r["ItemId"]: _aware(r) for r in rows}


# -- experiments ----------------------------------------------------------------------------------
def put_experiment(store: Store, row: Mapping[str, Any]) -> dict[str, Any]:
    """Write a new state of an experiment (``Version`` is set here)."""
    values = {**row, "Version": time.time_ns()}
    store.insert("experiments", [[values.get(c) for c in EXPERIMENT_COLUMNS]], EXPERIMENT_COLUMNS)
    return values


def get_experiment(store: Store, project: str, experiment_id: str) -> dict[str, Any] | None:
    rows = store.query("SELECT * FROM experiments WHERE Project = {p:String} AND ExperimentId = {id:String}"
                       " ORDER BY Version DESC LIMIT 1", {"p": project, "id": experiment_id})
    return _aware(rows[0]) if rows else None


def list_experiments(store: Store, project: str, *, dataset: str = "", status: str = "",
                     limit: int = 100) -> list[dict[str, Any]]:
    """Experiments, newest first (optionally of one dataset, in one state)."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidQuery(f"limit must be 1…{MAX_PAGE}")
    cond, params = ["1"], {"p": project, "limit": limit}
    if dataset:
        cond.append("Dataset = {d:String}")
        params["d"] = dataset
    if status:
        cond.append("Status = {s:String}")
        params["s"] = status
    rows = store.query(
        "SELECT * FROM (SELECT * FROM experiments WHERE Project = {p:String} ORDER BY Version DESC"
        f" LIMIT 1 BY ExperimentId) WHERE {' AND '.join(cond)} ORDER BY CreatedAt DESC, ExperimentId"
        " LIMIT {limit:UInt32}", params)
    return [_aware(r) for r in rows]


def add_results(store: Store, results: Sequence[Mapping[str, Any]], scores: Sequence[Mapping[str, Any]]) -> None:
    """Append result rows (RESULT_COLUMNS) and their score rows (SCORE_COLUMNS)."""
    now = utc_now()
    store.insert("experiment_results", [[{**r, "CreatedAt": now}.get(c) for c in RESULT_COLUMNS] for r in results],
                 RESULT_COLUMNS)
    add_scores(store, scores)


def add_scores(store: Store, scores: Sequence[Mapping[str, Any]]) -> None:
    now = utc_now()
    store.insert("evaluation_scores", [[{"CreatedAt": now, **s}.get(c) for c in SCORE_COLUMNS] for s in scores],
                 SCORE_COLUMNS)


def experiment_results(store: Store, project: str, experiment_id: str, *, limit: int = MAX_PAGE,
                       offset: int = 0) -> list[dict[str, Any]]:
    """Results of an experiment in item order, each with ``Scores``: [(evaluator, score, label,
    explanation)] and the item's Input / Expected."""
    rows = store.query(
        "SELECT r.*, s.scores AS Scores FROM"
        " (SELECT * FROM experiment_results WHERE Project = {p:String} AND ExperimentId = {e:String}"
        " ORDER BY CreatedAt DESC LIMIT 1 BY ItemId) AS r"
        " LEFT JOIN (SELECT ItemId, groupArray((Evaluator, Score, Label, Explanation)) AS scores FROM"
        " (SELECT * FROM evaluation_scores WHERE Project = {p:String} AND Source = 'experiment'"
        " AND ExperimentId = {e:String} ORDER BY CreatedAt DESC LIMIT 1 BY ItemId, Evaluator)"
        " GROUP BY ItemId) AS s ON s.ItemId = r.ItemId"
        " ORDER BY r.Seq, r.ItemId LIMIT {limit:UInt32} OFFSET {offset:UInt32}",
        {"p": project, "e": experiment_id, "limit": limit, "offset": offset})
    return [_aware(r) for r in rows]


def experiment_aggregates(store: Store, project: str, experiment_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Per experiment and evaluator: mean score, count of scored items, passes, failures."""
    rows = store.query(
        "SELECT ExperimentId, Evaluator, avg(Score) AS Mean, countIf(Score IS NOT NULL) AS Scored, count() AS Items,"
        " countIf(Label = 'pass') AS Passed, countIf(Label = 'fail') AS Failed FROM"
        " (SELECT * FROM evaluation_scores WHERE Project = {p:String} AND Source = 'experiment'"
        " AND ExperimentId IN {ids:Array(String)} ORDER BY CreatedAt DESC LIMIT 1 BY ExperimentId, ItemId, Evaluator)"
        " GROUP BY ExperimentId, Evaluator ORDER BY ExperimentId, Evaluator",
        {"p": project, "ids": list(experiment_ids)})
    return rows


def result_counts(store: Store, project: str, experiment_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
    """(results, errors) per experiment."""
    rows = store.query_rows(
        "SELECT ExperimentId, count(), countIf(Error != '') FROM (SELECT * FROM experiment_results"
        " WHERE Project = {p:String} AND ExperimentId IN {ids:Array(String)} ORDER BY CreatedAt DESC"
        " LIMIT 1 BY ExperimentId, ItemId) GROUP BY ExperimentId", {"p": project, "ids": list(experiment_ids)})
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


GROUP_COLUMNS = {"agent_version": "AgentVersion", "prompt_version": "PromptVersion", "model": "Model"}
"""What scores can be split by → the column of ``evaluation_scores`` (the run's facts)."""


def experiment_scores_by(store: Store, project: str, *, by: str, dataset: str = "", agent: str = "",
                         limit: int = 1000) -> list[dict[str, Any]]:
    """Per agent version (prompt version, model) and evaluator: the mean score over the items of
    every finished experiment (of one dataset), with how many items and experiments it covers.

    The group is the fact of each item's own run, not of its experiment: an experiment whose
    runs used two models counts toward both."""
    column = GROUP_COLUMNS.get(by)
    if column is None:
        raise InvalidQuery(f"by must be one of {', '.join(GROUP_COLUMNS)}")
    params: dict[str, Any] = {"p": project, "limit": limit}
    finished = ["Status = 'finished'"]
    if dataset:
        finished.append("Dataset = {d:String}")
        params["d"] = dataset
    scores = ["Project = {p:String}", "Source = 'experiment'"]
    if agent:
        scores.append("AgentName = {a:String}")
        params["a"] = agent
    return store.query(
        f"SELECT {column} AS GroupValue, Evaluator, avg(Score) AS Mean, countIf(Score IS NOT NULL) AS Scored,"
        " count() AS Items, countIf(Label = 'pass') AS Passed, countIf(Label = 'fail') AS Failed,"
        " uniqExact(ExperimentId) AS Experiments FROM"
        f" (SELECT * FROM evaluation_scores WHERE {' AND '.join(scores)}"
        " AND ExperimentId IN (SELECT ExperimentId FROM (SELECT ExperimentId, Status, Dataset FROM experiments"
        " WHERE Project = {p:String} ORDER BY Version DESC LIMIT 1 BY ExperimentId)"
        f" WHERE {' AND '.join(finished)})"
        " ORDER BY CreatedAt DESC LIMIT 1 BY ExperimentId, ItemId, Evaluator)"
        " GROUP BY GroupValue, Evaluator ORDER BY GroupValue, Evaluator LIMIT {limit:UInt32}", params)


# -- scores outside experiments (online rules, ingest) ----------------------------------------------
def score_summary(store: Store, project: str, *, source: str = "", agent: str = "", by: str = "agent_version",
                  start: datetime | None = None, end: datetime | None = None, agent_version: str = "",
                  prompt_version: str = "", model: str = "") -> list[dict[str, Any]]:
    """Mean score per agent, (agent version or prompt version) and evaluator of live runs; the
    scores of runs of one agent version, prompt version or model when those are given."""
    column = {"agent_version": "AgentVersion", "prompt_version": "PromptVersion", "model": "Model"}.get(by)
    if column is None:
        raise InvalidQuery("by must be agent_version, prompt_version or model")
    if source and source not in SCORE_SOURCES:
        raise InvalidQuery(f"source must be one of {', '.join(SCORE_SOURCES)}")
    cond = ["Project = {p:String}", "Source != 'experiment'"]
    params: dict[str, Any] = {"p": project}
    for value, clause, name in ((source, "Source = {s:String}", "s"), (agent, "AgentName = {a:String}", "a"),
                                (agent_version, "AgentVersion = {av:String}", "av"),
                                (prompt_version, "PromptVersion = {pv:String}", "pv"),
                                (model, "Model = {m:String}", "m")):
        if value:
            cond.append(clause)
            params[name] = value
    if start is not None:
        cond.append("CreatedAt >= {start:DateTime64(3)}")
        params["start"] = start
    if end is not None:
        cond.append("CreatedAt < {end:DateTime64(3)}")
        params["end"] = end
    return store.query(
        f"SELECT AgentName, {column} AS GroupValue, Evaluator, avg(Score) AS Mean, count() AS Scores,"
        " countIf(Label = 'fail') AS Failed, any(Source) AS Source FROM"
        f" (SELECT * FROM evaluation_scores WHERE {' AND '.join(cond)}"
        " ORDER BY CreatedAt DESC LIMIT 1 BY Source, ItemId, TraceId, SpanId, Evaluator)"
        " WHERE Label != 'pending' GROUP BY AgentName, GroupValue, Evaluator"
        " ORDER BY AgentName, GroupValue, Evaluator LIMIT 1000", params)


# -- online evaluation (migration 0021) --------------------------------------------------------------
RULE_COLUMNS = ("Project", "RuleId", "AgentName", "Evaluator", "Name", "Kind", "SampleRate", "Deleted", "ChangedBy",
                "ChangedAt", "Version")
RUN_COLUMNS = ("Project", "TraceId", "SpanId", "AgentName", "AgentVersion", "PromptVersion", "RequestModel",
               "InputText", "OutputText", "Duration", "IngestTime")


def put_rule(store: Store, row: Mapping[str, Any]) -> dict[str, Any]:
    values = {**row, "ChangedAt": utc_now(), "Version": time.time_ns()}
    store.insert("evaluation_rules", [[values[c] for c in RULE_COLUMNS]], RULE_COLUMNS)
    return values


def rules(store: Store, project: str | None = None, *, include_deleted: bool = False) -> list[dict[str, Any]]:
    """The rules in force (of one project, or every project), by agent."""
    cond, params = ("WHERE Project = {p:String}", {"p": project}) if project is not None else ("", {})
    rows = store.query(f"SELECT * FROM evaluation_rules {cond} ORDER BY Version DESC LIMIT 1 BY Project, RuleId",
                       params)
    return sorted((_aware(r) for r in rows if include_deleted or not r["Deleted"]),
                  key=lambda r: (r["Project"], r["AgentName"], r["Name"]))


def arrived_runs(store: Store, project: str, agents: Sequence[str], since: datetime, until: datetime,
                 limit: int = 5000) -> list[dict[str, Any]]:
    """Agent-run spans of these agents stored in [since, until) (by ingest time)."""
    return store.query(
        "SELECT " + ", ".join(RUN_COLUMNS) + " FROM spans WHERE Project = {p:String} AND SpanType = 'agent'"
        " AND AgentName IN {agents:Array(String)} AND IngestTime >= {since:DateTime64(3)}"
        " AND IngestTime < {until:DateTime64(3)} ORDER BY IngestTime LIMIT 1 BY TraceId, SpanId"
        " LIMIT {limit:UInt32}", {"p": project, "agents": list(agents), "since": since, "until": until, "limit": limit})


def evaluation_events(store: Store, event: str, since: datetime, until: datetime,
                      limit: int = 5000) -> list[dict[str, Any]]:
    """Spans (every project) stored in [since, until) that carry ``event`` span events."""
    return store.query(
        "SELECT Project, TraceId, SpanId, AgentName, AgentVersion, PromptVersion, RequestModel,"
        " `Events.Name` AS EventNames, `Events.Attributes` AS EventAttributes FROM spans"
        " WHERE has(`Events.Name`, {e:String}) AND IngestTime >= {since:DateTime64(3)}"
        " AND IngestTime < {until:DateTime64(3)} ORDER BY IngestTime LIMIT 1 BY Project, TraceId, SpanId"
        " LIMIT {limit:UInt32}", {"e": event, "since": since, "until": until, "limit": limit})


def pending_judgements(store: Store, project: str, *, limit: int = 100) -> list[dict[str, Any]]:
    """Online scores still waiting for a judge (latest state 'pending'), oldest first."""
    rows = store.query(
        "SELECT * FROM (SELECT * FROM evaluation_scores WHERE Project = {p:String} AND Source = 'online'"
        " ORDER BY CreatedAt DESC LIMIT 1 BY ItemId, TraceId, SpanId, Evaluator) WHERE Label = 'pending'"
        " ORDER BY CreatedAt LIMIT {limit:UInt32}", {"p": project, "limit": limit})
    return [_aware(r) for r in rows]


def online_score(store: Store, project: str, rule_id: str, trace_id: str, span_id: str) -> dict[str, Any] | None:
    rows = store.query(
        "SELECT * FROM evaluation_scores WHERE Project = {p:String} AND Source = 'online' AND ItemId = {r:String}"
        " AND TraceId = {t:String} AND SpanId = {s:String} ORDER BY CreatedAt DESC LIMIT 1",
        {"p": project, "r": rule_id, "t": trace_id, "s": span_id})
    return _aware(rows[0]) if rows else None


def online_scored(store: Store, project: str, trace_ids: Sequence[str]) -> set[tuple[str, str, str]]:
    """(rule id, trace id, span id) of the online scores (or pending marks) these traces have."""
    if not trace_ids:
        return set()
    rows = store.query_rows(
        "SELECT DISTINCT ItemId, TraceId, SpanId FROM evaluation_scores WHERE Project = {p:String}"
        " AND Source = 'online' AND TraceId IN {t:Array(String)}", {"p": project, "t": list(trace_ids)})
    return {(r[0], r[1], r[2]) for r in rows}


def evaluation_log_records(store: Store, event: str, since: datetime, until: datetime,
                           limit: int = 5000) -> list[dict[str, Any]]:
    """Log records named ``event`` (every project) stored in [since, until), with the agent,
    versions and model of the span they are about (empty when it is not stored)."""
    return store.query(
        "SELECT l.Project AS Project, l.TraceId AS TraceId, l.SpanId AS SpanId, l.Attributes AS Attributes,"
        " ifNull(s.AgentName, '') AS AgentName, ifNull(s.AgentVersion, '') AS AgentVersion,"
        " ifNull(s.PromptVersion, '') AS PromptVersion, ifNull(s.RequestModel, '') AS RequestModel FROM"
        " (SELECT Project, TraceId, SpanId, Attributes FROM log_records WHERE EventName = {e:String}"
        " AND IngestTime >= {since:DateTime64(3)} AND IngestTime < {until:DateTime64(3)} LIMIT {limit:UInt32}) AS l"
        " LEFT JOIN (SELECT Project, TraceId, SpanId, any(AgentName) AS AgentName, any(AgentVersion) AS AgentVersion,"
        " any(PromptVersion) AS PromptVersion, any(RequestModel) AS RequestModel FROM spans"
        " WHERE TraceId IN (SELECT TraceId FROM log_records WHERE EventName = {e:String}"
        " AND IngestTime >= {since:DateTime64(3)} AND IngestTime < {until:DateTime64(3)})"
        " GROUP BY Project, TraceId, SpanId) AS s"
        " ON s.Project = l.Project AND s.TraceId = l.TraceId AND s.SpanId = l.SpanId SETTINGS join_use_nulls = 1",
        {"e": event, "since": since, "until": until, "limit": limit})
