"""A small typed client for the collector's HTTP API (docs/contracts.md, "HTTP API answers").

This is the only place the UI talks to the network. Each method is one documented HTTP
call, so anything a page shows can be reproduced with ``curl``. Reads use the client's key;
the control calls that act for a person (deciding approvals, pausing and resuming agents)
take that person's own key as ``api_key`` (docs/control.md, docs/ui.md).

Usage::

    with ApiClient("http://127.0.0.1:4318", "read-key") as api:
        found = api.search_spans(q="refund", limit=20)
        trace = api.get_trace(found.items[0]["trace_id"])

Errors::

    ApiError            any failure of a call: HTTP status >= 400 (with the server's
                        message), an unreachable collector, or a body that is not JSON

Every method returns the answer typed with the TypedDicts of :mod:`flightlog.ui.types`
(mirrors of the collector's response models). The values are the decoded JSON as sent:
the types say what the collector promises (its /openapi.json), they are not re-checked here.
"""
from __future__ import annotations

import datetime as dt
import functools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import quote

import httpx

from flightlog.search import QUERY_PARAMETERS
from flightlog.ui import types as api

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_TIMEOUT",
    "FLIGHTLOG_API_KEY",
    "FLIGHTLOG_API_URL",
    "SEARCH_FILTERS",
    "ApiClient",
    "ApiError",
    "SearchResult",
    "Trace",
]

FLIGHTLOG_API_URL = "FLIGHTLOG_API_URL"
"""Base URL of the collector's query API, read by :meth:`ApiClient.from_env`.

Default: ``http://127.0.0.1:4318``
"""

FLIGHTLOG_API_KEY = "FLIGHTLOG_API_KEY"
"""The read key sent as ``Authorization: Bearer <key>``, read by :meth:`ApiClient.from_env`.

Default: empty (the collector will answer 401).
"""

DEFAULT_API_URL = "http://127.0.0.1:4318"
DEFAULT_TIMEOUT = 15.0

SEARCH_FILTERS = QUERY_PARAMETERS
"""The query parameters ``GET /api/spans`` accepts; :meth:`ApiClient.search_spans` takes these."""


class ApiError(Exception):
    """A query API call failed.

    ``status_code`` is the HTTP status, or ``None`` when no answer came back (the collector
    is unreachable or timed out). ``message`` is the server's own explanation when it gave
    one.
    """

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


@dataclass(frozen=True)
class SearchResult:
    """One page of ``GET /api/spans``: the spans, the total number that matched, the window."""

    items: list[api.SpanListItem]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class Trace:
    """``GET /api/traces/{id}``: spans in tree order (each with ``depth``) plus totals.

    ``raw`` keeps the whole answer, so fields the UI does not know yet are not lost.
    """

    trace_id: str
    spans: list[api.TraceSpan]
    total_cost_usd: float
    raw: api.Trace = field(default_factory=lambda: cast(api.Trace, {}), repr=False)


