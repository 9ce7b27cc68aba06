"""Traces and sessions as lists: one row per trace (its root, agent, user, session, start,
duration, spans, tokens, cost, errors, status, first input) and one row per session (a
conversation's runs). Every read is bounded (docs/decisions/0007-bounded-reads.md) and
every value a bound parameter (docs/decisions/0004-bound-parameters-only.md).

A trace matches the search filters when any of its spans does. A page is read in two
steps, like a span search (:mod:`.queries`): first the page's trace ids, sorted on the
server over narrow columns (the small ``trace_index`` when sorting by start time), then
the summaries of those traces only (docs/decisions/0035-trace-list.md).
"""

from __future__ import annotations

from typing import Any

from flightlog.semconv import CONTROL_SPAN_TYPE

from . import facts as trace_facts
from .errors import InvalidQuery
from .filters import SpanFilter
from .store import Store
from .timewindow import Window, from_ns, iso

MAX_PAGE = 500
MAX_SESSION_TRACES = 500
INPUT_CHARS = 300
# A trace's first start and last end over the run's own spans: control events (decisions the
# collector records when they happen, maybe hours after the run) do not stretch it; a trace of
# control events only spans theirs (storage.queries.run_extent, the same rule for one trace).
_OWN = "SpanType != {control:String}"  # bound, like every value (decision 0004)
_START_NS = (f"if(countIf({_OWN}) > 0, minIf(toUnixTimestamp64Nano(Timestamp), {_OWN}),"
             " min(toUnixTimestamp64Nano(Timestamp)))")
_END_NS = (f"if(countIf({_OWN}) > 0, maxIf(toUnixTimestamp64Nano(Timestamp) + Duration, {_OWN}),"
           " max(toUnixTimestamp64Nano(Timestamp) + Duration))")
#: Sort keys of a trace list → the per-trace aggregate over its spans ("time" uses the index).
TRACE_SORTS = {
    "time": "min(Timestamp)",
    "duration": f"{_END_NS} - {_START_NS}",
    "cost": "sum(CostUsd)",
    "tokens": "sum(InputTokens) + sum(OutputTokens)",
    "spans": "count()",
    "errors": "countIf(StatusCode = 'Error')",
}
_STATUS = {"Error": "error", "Ok": "ok", "Unset": "unset", "": "unset"}

# The summary of each trace of a page: over its spans, each read once (LIMIT 1 BY drops a
# re-sent copy that ingest did not see).
_SUMMARY = (
    "SELECT TraceId,"
    f" {_START_NS} AS start_ns,"
    f" {_END_NS} AS end_ns,"
    " count() AS spans, sum(InputTokens) AS input_tokens, sum(OutputTokens) AS output_tokens,"
    " sum(CostUsd) AS cost_usd, countIf(StatusCode = 'Error') AS errors,"
    " argMinIf(SpanName, Timestamp, ParentSpanId = '') AS root_name,"
    " argMin(SpanName, Timestamp) AS first_name,"
    " argMinIf(StatusCode, Timestamp, ParentSpanId = '') AS root_status,"
    " countIf(ParentSpanId = '') AS roots,"
    " argMinIf(AgentName, Timestamp, AgentName != '') AS agent,"
    " argMinIf(AgentVersion, Timestamp, AgentVersion != '') AS agent_version,"
    " argMinIf(UserId, Timestamp, UserId != '') AS user_id,"
    " argMinIf(SessionId, Timestamp, SessionId != '') AS session_id,"
    " argMinIf(leftUTF8(InputText, {chars:UInt32}), Timestamp, InputText != '') AS first_input,"
    " argMinIf(leftUTF8(OutputText, {chars:UInt32}), Timestamp, OutputText != '' AND ParentSpanId = '') AS root_output,"
    " arraySort(groupUniqArrayIf(50)(concat(PromptId, '@', PromptVersion), PromptVersion != '')) AS prompts,"
    " arraySort(groupUniqArrayIf(50)(if(ResponseModel != '', ResponseModel, RequestModel),"
    "   RequestModel != '' OR ResponseModel != '')) AS models"
    " FROM (SELECT TraceId, Timestamp, Duration, SpanType, InputTokens, OutputTokens, CostUsd, StatusCode, SpanName,"
    "   ParentSpanId, AgentName, AgentVersion, UserId, SessionId, InputText, OutputText, PromptId, PromptVersion,"
    "   RequestModel, ResponseModel"
    "   FROM spans WHERE Project = {project:String} AND TraceId IN {ids:Array(String)}"
    "   AND Timestamp >= (SELECT min(Start) FROM trace_index WHERE Project = {project:String}"
    "     AND TraceId IN {ids:Array(String)})"
    "   AND Timestamp <= (SELECT max(End) FROM trace_index WHERE Project = {project:String}"
    "     AND TraceId IN {ids:Array(String)})"
    "   ORDER BY IngestTime DESC LIMIT 1 BY TraceId, SpanId)"
    " GROUP BY TraceId"
)


