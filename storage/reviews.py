"""Human review queries: sampling rates, the review queue, scores and their trend.

Sampling is deterministic per run: a trace is in the sample when
``cityHash64(TraceId) mod 1e6 < rate × 1e6``, a uniform draw that re-running cannot change,
so the queue (a ReplacingMergeTree keyed by project, day and trace) fills idempotently.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from .errors import InvalidQuery
from .store import Store

#: A run's prompts as "id@version, …" (the version alone when it has no id), over its spans.
PROMPTS = ("arrayStringConcat(arraySort(groupUniqArray("
           "if(PromptId = '', PromptVersion, concat(PromptId, '@', PromptVersion)))), ', ')")
TREND_BY = {"agent": "AgentName", "prompt_version": "PromptVersion"}
MAX_ROWS = 1000


def set_rate(store: Store, project: str, agent: str, rate: float) -> None:
    if not 0.0 <= rate <= 1.0:
        raise InvalidQuery("rate must be between 0 and 1")
    store.insert("review_settings", [[project, agent, float(rate)]], ("Project", "AgentName", "Rate"))


def rates(store: Store, project: str | None = None) -> dict[str, dict[str, float]]:
    """Project → {agent ('' = every other agent): rate}."""
    cond, params = ("WHERE Project = {p:String}", {"p": project}) if project else ("", {})
    rows = store.query_rows(
        f"SELECT Project, AgentName, argMax(Rate, UpdatedAt) FROM review_settings {cond} GROUP BY Project, AgentName",
        params)
    out: dict[str, dict[str, float]] = {}
    for p, agent, rate in rows:
        out.setdefault(p, {})[agent] = float(rate)
    return out


def sample_day(store: Store, project: str, day: date, agent_rates: dict[str, float]) -> int:
    """Put the day's sampled runs (root spans) into the queue; return how many the day has queued."""
    agents = [a for a in agent_rates if a]
    params: dict[str, Any] = {
        "p": project, "day": day, "agents": agents, "rates": [float(agent_rates[a]) for a in agents],
        "default": float(agent_rates.get("", 0.0)),
    }
    # The run is its root span; its prompt versions are on its LLM calls (the root has none):
    # "refund-intent@v3, refund-policy@v7", so that scores can be trended by prompt version.
    store.command(
        "INSERT INTO review_queue (Project, Day, TraceId, SpanId, AgentName, AgentVersion, PromptVersion, StartTime)"
        " SELECT r.Project, r.Day, r.TraceId, r.Span, r.Agent, r.Version, p.Prompts, r.StartTime"
        " FROM (SELECT Project, toDate(Timestamp, 'UTC') AS Day, TraceId, any(SpanId) AS Span,"
        "   any(AgentName) AS Agent, any(AgentVersion) AS Version, min(Timestamp) AS StartTime FROM spans"
        "   WHERE Project = {p:String} AND toDate(Timestamp, 'UTC') = {day:Date} AND ParentSpanId = ''"
        "   AND (cityHash64(TraceId) % 1000000) < 1000000 * transform(AgentName, {agents:Array(String)},"
        "   {rates:Array(Float64)}, {default:Float64})"
        "   GROUP BY Project, Day, TraceId) AS r"
        f" LEFT JOIN (SELECT TraceId, {PROMPTS} AS Prompts FROM spans WHERE Project = {{p:String}}"
        "   AND toDate(Timestamp, 'UTC') BETWEEN {day:Date} - 1 AND {day:Date} + 1 AND PromptVersion != ''"
        "   GROUP BY TraceId) AS p ON p.TraceId = r.TraceId", params)
    return int(store.query_rows("SELECT uniqExact(TraceId) FROM review_queue WHERE Project = {p:String}"
                                " AND Day = {day:Date}", {"p": project, "day": day})[0][0])


def runs_on_day(store: Store, project: str, day: date) -> int:
    return int(store.query_rows(
        "SELECT uniqExact(TraceId) FROM spans WHERE Project = {p:String} AND toDate(Timestamp, 'UTC') = {day:Date}"
        " AND ParentSpanId = ''", {"p": project, "day": day})[0][0])


