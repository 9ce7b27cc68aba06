"""Trace facts: the run's agent, agent version, user and session, resolved per trace
(docs/decisions/0013-trace-facts-across-requests.md).

Instrumentations name the agent, the user and the session on one span of a run (the agent's,
or the root), and export a run in several requests, children usually first. The same
resolution runs at ingest (over the spans of one request, plus what earlier requests taught
the collectors, from ``trace_facts``) and at read time (over the stored spans of a trace, so a
child stored before its agent span still shows the run's agent):

1. a span's own value;
2. else the nearest ancestor's among the spans at hand;
3. else the trace's value: from the trace's root span if it has one (rank 2), else from the
   top-most span that carries it (rank 1: its parent is not at hand; rank 0 otherwise),
   ties broken by the larger value, so the answer does not depend on the order of arrival.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .dedupe import Key, chunks, unseen
from .store import Store

#: The columns resolved per trace (TraceName is the root span's name: only a root carries it).
FACTS = ("AgentName", "AgentVersion", "UserId", "SessionId", "TraceName")
FACT_COLUMNS = ("Project", "TraceId", "Rank", *FACTS, "LeafUsage")
#: What the read API calls them (span dicts are snake_case there).
API_FACTS = {"AgentName": "agent_name", "AgentVersion": "agent_version", "UserId": "user_id",
             "SessionId": "session_id", "TraceName": "trace_name"}

Facts = dict[str, tuple[int, str]]
"""fact column → (rank, value): what is known of one trace."""


def better(known: tuple[int, str] | None, candidate: tuple[int, str]) -> bool:
    """Whether ``candidate`` (rank, value) should replace what is known of a fact."""
    return bool(candidate[1]) and (known is None or candidate > known)


def merge(into: Facts, other: Mapping[str, tuple[int, str]]) -> bool:
    """Merge ``other`` into ``into`` fact by fact; True if anything changed."""
    changed = False
    for fact, candidate in other.items():
        if better(into.get(fact), candidate):
            into[fact] = candidate
            changed = True
    return changed


def resolve(rows: Sequence[dict[str, Any]], *, names: Mapping[str, str] | None = None,
            known: Mapping[str, Facts] | None = None) -> dict[str, Facts]:
    """Fill empty facts of ``rows`` in place (ancestors first, then the trace's value) and return
    what each trace's rows say, merged with ``known`` (trace id → facts from elsewhere).

    ``names`` maps the column names (``FACTS`` plus ``TraceId``, ``SpanId``, ``ParentSpanId``)
    to the keys of the row dicts: the identity for stored rows, :data:`API_FACTS` and snake_case
    for the read API's span dicts.
    """
    key = (lambda c: names.get(c, c)) if names else (lambda c: c)
    k_trace, k_span, k_parent = key("TraceId"), key("SpanId"), key("ParentSpanId")
    facts = [(fact, key(fact)) for fact in FACTS]
    by_id = {(r[k_trace], r[k_span]): r for r in rows}
    traces: dict[str, Facts] = {t: dict(f) for t, f in (known or {}).items()}
    for row in rows:
        parent_id = row.get(k_parent) or ""
        rank = 2 if not parent_id else (1 if (row[k_trace], parent_id) not in by_id else 0)
        merge(traces.setdefault(row[k_trace], {}), {c: (rank, row.get(k) or "") for c, k in facts})
    # Ancestors first: what a span's own run says beats the trace's value.
    originals = {id(r): {k: r.get(k) or "" for _, k in facts} for r in rows}
    for row in rows:
        missing = [k for _, k in facts if not row.get(k)]
        if not missing:
            continue
        seen = {row[k_span]}
        parent = by_id.get((row[k_trace], row.get(k_parent) or ""))
        while parent is not None and missing and parent[k_span] not in seen:
            seen.add(parent[k_span])
            for k in list(missing):
                value = originals[id(parent)][k]
                if value:
                    row[k] = value
                    missing.remove(k)
            parent = by_id.get((parent[k_trace], parent.get(k_parent) or ""))
        trace = traces.get(row[k_trace], {})
        for column, k in facts:
            if k in missing and column in trace:
                row[k] = trace[column][1]
    return traces


def lookup(store: Store, project: str, trace_ids: Iterable[str]) -> dict[str, tuple[Facts, bool]]:
    """What ``trace_facts`` holds of these traces: trace id → (facts, leaf usage seen). One query."""
    traces = sorted(set(trace_ids))
    if not traces:
        return {}
    select = ", ".join(f"maxIf((Rank, {c}), {c} != '') AS {c}" for c in FACTS)
    rows = store.query(
        f"SELECT TraceId, {select}, max(LeafUsage) AS LeafUsage FROM trace_facts"
        " WHERE Project = {project:String} AND TraceId IN {traces:Array(String)} GROUP BY TraceId",
        {"project": project, "traces": traces}, settings={"max_execution_time": 5},
    )
    out: dict[str, tuple[Facts, bool]] = {}
    for r in rows:
        facts = {c: (int(r[c][0]), str(r[c][1])) for c in FACTS if r[c] and r[c][1]}
        out[r["TraceId"]] = (facts, bool(r["LeafUsage"]))
    return out


def fact_row(project: str, trace_id: str, facts: Facts, leaf_usage: bool) -> list[list[Any]]:
    """The ``trace_facts`` rows (in :data:`FACT_COLUMNS` order) that record ``facts``: one per
    rank present, so that a reader's per-fact maximum sees each value with its own rank."""
    by_rank: dict[int, dict[str, str]] = {}
    for column, (rank, value) in facts.items():
        by_rank.setdefault(rank, {})[column] = value
    if not by_rank:
        by_rank[0] = {}
    return [[project, trace_id, rank, *(values.get(c, "") for c in FACTS), int(leaf_usage)]
            for rank, values in sorted(by_rank.items())]


def _fact_key(row: Sequence[Any]) -> Key:
    """A facts row is named by all it says (trace, rank, every fact, leaf usage)."""
    return (row[1], int(row[2]), *(str(v) for v in row[3:3 + len(FACTS)]), int(row[3 + len(FACTS)]))


def unseen_facts(store: Store, rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """The rows (in FACT_COLUMNS order) that neither the store nor the batch holds already, so what a
    re-sent request teaches is stored once whichever collectors it reached (docs/decisions/0041)."""

    def stored(project: str, keys: list[Key]) -> set[Key]:
        found: set[Key] = set()
        for traces in chunks([k[0] for k in keys]):
            found.update(_fact_key([project, *r]) for r in store.query_rows(
                f"SELECT TraceId, Rank, {', '.join(FACTS)}, LeafUsage FROM trace_facts"
                " WHERE Project = {p:String} AND TraceId IN {t:Array(String)}", {"p": project, "t": traces}))
        return found

    return unseen(rows, _fact_key, stored)


def fill_api_spans(store: Store, project: str, spans: list[dict[str, Any]]) -> None:
    """Empty facts of read-API span dicts (a search page), from ``trace_facts``: one query."""
    wanting = {s["trace_id"] for s in spans if any(not s.get(k) for k in API_FACTS.values())}
    if not wanting:
        return
    known = lookup(store, project, wanting)
    for span in spans:
        facts = known.get(span["trace_id"], ({}, False))[0]
        for column, k in API_FACTS.items():
            if not span.get(k) and column in facts:
                span[k] = facts[column][1]