class ApiClient:
    """Client of the collector's query API, authenticated with a read key.

    Parameters
    ----------
    base_url:
        The collector, e.g. ``http://127.0.0.1:4318``.
    api_key:
        A read key; sent as ``Authorization: Bearer <api_key>``.
    transport:
        An httpx transport to use instead of the network, e.g. ``httpx.ASGITransport``
        for the collector app in-process, or ``httpx.MockTransport`` to script failures.
    timeout:
        Seconds to wait for each call.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if not base_url:
            raise ValueError("base_url must not be empty")
        self.base_url = base_url.rstrip("/")
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, transport=transport, timeout=timeout
        )

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> ApiClient:
        """Build a client from ``FLIGHTLOG_API_URL`` and ``FLIGHTLOG_API_KEY``."""
        env = os.environ if environ is None else environ
        return cls(
            env.get(FLIGHTLOG_API_URL) or DEFAULT_API_URL,
            env.get(FLIGHTLOG_API_KEY, ""),
            transport=transport,
            timeout=timeout,
        )

    def __repr__(self) -> str:
        # The key stays out of reprs and logs.
        return f"ApiClient(base_url={self.base_url!r})"

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool; safe to call twice."""
        self._http.close()

    # -- the four calls -------------------------------------------------------------

    def search_spans(self, **filters: Any) -> SearchResult:
        """``GET /api/spans``: spans matching ``filters`` (names in :data:`SEARCH_FILTERS`).

        ``None`` and empty values are left out; datetimes are sent as ISO 8601 UTC.
        """
        unknown = sorted(set(filters) - SEARCH_FILTERS)
        if unknown:
            raise TypeError(f"unknown search filter(s): {', '.join(unknown)}")
        body = self._get("/api/spans", _query_params(filters))
        return SearchResult(
            items=cast("list[api.SpanListItem]", list(body.get("items") or [])),
            total=int(body.get("total") or 0),
            limit=int(body.get("limit") or filters.get("limit") or 0),
            offset=int(body.get("offset") or 0),
        )

    def list_traces(self, **filters: Any) -> api.TracePage:
        """``GET /api/traces``: one row per trace with a span matching ``filters`` (as for spans;
        ``sort`` also takes ``spans`` and ``errors``)."""
        unknown = sorted(set(filters) - SEARCH_FILTERS)
        if unknown:
            raise TypeError(f"unknown trace filter(s): {', '.join(unknown)}")
        return cast(api.TracePage, self._get("/api/traces", _query_params(filters)))

    def sessions(self, **params: Any) -> api.SessionPage:
        """``GET /api/sessions`` (``start``, ``end``, ``agent``, ``user``, ``limit``, ``offset``)."""
        return cast(api.SessionPage, self._get("/api/sessions", _query_params(params)))

    def session(self, session_id: str) -> api.Session:
        """``GET /api/sessions/{session_id}``: the runs in order and one transcript across them."""
        return cast(api.Session, self._get(f"/api/sessions/{_path(session_id, 'session_id')}", []))

    def get_trace(self, trace_id: str) -> Trace:
        """``GET /api/traces/{trace_id}``: every span of one trace, in tree order."""
        if not trace_id:
            raise ValueError("trace_id must not be empty")
        body = self._get(f"/api/traces/{quote(trace_id, safe='')}", {})
        return Trace(
            trace_id=str(body.get("trace_id") or trace_id),
            spans=cast("list[api.TraceSpan]", list(body.get("spans") or [])),
            total_cost_usd=float(body.get("total_cost_usd") or 0.0),
            raw=cast(api.Trace, body),
        )

    def cost(
        self,
        group_by: Sequence[str],
        start: dt.datetime | str | None = None,
        end: dt.datetime | str | None = None,
    ) -> list[api.CostRow]:
        """``GET /api/cost``: cost, tokens and calls per group (``day``, ``model``, ``agent``…)."""
        params = _query_params({"group_by": list(group_by), "start": start, "end": end})
        return cast("list[api.CostRow]", list(self._get("/api/cost", params).get("rows") or []))

    def facets(self) -> api.Facets:
        """``GET /api/facets``: distinct agents, models, prompt versions, span types, users."""
        body = self._get("/api/facets", {})
        return cast(api.Facets, {str(k): [str(v) for v in (vs or [])] for k, vs in body.items()})

    # -- insights (collector/api/insights.py) --------------------------------------

    def traceback(
        self, trace_id: str, span_id: str, *, compare: int = 10, healthy_only: bool = True
    ) -> api.Traceback:
        """``GET /api/traces/{trace_id}/traceback``: causal chain, inputs, healthy-run comparison."""
        if not trace_id or not span_id:
            raise ValueError("trace_id and span_id must not be empty")
        params = _query_params({"span_id": span_id, "compare": compare, "healthy_only": healthy_only})
        return cast(api.Traceback, self._get(f"/api/traces/{quote(trace_id, safe='')}/traceback", params))

    def monitoring(self, **params: Any) -> api.Monitoring:
        """``GET /api/insights/monitoring`` (``start``, ``end``, ``bucket``, ``by``, ``agent``)."""
        return cast(api.Monitoring, self._get("/api/insights/monitoring", _query_params(params)))

    def budgets(self) -> list[api.Budget]:
        """The project's daily budgets (``GET /api/budgets``)."""
        return cast("list[api.Budget]", list(self._get("/api/budgets", []).get("budgets", [])))

    def cost_per_run(self, **params: Any) -> list[api.CostPerRunRow]:
        """``GET /api/insights/cost_per_run`` (``start``, ``end``, ``by``): rows per group."""
        rows = self._get("/api/insights/cost_per_run", _query_params(params)).get("rows") or []
        return cast("list[api.CostPerRunRow]", list(rows))

    def top_traces(self, **params: Any) -> list[api.TopTrace]:
        """``GET /api/insights/top_traces`` (``start``, ``end``, ``limit``): costliest first."""
        rows = self._get("/api/insights/top_traces", _query_params(params)).get("rows") or []
        return cast("list[api.TopTrace]", list(rows))

    # -- audit (docs/audit.md): needs an auditor or admin key unless noted ---------

    def verify_chain(self, **params: Any) -> api.VerifyReport:
        """``GET /api/audit/verify`` (``start``, ``end``): the hash-chain verification report."""
        return cast(api.VerifyReport, self._get("/api/audit/verify", _query_params(params)))

    def access_log(self, **params: Any) -> api.AccessLogPage:
        """``GET /api/audit/access`` (``key_id``, ``role``, ``endpoint``, ``contains``, ``start``, ``end``,
        ``limit``, ``offset``): ``{"entries": [...], "truncated": bool}``."""
        return cast(api.AccessLogPage, self._get("/api/audit/access", _query_params(params)))

    def checkpoints(self, **params: Any) -> api.CheckpointAudit:
        """``GET /api/audit/checkpoints`` (any read key; ``start``, ``end``, ``min_tier``, ``flagged_only``)."""
        return cast(api.CheckpointAudit, self._get("/api/audit/checkpoints", _query_params(params)))

    def governance_log(self, limit: int = 200) -> list[api.GovernanceChange]:
        """``GET /api/audit/governance``: retention, legal hold, budget and review-setting changes."""
        changes = self._get("/api/audit/governance", _query_params({"limit": limit})).get("changes") or []
        return cast("list[api.GovernanceChange]", list(changes))

    def budget_alerts(self, limit: int = 200) -> list[api.BudgetAlertRow]:
        """``GET /api/audit/budget-alerts``: alerts raised at 80% / 100% with the webhook outcome."""
        alerts = self._get("/api/audit/budget-alerts", _query_params({"limit": limit})).get("alerts") or []
        return cast("list[api.BudgetAlertRow]", list(alerts))

    def review_queue(self, **params: Any) -> list[api.ReviewQueueItem]:
        """``GET /api/audit/reviews/queue`` (any read key; ``agent``, ``pending_only``, ``limit``)."""
        queue = self._get("/api/audit/reviews/queue", _query_params(params)).get("queue") or []
        return cast("list[api.ReviewQueueItem]", list(queue))

    def review_trend(self, by: str = "agent") -> list[api.ReviewTrendPoint]:
        """``GET /api/audit/reviews/trend?by=agent|prompt_version``: mean score per day and group."""
        points = self._get("/api/audit/reviews/trend", _query_params({"by": by})).get("points") or []
        return cast("list[api.ReviewTrendPoint]", list(points))

    def add_review_score(self, trace_id: str, score: float, *, label: str = "",
                         comment: str = "", api_key: str | None = None) -> api.ReviewScoreSaved:
        """``POST /api/audit/reviews/scores`` (any read key): the score is attributed to the key
        sent — ``api_key`` (the reviewer's own) when given, else the client's."""
        body = {"trace_id": trace_id, "score": score, "label": label, "comment": comment}
        return cast(api.ReviewScoreSaved, self._send("POST", "/api/audit/reviews/scores", json_body=body,
                                                     api_key=api_key))

    def export_bytes(self, fmt: str = "jsonl", **params: Any) -> bytes:
        """``GET /api/audit/export?format=…``: the whole export in memory (use the CLI for big ones)."""
        try:
            response = self._http.get("/api/audit/export", params=_query_params({"format": fmt, **params}))
        except httpx.TransportError as exc:
            raise ApiError(f"cannot reach the collector at {self.base_url}: {exc}") from exc
        if response.status_code >= 400:
            raise ApiError(f"{response.status_code} {response.reason_phrase}: {_server_message(response)}",
                           status_code=response.status_code)
        return response.content

    # -- the control loop (docs/control.md) ----------------------------------------
    #
    # Reads use the client's own key (the UI's read key). Deciding, pausing and resuming take
    # ``api_key``: the key of the named person acting, sent for that one call only, so a
    # decision is never made with a key the UI shares between people.

    def whoami(self, *, api_key: str | None = None) -> api.WhoAmI:
        """``GET /api/whoami``: who the client's key (or ``api_key``) is: name, role, permissions."""
        return cast(api.WhoAmI, self._send("GET", "/api/whoami", api_key=api_key))

    def approvals(self, *, status: str = "", agent: str = "", limit: int = 100,
                  offset: int = 0) -> api.ApprovalPage:
        """``GET /api/approvals``: pending first (soonest expiry first), then the newest decided.

        ``status`` is one of ``pending``, ``approved``, ``rejected``, ``expired``, ``notified``
        (empty: all)."""
        params = _query_params({"status": status, "agent": agent, "limit": limit, "offset": offset})
        return cast(api.ApprovalPage, self._get("/api/approvals", params))

    def approval(self, approval_id: str) -> api.Approval:
        """``GET /api/approvals/{id}``: one approval."""
        return cast(api.Approval, self._get(f"/api/approvals/{_path(approval_id, 'approval_id')}", []))

    def wait_approval(self, approval_id: str, timeout_s: float = 30.0) -> api.Approval:
        """``GET /api/approvals/{id}/wait``: the approval once decided or expired, or as it is
        after ``timeout_s`` (at most 60) — what an agent's long-poll sees."""
        params = _query_params({"timeout_s": timeout_s})
        return cast(api.Approval, self._send("GET", f"/api/approvals/{_path(approval_id, 'approval_id')}/wait",
                                             params=params, timeout=float(timeout_s) + DEFAULT_TIMEOUT))

    def decide(self, approval_id: str, decision: str, reason: str, *, api_key: str,
               arguments: Any = None) -> api.Approval:
        """``POST /api/approvals/{id}/decide`` as the person whose key is ``api_key``.

        ``decision`` is ``approve`` or ``reject``; ``reason`` is required; ``arguments``
        (approve only) replaces the agent's arguments (stored as ``edited_arguments``)."""
        if decision not in ("approve", "reject"):
            raise ValueError("decision must be 'approve' or 'reject'")
        if not reason.strip():
            raise ValueError("a decision needs a reason")
        body: dict[str, Any] = {"decision": decision, "reason": reason}
        if arguments is not None:
            body["arguments"] = arguments
        return cast(api.Approval, self._send("POST", f"/api/approvals/{_path(approval_id, 'approval_id')}/decide",
                                             json_body=body, api_key=_person(api_key)))

    def control_state(self) -> api.ControlState:
        """``GET /api/control/state``: the active pauses and the policies in force."""
        return cast(api.ControlState, self._get("/api/control/state", []))

    def pause(self, *, reason: str, api_key: str, agent: str = "", agent_version: str = "",
              tool: str = "") -> api.PauseChange:
        """``POST /api/control/pause`` (an admin's ``api_key``): stop the project (``agent`` empty),
        an agent, one version of it, or one tool of it."""
        body = {"agent": agent, "agent_version": agent_version, "tool": tool, "reason": reason}
        return cast(api.PauseChange, self._send("POST", "/api/control/pause", json_body=body,
                                                api_key=_person(api_key)))

    def resume(self, *, reason: str, api_key: str, agent: str = "", agent_version: str = "",
               tool: str = "") -> api.PauseChange:
        """``POST /api/control/resume`` (an admin's ``api_key``): lift the pause of that scope."""
        body = {"agent": agent, "agent_version": agent_version, "tool": tool, "reason": reason}
        return cast(api.PauseChange, self._send("POST", "/api/control/resume", json_body=body,
                                                api_key=_person(api_key)))

    def policies(self) -> list[api.PolicyDoc]:
        """``GET /api/policies``: the policy in force for every agent (and agent version)."""
        return cast("list[api.PolicyDoc]", list(self._get("/api/policies", []).get("policies") or []))

    def policy(self, agent: str, agent_version: str = "") -> api.PolicyDoc:
        """``GET /api/policies/{agent}``: the policy in force for the agent (and version)."""
        params = _query_params({"agent_version": agent_version})
        return cast(api.PolicyDoc, self._get(f"/api/policies/{_path(agent, 'agent')}", params))

    def policy_history(self, agent: str) -> list[api.PolicyDoc]:
        """``GET /api/policies/{agent}/history``: every stored version, newest first."""
        body = self._get(f"/api/policies/{_path(agent, 'agent')}/history", [])
        return cast("list[api.PolicyDoc]", list(body.get("policies") or []))

    # -- alerts (docs/alerts.md) ------------------------------------------------------

    def alert_rules(self) -> list[api.AlertRule]:
        """``GET /api/alerts/rules``: the rules with their state, firing first."""
        return cast("list[api.AlertRule]", list(self._get("/api/alerts/rules", []).get("rules") or []))

    def alert_history(self, *, rule_id: str = "", limit: int = 100) -> list[api.AlertEvent]:
        """``GET /api/alerts/history``: transitions and silence changes, newest first."""
        body = self._get("/api/alerts/history", _query_params({"rule_id": rule_id, "limit": limit}))
        return cast("list[api.AlertEvent]", list(body.get("events") or []))

    def silence_alert(self, rule_id: str, *, reason: str, api_key: str, duration: str = "",
                      until: str = "") -> api.AlertRule:
        """``POST /api/alerts/rules/{id}/silence`` as the person whose key is ``api_key`` (an admin,
        or a key with the alerts permission): for ``duration`` ('2h') or until ``until``."""
        body = {"reason": reason, **({"for": duration} if duration else {"until": until})}
        return cast(api.AlertRule, self._send("POST", f"/api/alerts/rules/{_path(rule_id, 'rule id')}/silence",
                                              json_body=body, api_key=_person(api_key)))

    def unsilence_alert(self, rule_id: str, *, api_key: str, reason: str = "") -> api.AlertRule:
        """``POST /api/alerts/rules/{id}/unsilence`` as the person whose key is ``api_key``."""
        return cast(api.AlertRule, self._send("POST", f"/api/alerts/rules/{_path(rule_id, 'rule id')}/unsilence",
                                              json_body={"reason": reason}, api_key=_person(api_key)))


    # -- datasets and experiments (docs/evaluation.md) -----------------------------
    #
    # Reads use the client's key; adding items takes the signed-in person's ``api_key`` (an
    # engineer or admin key), so the item is recorded as theirs.

    def datasets(self) -> list[api.Dataset]:
        """``GET /api/datasets``: every dataset of the project, by name."""
        return cast("list[api.Dataset]", list(self._get("/api/datasets", []).get("datasets") or []))

    def dataset_items(self, name: str, *, version: int | None = None, limit: int = 1000,
                      offset: int = 0) -> api.DatasetItemPage:
        """``GET /api/datasets/{name}/items``: the items of a version (default the current one), in order."""
        params = _query_params({"version": version, "limit": limit, "offset": offset})
        return cast(api.DatasetItemPage, self._get(f"/api/datasets/{_path(name, 'dataset')}/items", params))

    def export_dataset(self, name: str, fmt: str = "jsonl", *, version: int | None = None) -> bytes:
        """``GET /api/datasets/{name}/export``: a version's items as JSONL or CSV bytes."""
        params = _query_params({"format": fmt, "version": version})
        try:
            response = self._http.get(f"/api/datasets/{_path(name, 'dataset')}/export", params=params)
        except httpx.TransportError as exc:
            raise ApiError(f"cannot reach the collector at {self.base_url}: {exc}") from exc
        if response.status_code >= 400:
            raise ApiError(f"{response.status_code} {response.reason_phrase}: {_server_message(response)}",
                           status_code=response.status_code)
        return response.content

    def create_dataset(self, name: str, description: str = "", *, api_key: str) -> api.Dataset:
        """``POST /api/datasets`` as the person whose key is ``api_key`` (an engineer or admin key)."""
        return cast(api.Dataset, self._send("POST", "/api/datasets", json_body={"name": name, "description": description},
                                            api_key=_person(api_key)))

    def add_spans_to_dataset(self, name: str, spans: Sequence[tuple[str, str]], *, api_key: str,
                             metadata: Mapping[str, Any] | None = None) -> api.ItemsAdded:
        """``POST /api/datasets/{name}/items/from-spans`` (``spans``: trace id, span id) as the person
        whose key is ``api_key``: an item for every span, or none."""
        body = {"spans": [{"trace_id": t, "span_id": s} for t, s in spans], "metadata": dict(metadata or {})}
        return cast(api.ItemsAdded, self._send("POST", f"/api/datasets/{_path(name, 'dataset')}/items/from-spans",
                                               json_body=body, api_key=_person(api_key)))

    def experiments(self, *, dataset: str = "", status: str = "", limit: int = 100) -> list[api.Experiment]:
        """``GET /api/experiments``: newest first (optionally of one dataset)."""
        params = _query_params({"dataset": dataset, "status": status, "limit": limit})
        return cast("list[api.Experiment]", list(self._get("/api/experiments", params).get("experiments") or []))

    def compare_experiments(self, ids: Sequence[str]) -> api.ExperimentComparison:
        """``GET /api/experiments/compare?ids=…``: the first is the baseline; regressions first."""
        return cast(api.ExperimentComparison, self._get("/api/experiments/compare",
                                                        _query_params({"ids": ",".join(ids)})))

    def experiment_groups(self, *, by: str = "agent_version", dataset: str = "", agent: str = "") -> api.ExperimentGroups:
        """``GET /api/experiments/grouped``: mean score per evaluator of finished experiments, split by
        the agent version, prompt version or model of each item's run."""
        return cast(api.ExperimentGroups, self._get("/api/experiments/grouped",
                                                    _query_params({"by": by, "dataset": dataset, "agent": agent})))

    def evaluation_summary(self, *, by: str = "agent_version", agent: str = "", source: str = "",
                           start: dt.datetime | None = None, end: dt.datetime | None = None, agent_version: str = "",
                           prompt_version: str = "", model: str = "") -> list[api.ScoreSummaryRow]:
        """``GET /api/evaluation/summary``: mean score of live runs per agent version (prompt version,
        model) and evaluator, from online rules and evaluation events."""
        params = _query_params({"by": by, "agent": agent, "source": source, "start": start, "end": end,
                                "agent_version": agent_version, "prompt_version": prompt_version, "model": model})
        return cast("list[api.ScoreSummaryRow]", list(self._get("/api/evaluation/summary", params).get("rows") or []))

    # -- plumbing -----------------------------------------------------------------

    def _get(self, path: str, params: list[tuple[str, str]]) -> dict[str, Any]:
        """One GET, with every failure turned into :class:`ApiError`."""
        return self._send("GET", path, params=params)

    def _send(self, method: str, path: str, *, params: list[tuple[str, str]] | None = None,
              json_body: Any = None, api_key: str | None = None, timeout: float | None = None) -> dict[str, Any]:
        """One call with any method; ``api_key`` replaces the client's key for this call only."""
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        request = functools.partial(self._http.request, method, path, params=tuple(params or ()), json=json_body,
                                    headers=headers, **extra)
        try:
            try:
                response = request()
            except httpx.RemoteProtocolError:
                # The collector closed a kept-alive connection just as it was reused (its idle
                # timeout): nothing was answered. A read is asked again once on a new connection;
                # a write is not, as it may have been carried out.
                if method != "GET":
                    raise
                response = request()
        except httpx.TimeoutException as exc:
            raise ApiError(f"the collector at {self.base_url} did not answer in time") from exc
        except httpx.TransportError as exc:
            raise ApiError(f"cannot reach the collector at {self.base_url}: {exc}") from exc
        return _json_object(response, path)