def _check_page(limit: int, offset: int, sort: str, order: str, sorts: Any) -> None:
    if sort not in sorts:
        raise InvalidQuery(f"sort must be one of {sorted(sorts)}, got {sort!r}")
    if order not in ("asc", "desc"):
        raise InvalidQuery(f"order must be asc or desc, got {order!r}")
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidQuery(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
    if offset < 0:
        raise InvalidQuery(f"offset must be ≥ 0, got {offset}")


def narrows_spans(flt: SpanFilter) -> bool:
    """Whether ``flt`` asks anything of the spans beyond the project and the time range."""
    return bool(flt.q.strip() or flt.model or flt.status or any(flt.equals.values()))


def control_only(store: Store, project: str, flt: SpanFilter) -> list[str]:
    """The traces in ``flt``'s time range whose every span is a control event: a pause, a policy
    change, an approval asked outside any run. They are records of the control loop, not runs
    (the Approvals and Control pages list them), so a trace list leaves them out unless it
    asks for span type ``control``. Control events are people's actions: few, so two small reads."""
    if flt.equals.get("span_type") == CONTROL_SPAN_TYPE:
        return []
    params: dict[str, Any] = {"project": project, "control": CONTROL_SPAN_TYPE}
    cond = ["Project = {project:String}", "SpanType = {control:String}",
            *Window(flt.start, flt.end).conditions(params)]
    ids = [str(r[0]) for r in store.query_rows(
        f"SELECT DISTINCT TraceId FROM spans WHERE {' AND '.join(cond)}", params)]
    if not ids:
        return []
    runs = {str(r[0]) for r in store.query_rows(
        "SELECT DISTINCT TraceId FROM spans WHERE Project = {project:String} AND TraceId IN {ids:Array(String)}"
        " AND SpanType != {control:String}", {**params, "ids": ids})}
    return sorted(set(ids) - runs)


def list_traces(
    store: Store,
    project: str,
    flt: SpanFilter,
    *,
    limit: int = 50,
    offset: int = 0,
    sort: str = "time",
    order: str = "desc",
) -> dict[str, Any]:
    """One page of traces that have a span matching ``flt``, and how many match in all (traces
    of control events only left out, :func:`control_only`)."""
    _check_page(limit, offset, sort, order, TRACE_SORTS)
    direction = order.upper()
    hidden = control_only(store, project, flt)
    runs_only = " AND TraceId NOT IN {hidden:Array(String)}" if hidden else ""
    if narrows_spans(flt):
        where, params = flt.where(project, text_index=store.settings.text_index)
        where += runs_only
        matching = f"TraceId IN (SELECT TraceId FROM spans WHERE {where})"
        total_sql = f"SELECT uniqExact(TraceId) FROM spans WHERE {where}"
    else:
        params = {"project": project}
        window = Window(flt.start, flt.end).conditions(params, column="s")
        matching = " AND ".join(window) if window else "1"
        total_sql = ("SELECT count() FROM (SELECT TraceId, min(Start) AS s FROM trace_index"
                     f" WHERE Project = {{project:String}}{runs_only} GROUP BY TraceId HAVING {matching})")
    if hidden:
        params["hidden"] = hidden
    total_future = store.query_rows_later(total_sql, params)
    page = {**params, "limit": limit, "offset": offset}
    if sort == "time":
        # The index has one row per trace (after merges): a sort over it does not read spans.
        having = "" if narrows_spans(flt) else f" HAVING {matching}"
        where_ids = f" AND {matching}" if narrows_spans(flt) else runs_only
        ids = store.query_rows(
            "SELECT TraceId, min(Start) AS s FROM trace_index WHERE Project = {project:String}"
            f"{where_ids} GROUP BY TraceId{having} ORDER BY s {direction}, TraceId"
            " LIMIT {limit:UInt32} OFFSET {offset:UInt32}",
            page,
        )
    else:
        cond_list = ["Project = {project:String}"]
        if narrows_spans(flt):
            cond_list.append(matching)
        elif flt.start is not None or flt.end is not None:
            # The traces that start in the range (as counted above); the spans' own range
            # prunes the days read.
            cond_list += Window(flt.start, flt.end).conditions(page)
            cond_list.append("TraceId IN (SELECT TraceId FROM (SELECT TraceId, min(Start) AS s FROM trace_index"
                             f" WHERE Project = {{project:String}} GROUP BY TraceId HAVING {matching}))")
        cond = " AND ".join(cond_list) + ("" if narrows_spans(flt) else runs_only)
        ids = store.query_rows(
            f"SELECT TraceId, {TRACE_SORTS[sort]} AS k FROM spans WHERE {cond}"
            f" GROUP BY TraceId ORDER BY k {direction}, TraceId LIMIT {{limit:UInt32}} OFFSET {{offset:UInt32}}",
            {**page, "control": CONTROL_SPAN_TYPE} if sort == "duration" else page,
        )
    items = summaries(store, project, [str(r[0]) for r in ids])
    total = int(total_future.result()[0][0])
    return {"items": items, "total": total, "limit": limit, "offset": offset}


def summaries(store: Store, project: str, trace_ids: list[str]) -> list[dict[str, Any]]:
    """One summary per trace, in the order of ``trace_ids`` (unknown ids are left out)."""
    if not trace_ids:
        return []
    rows = store.query(_SUMMARY, {"project": project, "ids": sorted(set(trace_ids)), "chars": INPUT_CHARS,
                                  "control": CONTROL_SPAN_TYPE})
    by_id = {r["TraceId"]: r for r in rows}
    wanting = [t for t, r in by_id.items() if not (r["agent"] and r["agent_version"] and r["user_id"] and r["session_id"])]
    known = trace_facts.lookup(store, project, wanting) if wanting else {}
    out = []
    for trace_id in trace_ids:
        r = by_id.get(trace_id)
        if r is None:
            continue
        facts = known.get(trace_id, ({}, False))[0]

        def fact(value: str, column: str, facts: trace_facts.Facts = facts) -> str:
            return value or facts.get(column, (0, ""))[1]

        root_status = r["root_status"] if r["roots"] else ""
        status = "error" if root_status == "Error" or (root_status != "Ok" and r["errors"]) else _STATUS.get(root_status, "unset")
        out.append({
            "trace_id": trace_id,
            "name": r["root_name"] if r["roots"] else r["first_name"],
            "agent": fact(r["agent"], "AgentName"),
            "agent_version": fact(r["agent_version"], "AgentVersion"),
            "user": fact(r["user_id"], "UserId"),
            "session": fact(r["session_id"], "SessionId"),
            "started": iso(from_ns(int(r["start_ns"]))),
            "start_ns": int(r["start_ns"]),
            "duration_ms": (int(r["end_ns"]) - int(r["start_ns"])) / 1e6,
            "spans": int(r["spans"]),
            "input_tokens": int(r["input_tokens"]),
            "output_tokens": int(r["output_tokens"]),
            "cost_usd": float(r["cost_usd"]),
            "errors": int(r["errors"]),
            "status": status,
            "input": r["first_input"],
            "output": r["root_output"],
            "prompts": list(r["prompts"]),
            "models": list(r["models"]),
        })
    return out


# -- sessions -----------------------------------------------------------------------------


def list_sessions(
    store: Store,
    project: str,
    *,
    start: Any = None,
    end: Any = None,
    agent: str = "",
    agent_version: str = "",
    user: str = "",
    q: str = "",
    errors_only: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    """Sessions (conversations) with their runs, most recently active first.

    ``agent``, ``agent_version`` and ``user`` are matched on the runs' root spans; ``q`` keeps
    the sessions with a run that has a span containing every word (the trace list's text
    search); ``errors_only`` the sessions with a run that has a failed span.
    """
    _check_page(limit, offset, "last", "desc", ("last",))
    params: dict[str, Any] = {"project": project, "limit": limit, "offset": offset}
    window = Window(start, end).conditions(params)
    cond = ["Project = {project:String}", "SessionId != ''", *window]
    for column, name, value in (("AgentName", "agent", agent), ("AgentVersion", "agent_version", agent_version),
                                ("UserId", "user", user)):
        if value:
            cond.append(f"{column} = {{{name}:String}}")
            params[name] = value
    runs_in = "SessionId IN (SELECT SessionId FROM spans WHERE Project = {project:String} AND ParentSpanId = ''" \
              " AND SessionId != '' AND TraceId IN (SELECT TraceId FROM spans WHERE %s))"
    if q.strip():
        text_where, text_params = SpanFilter(q=q, start=start, end=end).where(project, text_index=store.settings.text_index)
        cond.append(runs_in % text_where)
        params.update(text_params)
    if errors_only:
        cond.append(runs_in % " AND ".join(["Project = {project:String}", "StatusCode = 'Error'", *window]))
    # The page from the runs' root spans only (one row per run), then the totals of the page's
    # sessions over all their spans.
    where = " AND ".join(cond)
    roots = f"{where} AND ParentSpanId = ''"
    total_future = store.query_rows_later(f"SELECT uniqExact(SessionId) FROM spans WHERE {roots}", params)
    rows = store.query(
        "SELECT SessionId AS session_id, uniqExact(TraceId) AS traces,"
        " toUnixTimestamp64Nano(min(Timestamp)) AS first_ns,"
        " max(toUnixTimestamp64Nano(Timestamp) + Duration) AS last_ns,"
        " argMinIf(UserId, Timestamp, UserId != '') AS user_id,"
        " arraySort(groupUniqArrayIf(20)(AgentName, AgentName != '')) AS agents,"
        " argMinIf(leftUTF8(InputText, {chars:UInt32}), Timestamp, InputText != '') AS first_input"
        f" FROM spans WHERE {roots} GROUP BY SessionId ORDER BY last_ns DESC, session_id"
        " LIMIT {limit:UInt32} OFFSET {offset:UInt32}",
        {**params, "chars": INPUT_CHARS},
    )
    sums: dict[str, dict[str, Any]] = {}
    if rows:
        sums = {r["SessionId"]: r for r in store.query(
            "SELECT SessionId, sum(CostUsd) AS cost_usd, sum(InputTokens) + sum(OutputTokens) AS tokens,"
            " countIf(StatusCode = 'Error') AS errors FROM spans WHERE Project = {project:String}"
            " AND SessionId IN {sessions:Array(String)}"
            " AND Timestamp >= fromUnixTimestamp64Nano({lo:Int64}) AND Timestamp <= fromUnixTimestamp64Nano({hi:Int64})"
            " GROUP BY SessionId",
            {"project": project, "sessions": [r["session_id"] for r in rows],
             "lo": min(int(r["first_ns"]) for r in rows), "hi": max(int(r["last_ns"]) for r in rows)},
        )}
    items = [{
        "session_id": r["session_id"], "user": r["user_id"], "agents": list(r["agents"]),
        "traces": int(r["traces"]), "started": iso(from_ns(int(r["first_ns"]))),
        "last_activity": iso(from_ns(int(r["last_ns"]))),
        "duration_ms": (int(r["last_ns"]) - int(r["first_ns"])) / 1e6,
        "cost_usd": float(sums.get(r["session_id"], {}).get("cost_usd", 0.0)),
        "tokens": int(sums.get(r["session_id"], {}).get("tokens", 0)),
        "errors": int(sums.get(r["session_id"], {}).get("errors", 0)),
        "first_input": r["first_input"],
    } for r in rows]
    return {"items": items, "total": int(total_future.result()[0][0]), "limit": limit, "offset": offset}


def get_session(store: Store, project: str, session_id: str) -> dict[str, Any] | None:
    """A session's runs in start order and its transcript (each run's input and answer)."""
    ids = store.query_rows(
        "SELECT TraceId, min(Timestamp) AS s FROM spans WHERE Project = {project:String}"
        " AND SessionId = {session:String} GROUP BY TraceId ORDER BY s, TraceId LIMIT {limit:UInt32}",
        {"project": project, "session": session_id, "limit": MAX_SESSION_TRACES + 1},
    )
    if not ids:
        return None
    trace_ids = [str(r[0]) for r in ids[:MAX_SESSION_TRACES]]
    runs = summaries(store, project, trace_ids)
    texts = {r["TraceId"]: r for r in store.query(
        "SELECT TraceId, argMinIf(InputText, Timestamp, ParentSpanId = '') AS input,"
        " argMinIf(OutputText, Timestamp, ParentSpanId = '') AS output,"
        " argMinIf(InputText, Timestamp, InputText != '') AS any_input,"
        " argMaxIf(OutputText, Timestamp, OutputText != '') AS any_output"
        " FROM spans WHERE Project = {project:String} AND TraceId IN {ids:Array(String)}"
        " AND SessionId = {session:String} GROUP BY TraceId",
        {"project": project, "ids": trace_ids, "session": session_id},
    )}
    turns: list[dict[str, Any]] = []
    for run in runs:
        t = texts.get(run["trace_id"])
        if t is None:
            continue
        said, answered = t["input"] or t["any_input"], t["output"] or t["any_output"]
        if said:
            turns.append({"trace_id": run["trace_id"], "role": "user", "text": said, "at": run["started"],
                          "status": run["status"]})
        if answered or run["status"] == "error":
            turns.append({"trace_id": run["trace_id"], "role": "assistant", "text": answered,
                          "at": run["started"], "status": run["status"]})
    return {
        "session_id": session_id,
        "user": next((r["user"] for r in runs if r["user"]), ""),
        "runs": runs,
        "turns": turns,
        "truncated": len(ids) > MAX_SESSION_TRACES,
        "cost_usd": sum(r["cost_usd"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
    }