def queue(store: Store, project: str, *, pending_only: bool = True, agent: str = "",
          limit: int = 100) -> list[dict[str, Any]]:
    """Sampled runs, newest first, with their scores so far."""
    cond = ["q.Project = {p:String}"]
    params: dict[str, Any] = {"p": project, "limit": min(limit, MAX_ROWS)}
    if agent:
        cond.append("q.AgentName = {agent:String}")
        params["agent"] = agent
    having = "HAVING scores = 0" if pending_only else ""
    rows = store.query(
        "SELECT q.Day AS Day, q.TraceId AS TraceId, any(q.SpanId) AS SpanId, any(q.AgentName) AS AgentName,"
        " any(q.AgentVersion) AS AgentVersion, any(q.PromptVersion) AS PromptVersion,"
        " toUnixTimestamp64Nano(any(q.StartTime)) AS StartNs, countIf(s.TraceId != '') AS scores"
        " FROM review_queue AS q LEFT JOIN (SELECT TraceId FROM review_scores WHERE Project = {p:String}) AS s"
        " ON s.TraceId = q.TraceId"
        f" WHERE {' AND '.join(cond)} GROUP BY q.Day, q.TraceId {having}"
        " ORDER BY StartNs DESC LIMIT {limit:UInt32}", params, settings={"join_use_nulls": 0})
    return [{"day": r["Day"].isoformat(), "trace_id": r["TraceId"], "span_id": r["SpanId"], "agent": r["AgentName"],
             "agent_version": r["AgentVersion"], "prompt_version": r["PromptVersion"],
             "start": datetime.fromtimestamp(r["StartNs"] / 1e9, tz=timezone.utc).isoformat(),
             "scores": int(r["scores"])} for r in rows]


def queued_run(store: Store, project: str, trace_id: str) -> dict[str, Any] | None:
    rows = store.query(
        "SELECT any(SpanId) AS SpanId, any(AgentName) AS AgentName, any(PromptVersion) AS PromptVersion"
        " FROM review_queue WHERE Project = {p:String} AND TraceId = {t:String} HAVING count() > 0",
        {"p": project, "t": trace_id})
    return rows[0] if rows else None


def run_prompts(store: Store, project: str, trace_id: str) -> str:
    """The prompts a run's LLM calls used, as ``id@version, …`` ("" when none said)."""
    rows = store.query_rows(
        f"SELECT {PROMPTS} FROM spans"
        " WHERE Project = {p:String} AND TraceId = {t:String} AND PromptVersion != ''"
        " AND Timestamp >= (SELECT min(Start) FROM trace_index WHERE Project = {p:String} AND TraceId = {t:String})"
        " AND Timestamp <= (SELECT max(End) FROM trace_index WHERE Project = {p:String} AND TraceId = {t:String})",
        {"p": project, "t": trace_id})
    return str(rows[0][0]) if rows else ""


def add_score(store: Store, project: str, trace_id: str, span_id: str, agent: str, prompt_version: str,
              reviewer: str, score: float, label: str, comment: str) -> None:
    store.insert("review_scores", [[project, trace_id, span_id, agent, prompt_version, reviewer, float(score), label,
                                    comment]],
                 ("Project", "TraceId", "SpanId", "AgentName", "PromptVersion", "Reviewer", "Score", "Label",
                  "Comment"))


def scores(store: Store, project: str, trace_id: str = "", limit: int = 200) -> list[dict[str, Any]]:
    cond, params = ["Project = {p:String}"], {"p": project, "limit": min(limit, MAX_ROWS)}
    if trace_id:
        cond.append("TraceId = {t:String}")
        params["t"] = trace_id
    rows = store.query(
        "SELECT At, TraceId, SpanId, AgentName, PromptVersion, Reviewer, Score, Label, Comment FROM review_scores"
        f" WHERE {' AND '.join(cond)} ORDER BY At DESC LIMIT {{limit:UInt32}}", params)
    return [{"at": r["At"].replace(tzinfo=timezone.utc).isoformat(), "trace_id": r["TraceId"], "span_id": r["SpanId"],
             "agent": r["AgentName"], "prompt_version": r["PromptVersion"], "reviewer": r["Reviewer"],
             "score": float(r["Score"]), "label": r["Label"], "comment": r["Comment"]} for r in rows]


def trend(store: Store, project: str, by: str = "agent") -> list[dict[str, Any]]:
    """Mean score and count per day × agent (or prompt version)."""
    column = TREND_BY.get(by)
    if column is None:
        raise InvalidQuery(f"by must be one of {sorted(TREND_BY)}")
    rows = store.query(
        f"SELECT toDate(At, 'UTC') AS Day, {column} AS Grp, avg(Score) AS Mean, count() AS N FROM review_scores"
        " WHERE Project = {p:String} GROUP BY Day, Grp ORDER BY Day, Grp LIMIT 10000", {"p": project})
    return [{"day": r["Day"].isoformat(), by: r["Grp"], "mean_score": float(r["Mean"]), "scores": int(r["N"])}
            for r in rows]