def _json_object(response: httpx.Response, path: str) -> dict[str, Any]:
    """The JSON object of a successful answer; any other answer as :class:`ApiError`."""
    if response.status_code >= 400:
        raise ApiError(
            f"{response.status_code} {response.reason_phrase}: {_server_message(response)}",
            status_code=response.status_code,
        )
    try:
        body = response.json()
    except ValueError as exc:
        raise ApiError(
            f"the collector answered {path} with something that is not JSON",
            status_code=response.status_code,
        ) from exc
    if not isinstance(body, dict):
        raise ApiError(f"the collector answered {path} with JSON that is not an object")
    return body


def _path(value: str, what: str) -> str:
    """One path segment, quoted; empty is refused before any call."""
    if not value:
        raise ValueError(f"{what} must not be empty")
    return quote(value, safe="")


def _person(api_key: str) -> str:
    """The acting person's key: required for decisions, pauses and dataset items (never the UI's shared key)."""
    if not api_key:
        raise ValueError("deciding, pausing, resuming and making datasets need the acting person's own key"
                         " (api_key)")
    return api_key


def _query_params(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Flatten filters into query pairs: drop empties, repeat lists, ISO-format datetimes."""
    pairs: list[tuple[str, str]] = []
    for name, value in values.items():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if item is None or item == "":
                continue
            pairs.append((name, _param_text(item)))
    return pairs


def _param_text(value: Any) -> str:
    """The text of one query value (datetimes as ISO 8601 in UTC, bools lower-case)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc).isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _server_message(response: httpx.Response) -> str:
    """The server's explanation: FastAPI's ``detail``, an ``error``/``message`` field, or text."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or "no message"
    if isinstance(body, dict):
        for key in ("detail", "error", "message"):
            if body.get(key):
                detail = body[key]
                return detail if isinstance(detail, str) else str(detail)
    return str(body)[:500]
