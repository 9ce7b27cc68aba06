"""The collector's answers as TypedDicts: what each :class:`~flightlog.ui.client.ApiClient`
method returns.

They mirror the response models of the API (``collector/api/models.py``, which documents
every field) one to one: same class names, same keys, same types, ``NotRequired`` where the
answer leaves a key out ("present only when …"). The UI cannot import the collector (it
talks to it over HTTP only), so the shapes are written down twice; ``tests/test_ui_types.py``
compares the two field by field, so they cannot drift apart.
"""

# No ``from __future__ import annotations`` here: TypedDict reads NotRequired[...] from the
# evaluated annotations (``__required_keys__`` / ``__optional_keys__``).
import sys
from typing import Any, Literal

if sys.version_info >= (3, 11):
    from typing import NotRequired, TypedDict
else:  # pragma: no cover - Python 3.10
    from typing_extensions import NotRequired, TypedDict

__all__ = [
    "Session",
    "SessionTurn",
    "SessionPage",
    "SessionSummary",
    "TracePage",
    "TraceSummary",
    "AccessEntry",
    "AccessLogPage",
    "AdminBudget",
    "AdminBudgets",
    "AlertEvaluation",
    "AlertEvent",
    "AlertHistory",
    "AlertReplay",
    "AlertRule",
    "AlertRuleList",
    "AlertSilence",
    "AlteredFinding",
    "AlteredSpan",
    "Approval",
    "ApprovalPage",
    "Budget",
    "BudgetAlertRow",
    "BudgetAlerts",
    "BudgetCheck",
    "BudgetDeleted",
    "BudgetLeft",
    "BudgetRemaining",
    "BudgetSet",
    "Budgets",
    "ChainHead",
    "ChainLink",
    "ChainLinks",
    "ChainStream",
    "ChainedTwiceFinding",
    "ChainedTwiceSpan",
    "CheckpointAudit",
    "CheckpointPoint",
    "CheckpointRow",
    "CheckpointSeries",
    "CheckpointTier",
    "CompareStep",
    "ComparedEvaluator",
    "ComparedItem",
    "ComparedRun",
    "Comparison",
    "ControlState",
    "CostAlteredFinding",
    "CostAlteredSpan",
    "CostAnswer",
    "CostPerRun",
    "CostPerRunRow",
    "CostRow",
    "CreatedKey",
    "Dataset",
    "DatasetItem",
    "DatasetItemPage",
    "DatasetList",
    "DecidedBy",
    "DeletedFinding",
    "DeletedSpan",
    "Delivery",
    "DeliveryList",
    "ErrorBody",
    "Escalation",
    "EvaluationRule",
    "EvaluationRuleList",
    "EvaluatorSummary",
    "Experiment",
    "ExperimentComparison",
    "ExperimentGroupRow",
    "ExperimentGroups",
    "ExperimentList",
    "ExperimentResult",
    "ExperimentResults",
    "ExportCount",
    "ExportFilters",
    "ExportManifest",
    "Facets",
    "GovernanceChange",
    "GovernanceLog",
    "Health",
    "HoldCreated",
    "HoldList",
    "InsertedFinding",
    "InsertedSpan",
    "ItemsAdded",
    "KeyInfo",
    "KeyList",
    "LegalHold",
    "LogEvent",
    "MetricCatalogue",
    "MetricGroup",
    "MetricInfo",
    "MetricPoint",
    "MetricSeries",
    "Monitoring",
    "MonitoringPoint",
    "NoStep",
    "NotificationSettings",
    "NotificationTarget",
    "Pause",
    "PauseChange",
    "PendingJudgement",
    "PendingJudgements",
    "PolicyDoc",
    "PolicyList",
    "PolicyRef",
    "ProfileDiff",
    "RaisedAlert",
    "Readiness",
    "ResultsAdded",
    "Retention",
    "RetentionRun",
    "RetentionSet",
    "ReviewQueue",
    "ReviewQueueItem",
    "ReviewRateSet",
    "ReviewRates",
    "ReviewSample",
    "ReviewScoreRow",
    "ReviewScoreSaved",
    "ReviewScores",
    "ReviewTrend",
    "ReviewTrendPoint",
    "RollupAlteredFinding",
    "RollupAlteredHour",
    "RollupFigures",
    "RunProfile",
    "ScoreResult",
    "ScoreSummary",
    "ScoreSummaryRow",
    "ScoresAdded",
    "SpanColumns",
    "SpanEvent",
    "SpanLink",
    "SpanListItem",
    "SpanPage",
    "SpoolStats",
    "ToolCalls",
    "ToolErrorPoint",
    "ToolErrors",
    "TopTrace",
    "TopTraces",
    "Trace",
    "TraceSpan",
    "Traceback",
    "TracebackLink",
    "TracebackStep",
    "VerifyReport",
    "WhoAmI",
]


class Health(TypedDict):
    """``GET /healthz``: the process answers."""

    status: Literal["ok"]


class SpoolStats(TypedDict):
    """The durable ingest spool: what is acknowledged but not yet in the store."""

    segments: int
    bytes: int
    rows: int
    lag_seconds: float


class Readiness(TypedDict):
    """``GET /readyz`` (200 ready, 503 not ready: the same body)."""

    status: Literal["ready", "not ready"]
    problems: list[str]
    spool: SpoolStats


class SpanEvent(TypedDict):
    """An OTel span event, as stored with the span."""

    timestamp: str
    name: str
    attributes: dict[str, str]


class LogEvent(TypedDict):
    """An OTLP log record of the span (GenAI content events), attached when the trace is read."""

    timestamp_ns: int
    name: str
    attributes: dict[str, str]
    body: str
    source: Literal["log"]


class SpanLink(TypedDict):
    """An OTel span link (e.g. to the upstream agent"s span in another trace)."""

    trace_id: str
    span_id: str
    trace_state: str
    attributes: dict[str, str]


class SpanColumns(TypedDict):
    """The span columns both a trace and a search page carry (``snake_case`` column names)."""

    project: str
    timestamp: str
    trace_id: str
    span_id: str
    parent_span_id: str
    trace_state: str
    span_name: str
    span_kind: str
    service_name: str
    scope_name: str
    scope_version: str
    duration: int
    status_code: str
    status_message: str
    span_type: str
    operation: str
    agent_name: str
    agent_version: str
    provider: str
    request_model: str
    response_model: str
    prompt_id: str
    prompt_version: str
    prompt_hash: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
    cost_source: str
    price_version: str
    tool_name: str
    tool_call_id: str
    user_id: str
    session_id: str
    checkpoint_tier: int
    checkpoint_decision: str
    approver: str
    violation: str
    error_type: str
    finish_reason: str
    ingest_time: str
    chain_hash: str
    trace_name: str
    cached_input_tokens: int
    reasoning_tokens: int
    streamed: bool
    time_to_first_chunk_ms: float
    start_ns: int
    duration_ms: float


class SpanListItem(SpanColumns):
    """A span in a search page: no attribute maps, events or links, texts cut short."""

    input_text: str
    output_text: str
    tool_args: str
    tool_result: str


class TraceSpan(SpanColumns):
    """A span of ``GET /api/traces/{trace_id}``: every column, full texts, tree depth."""

    resource_attributes: dict[str, str]
    span_attributes: dict[str, str]
    input_text: str
    output_text: str
    tool_args: str
    tool_result: str
    events: list[SpanEvent | LogEvent]
    links: list[SpanLink]
    depth: int


class Trace(TypedDict):
    """``GET /api/traces/{trace_id}``: every span in tree order, with totals."""

    trace_id: str
    project: str
    spans: list[TraceSpan]
    span_count: int
    start_ns: int
    duration_ms: float
    total_cost_usd: float
    input_tokens: int
    output_tokens: int
    error_count: int
    truncated: bool


class SpanPage(TypedDict):
    """``GET /api/spans``: one page of matching spans."""

    items: list[SpanListItem]
    total: int
    limit: int
    offset: int


class TraceSummary(TypedDict):
    """One trace of ``GET /api/traces`` (and a run of a session): its root and its totals."""

    trace_id: str
    name: str
    agent: str
    agent_version: str
    user: str
    session: str
    started: str
    start_ns: int
    duration_ms: float
    spans: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    errors: int
    status: Literal["ok", "error", "unset"]
    input: str
    output: str
    prompts: list[str]
    models: list[str]


class TracePage(TypedDict):
    """``GET /api/traces``: one page of traces with a span that matches the filters."""

    items: list[TraceSummary]
    total: int
    limit: int
    offset: int


class SessionSummary(TypedDict):
    """One session (conversation) of ``GET /api/sessions``."""

    session_id: str
    user: str
    agents: list[str]
    traces: int
    started: str
    last_activity: str
    duration_ms: float
    cost_usd: float
    tokens: int
    errors: int
    first_input: str


class SessionPage(TypedDict):
    """``GET /api/sessions``: sessions, most recently active first."""

    items: list[SessionSummary]
    total: int
    limit: int
    offset: int


class SessionTurn(TypedDict):
    """One message of a session's transcript: a run's input (user) or its answer (assistant)."""

    trace_id: str
    role: Literal["user", "assistant"]
    text: str
    at: str
    status: Literal["ok", "error", "unset"]


class Session(TypedDict):
    """``GET /api/sessions/{session_id}``: the runs in start order and one transcript across them."""

    session_id: str
    user: str
    runs: list[TraceSummary]
    turns: list[SessionTurn]
    truncated: bool
    cost_usd: float
    errors: int


class CostRow(TypedDict):
    """One group of ``GET /api/cost``: the grouping keys asked for, then the sums."""

    model: NotRequired[str]
    agent: NotRequired[str]
    day: NotRequired[str]
    project: NotRequired[str]
    user: NotRequired[str]
    prompt_version: NotRequired[str]
    agent_version: NotRequired[str]
    prompt_id: NotRequired[str]
    span_type: NotRequired[str]
    cost_usd: float
    input_tokens: int
    output_tokens: int
    calls: int
    spans: int


class CostAnswer(TypedDict):
    """``GET /api/cost``."""

    group_by: list[str]
    rows: list[CostRow]


class Facets(TypedDict):
    """``GET /api/facets``: distinct non-empty values for the search filters, sorted (≤200 each)."""

    agents: list[str]
    models: list[str]
    prompt_ids: list[str]
    prompt_versions: list[str]
    span_types: list[str]
    users: list[str]
    agent_versions: list[str]
    tools: list[str]


class MetricInfo(TypedDict):
    """One metric the project sent (OTLP /v1/metrics or gRPC MetricsService)."""
    name: str
    type: str
    unit: str
    description: str
    points: int
    series: int
    first: str
    last: str


class MetricCatalogue(TypedDict):
    """``GET /api/metrics``: the metrics of the project, by name."""
    metrics: list[MetricInfo]


class MetricGroup(TypedDict):
    """One group of a metric's series: what the window adds up to."""
    group: str
    type: str
    unit: str
    series: int
    points: int
    value: float
    count: int
    sum: float
    min: float | None
    max: float | None
    average: float | None


class MetricPoint(TypedDict):
    """One stored data point."""
    time_ns: int
    group: str
    token_type: str
    value: float
    count: int
    sum: float
    attributes: dict[str, str]


class MetricSeries(TypedDict):
    """``GET /api/metrics/series``: one metric's totals per group and its points."""
    name: str
    group_by: str
    groups: list[MetricGroup]
    points: list[MetricPoint]
    truncated: bool


class TracebackStep(TypedDict):
    """One span of a trace-back with what it contributed (texts cut to 4,000 characters)."""

    role: str
    trace_id: str
    span_id: str
    parent_span_id: str
    span_name: str
    span_type: str
    timestamp: str
    start_ns: int
    duration_ms: float
    status: str
    status_message: str
    error_type: str
    agent_name: str
    agent_version: str
    model: str
    prompt_id: str
    prompt_version: str
    prompt_hash: str
    tool_name: str
    tool_args: str
    tool_result: str
    input_text: str
    output_text: str
    checkpoint_tier: int
    checkpoint_decision: str
    approver: str
    input_tokens: int
    output_tokens: int
    cost_usd: float


class TracebackLink(TypedDict):
    """A span link of the chain or the inputs: where an upstream agent"s span is."""

    from_span_id: str
    trace_id: str
    span_id: str
    attributes: dict[str, str]


class RunProfile(TypedDict):
    """What configured one run of a step, compared between runs."""

    agent_version: str
    models: list[str]
    prompts: list[str]
    status: str
    input: str


class ProfileDiff(TypedDict):
    """Which profile fields differ from the incident"s."""

    fields: list[str]
    input_keys: list[str]


class ComparedRun(TypedDict):
    """Another run of the same step."""

    trace_id: str
    span_id: str
    timestamp: str
    profile: RunProfile
    differs: ProfileDiff


class CompareStep(TypedDict):
    """The step other runs were matched on."""

    agent_name: str
    span_name: str
    tool_name: str


class NoStep(TypedDict):
    """An empty object: no comparison was asked for (``compare=0``)."""


class Comparison(TypedDict):
    """Other runs of the step (within 30 days of it), newest first."""

    step: CompareStep | NoStep
    healthy_only: bool
    runs: list[ComparedRun]


class Traceback(TypedDict):
    """``GET /api/traces/{trace_id}/traceback``."""

    trace_id: str
    span_id: str
    target: TracebackStep
    chain: list[TracebackStep]
    inputs: list[TracebackStep]
    links: list[TracebackLink]
    profile: RunProfile
    project: str
    upstream: list[TracebackStep]
    comparison: Comparison


class MonitoringPoint(TypedDict):
    """One time bucket × group. Rates and per-unit figures are null when the bucket has no units."""

    time: str
    group: str
    units: int
    errors: int
    success_rate: float | None
    error_rate: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None
    tokens: int
    tokens_per_unit: float | None
    cost_usd: float
    agent_latency_p50_ms: float | None
    agent_latency_p95_ms: float | None
    agent_latency_p99_ms: float | None
    human_waits: int
    human_wait_p50_ms: float | None
    human_wait_p95_ms: float | None


class ToolCalls(TypedDict):
    """Calls and errors of one tool over the window."""

    tool: str
    calls: int
    errors: int
    error_rate: float


class ToolErrorPoint(TypedDict):
    """Errors of one tool and error type in one bucket."""

    tool: str
    error_type: str
    errors: int
    time: str


class ToolErrors(TypedDict):
    """Tool calls and their errors per tool and per bucket."""

    bucket: str
    tools: list[ToolCalls]
    errors: list[ToolErrorPoint]


class CheckpointPoint(TypedDict):
    """Checkpoints in one bucket × group."""

    checkpoints: int
    escalated: int
    approved: int
    rejected: int
    timed_out: int
    autonomous: int
    time: str
    group: str
    escalation_rate: float


class CheckpointSeries(TypedDict):
    """Checkpoint escalations over time."""

    bucket: str
    by: str
    series: list[CheckpointPoint]


class Monitoring(TypedDict):
    """``GET /api/insights/monitoring``."""

    bucket: str
    by: str
    unit: Literal["run", "llm call"]
    series: list[MonitoringPoint]
    tools: ToolErrors
    checkpoints: CheckpointSeries


class CostPerRunRow(TypedDict):
    """Runs and their cost in one group; exactly one of all/agent/agent_version/day is present."""

    all: NotRequired[str]
    agent: NotRequired[str]
    agent_version: NotRequired[str]
    day: NotRequired[str]
    runs: int
    successful_runs: int
    cost_usd: float
    tokens: int
    cost_per_run: float | None
    cost_per_successful_run: float | None


class CostPerRun(TypedDict):
    """``GET /api/insights/cost_per_run``."""

    by: str
    rows: list[CostPerRunRow]


class TopTrace(TypedDict):
    """One of the costliest traces."""

    trace_id: str
    agent: str
    name: str
    user: str
    started: str
    cost_usd: float
    tokens: int
    spans: int
    errors: int


class TopTraces(TypedDict):
    """``GET /api/insights/top_traces``: costliest first."""

    rows: list[TopTrace]


class ChainHead(TypedDict):
    """The last link of a stream of a project's hash chain."""

    seq: int
    hash: str
    stream: str


class ChainStream(TypedDict):
    """One stream of a project's chain, as verified."""

    stream: str
    batches: int
    head: ChainHead


class AlteredSpan(TypedDict):
    """A stored span whose hash is not the one chained."""

    trace_id: str
    span_id: str
    timestamp_ns: int
    span_name: str
    expected: list[str]
    found: str
    chain_hash: str
    reason: NotRequired[str]


class DeletedSpan(TypedDict):
    """A chained span that is gone, not removed by retention."""

    trace_id: str
    span_id: str
    timestamp_ns: int
    batch: int
    stream: str


class ChainedTwiceSpan(TypedDict):
    """A stored span chained in more than one stream (two collectors stored it)."""

    trace_id: str
    span_id: str
    timestamp_ns: int
    span_name: str
    streams: list[str]


class ChainedTwiceFinding(TypedDict):
    count: int
    spans: list[ChainedTwiceSpan]


class InsertedSpan(TypedDict):
    """A stored span no chain batch holds (written around the collector)."""

    trace_id: str
    span_id: str
    timestamp_ns: int
    span_name: str


class AlteredFinding(TypedDict):
    """"""

    count: int
    spans: list[AlteredSpan]


class DeletedFinding(TypedDict):
    """"""

    count: int
    spans: list[DeletedSpan]


class InsertedFinding(TypedDict):
    """"""

    count: int
    spans: list[InsertedSpan]


class CostAlteredSpan(TypedDict):
    """A span whose cost columns differ from what the chain recorded, or from the cost its
    tokens give at its recorded price table."""

    trace_id: str
    span_id: str
    timestamp_ns: int
    span_name: str
    cost_usd: float
    cost_source: str
    price_version: str
    expected_cost_usd: float | None
    reason: str


class CostAlteredFinding(TypedDict):
    """"""

    count: int
    spans: list[CostAlteredSpan]


class RollupFigures(TypedDict):
    """"""

    cost_usd: float
    input_tokens: int
    output_tokens: int
    spans: int


class RollupAlteredHour(TypedDict):
    """An hour of the hourly rollup that its chained spans do not add up to."""

    hour: str
    rollup: RollupFigures
    spans: RollupFigures


class RollupAlteredFinding(TypedDict):
    """"""

    count: int
    hours: list[RollupAlteredHour]


class VerifyReport(TypedDict):
    """``GET /api/audit/verify``: the chain recomputed and every span in the window compared."""

    project: str
    ok: bool
    start_ns: int | None
    end_ns: int | None
    batches: int
    spans_checked: int
    spans_ok: int
    deleted_by_retention: int
    altered: AlteredFinding
    deleted: DeletedFinding
    inserted_out_of_band: InsertedFinding
    costs_checked: int
    cost_altered: CostAlteredFinding
    rollups_altered: RollupAlteredFinding
    chained_twice: ChainedTwiceFinding
    chain_errors: list[str]
    head: ChainHead
    streams: list[ChainStream]
    summary: str


class AccessEntry(TypedDict):
    """One request in the access log."""

    at: str
    key_id: str
    role: str
    method: str
    endpoint: str
    path: str
    params: dict[str, str | list[str]]
    status: int
    rows: int
    duration_ms: float
    client: str


class AccessLogPage(TypedDict):
    """``GET /api/audit/access``: newest first."""

    entries: list[AccessEntry]
    truncated: bool
    limit: int
    offset: int


class ExportFilters(TypedDict):
    """The filters an export ran with."""

    start: str | None
    end: str | None
    agent: str
    user: str
    trace_ids: list[str]


class ChainLink(TypedDict):
    """One link of the hash chain."""

    stream: str
    seq: int
    batch_id: str
    prev_hash: str
    hash: str
    spans: int


class ExportManifest(TypedDict):
    """``GET /api/audit/export/manifest`` (also the last JSONL line of an export, under ``__manifest__``)."""

    project: str
    format: str
    filters: ExportFilters
    spans: int
    unchained_spans: int
    first_ns: int | None
    last_ns: int | None
    sha256: str
    chain: list[ChainLink]
    head: ChainHead | None
    heads: list[ChainHead]
    hash_rule: str


class ExportCount(TypedDict):
    """``GET /api/audit/export/count``."""

    spans: int


class ChainLinks(TypedDict):
    """``GET /api/audit/chain``."""

    rows: list[ChainLink]
    head: ChainHead | None
    heads: list[ChainHead]


class GovernanceChange(TypedDict):
    """One change to retention, holds, budgets or review settings."""

    at: str
    actor: str
    action: str
    details: dict[str, Any]


class GovernanceLog(TypedDict):
    """``GET /api/audit/governance``: newest first."""

    changes: list[GovernanceChange]


class CheckpointRow(TypedDict):
    """A span with a human checkpoint."""

    time: str
    trace_id: str
    span_id: str
    span_name: str
    agent: str
    tool: str
    tier: int
    decision: str
    approver: str
    wait_ms: float | None
    status: str
    user: str
    flagged: bool
    approval_id: str | None


class CheckpointTier(TypedDict):
    """Checkpoints of one tier."""

    tier: int
    actions: int
    approved: int
    rejected: int
    timed_out: int
    flagged: int
    wait_ms_p50: float | None


class CheckpointAudit(TypedDict):
    """``GET /api/audit/checkpoints``: newest first."""

    checkpoints: list[CheckpointRow]
    truncated: bool
    by_tier: list[CheckpointTier]


class ReviewQueueItem(TypedDict):
    """A sampled run."""

    day: str
    trace_id: str
    span_id: str
    agent: str
    agent_version: str
    prompt_version: str
    start: str
    scores: int


class ReviewQueue(TypedDict):
    """``GET /api/audit/reviews/queue``: newest first."""

    queue: list[ReviewQueueItem]


class ReviewScoreSaved(TypedDict):
    """``POST /api/audit/reviews/scores``: the score as recorded."""

    trace_id: str
    span_id: str
    reviewer: str
    score: float
    label: str
    agent: str
    prompt_version: str


class ReviewScoreRow(TypedDict):
    """A recorded review score."""

    at: str
    trace_id: str
    span_id: str
    agent: str
    prompt_version: str
    reviewer: str
    score: float
    label: str
    comment: str


class ReviewScores(TypedDict):
    """``GET /api/audit/reviews/scores``: newest first."""

    scores: list[ReviewScoreRow]


class ReviewTrendPoint(TypedDict):
    """Mean score of one day and group; the group key is the ``by`` asked for."""

    day: str
    agent: NotRequired[str]
    prompt_version: NotRequired[str]
    mean_score: float
    scores: int


class ReviewTrend(TypedDict):
    """``GET /api/audit/reviews/trend``."""

    by: str
    points: list[ReviewTrendPoint]


class BudgetAlertRow(TypedDict):
    """An alert raised for a budget, with its webhook outcome."""

    scope: str
    subject: str
    day: str
    threshold: int
    tokens: int
    cost_usd: float
    max_tokens: int
    max_cost_usd: float
    webhook: str
    attempts: int
    at: str


class BudgetAlerts(TypedDict):
    """``GET /api/audit/budget-alerts``: latest first."""

    alerts: list[BudgetAlertRow]


class KeyInfo(TypedDict):
    """An API key, never its secret."""

    key_id: str
    project: str
    role: Literal["ingest", "engineer", "auditor", "admin"]
    name: str
    revoked: bool
    created_at: str
    permissions: list[str]


class CreatedKey(KeyInfo):
    """``POST /api/admin/keys``: the new key with its secret (shown this once)."""

    key: str


class KeyList(TypedDict):
    """``GET /api/admin/keys``: oldest first."""

    keys: list[KeyInfo]


class WhoAmI(TypedDict):
    """``GET /api/whoami``: the calling key (never its secret), so a person's UI can say who they
    are signed in as and what they may do."""

    key_id: str
    name: str
    role: Literal["ingest", "engineer", "auditor", "admin"]
    permissions: list[str]
    project: str


class RetentionSet(TypedDict):
    """``PUT /api/admin/retention``."""

    project: str
    days: int


class LegalHold(TypedDict):
    """A legal hold on a project or a set of traces."""

    hold_id: str
    trace_ids: list[str]
    scope: Literal["traces", "project"]
    reason: str
    created_by: str
    created_at_ms: int
    released: bool
    released_by: str


class Retention(TypedDict):
    """``GET /api/admin/retention``."""

    project: str
    days: int
    holds: list[LegalHold]


class RetentionRun(TypedDict):
    """``POST /api/admin/retention/run``: what the pass did."""

    project: str
    days: int
    cutoff_ns: int | None
    deleted_spans: int
    held_traces: list[str]
    suspended_by_legal_hold: bool
    deletion_id: str


class HoldCreated(TypedDict):
    """``POST /api/admin/holds``."""

    hold_id: str
    project: str
    trace_ids: list[str]
    scope: Literal["traces", "project"]


class HoldList(TypedDict):
    """``GET /api/admin/holds``: oldest first."""

    holds: list[LegalHold]


class ReviewRateSet(TypedDict):
    """``PUT /api/admin/reviews/settings``."""

    project: str
    agent: str
    rate: float


class ReviewRates(TypedDict):
    """``GET /api/admin/reviews/settings``."""

    project: str
    rates: dict[str, float]


class ReviewSample(TypedDict):
    """``POST /api/admin/reviews/sample``."""

    project: str
    day: str
    runs: int
    queued: int


class BudgetSet(TypedDict):
    """``PUT /api/admin/budgets``: the budget as stored."""

    project: str
    scope: Literal["project", "agent", "user"]
    subject: str
    max_tokens: int
    max_cost_usd: float
    webhook_url: str


class BudgetDeleted(TypedDict):
    """``DELETE /api/admin/budgets/{scope}``."""

    project: str
    scope: Literal["project", "agent", "user"]
    subject: str
    deleted: bool


class RaisedAlert(TypedDict):
    """A budget alert raised by this check (also the webhook"s payload, plus its outcome)."""

    type: Literal["flightlog.budget.alert"]
    project: str
    scope: str
    subject: str
    day: str
    threshold_pct: int
    used_pct: float
    tokens: int
    cost_usd: float
    max_tokens: int
    max_cost_usd: float
    webhook: str
    attempts: int


class BudgetCheck(TypedDict):
    """``POST /api/admin/budgets/check``."""

    alerts: list[RaisedAlert]


class AdminBudget(TypedDict):
    """A daily budget with its webhook (admin view)."""

    project: str
    scope: str
    subject: str
    max_tokens: int
    max_cost_usd: float
    webhook_url: str


class AdminBudgets(TypedDict):
    """``GET /api/admin/budgets``."""

    budgets: list[AdminBudget]


class BudgetLeft(TypedDict):
    """Today"s use of one budget that applies to the agent and user asked about."""

    scope: str
    subject: str
    tokens_used: int
    cost_usd_used: float
    max_tokens: int
    max_cost_usd: float
    tokens_remaining: int | None
    cost_usd_remaining: float | None
    exhausted: bool


class BudgetRemaining(TypedDict):
    """``GET /api/budget/remaining``."""

    project: str
    day: str
    budgets: list[BudgetLeft]
    exhausted: bool


class Budget(TypedDict):
    """A daily budget (read-only view: no webhook URL)."""

    project: str
    scope: str
    subject: str
    max_tokens: int
    max_cost_usd: float


class Budgets(TypedDict):
    """``GET /api/budgets``."""

    budgets: list[Budget]


class ErrorBody(TypedDict):
    """Every JSON error answer (a protobuf OTLP request gets a ``google.rpc.Status`` instead)."""

    error: str
    status: int


# -- the control loop (docs/control.md) ----------------------------------------------------------


class DecidedBy(TypedDict):
    """The LLM call whose answer led to the action."""

    span_id: NotRequired[str]
    model: NotRequired[str]
    prompt_id: NotRequired[str]
    prompt_version: NotRequired[str]


class PolicyRef(TypedDict):
    """"""

    id: str
    version: int


class Approval(TypedDict):
    """A proposed action waiting for (or given) a named person's decision."""

    id: str
    project: str
    status: str
    tier: int
    action: str
    tool: str
    arguments: Any
    arguments_hash: str
    edited_arguments: Any
    edited_arguments_hash: str | None
    confidence: float | None
    agent: str
    agent_version: str
    prompt_id: str
    prompt_version: str
    trace_id: str
    span_id: str
    decided_by: DecidedBy | None
    policy: PolicyRef | None
    on_timeout: str
    requested_at: str | None
    expires_at: str | None
    decided_at: str | None
    approver: str | None
    approver_key_id: str | None
    reason: str | None
    consumed_at: str | None
    escalated_at: str | None
    idempotency_key: str


class ApprovalPage(TypedDict):
    """"""

    items: list[Approval]
    total: int
    limit: int
    offset: int


class Pause(TypedDict):
    """An active pause: the agent (and version, and tool) it covers; agent '' = the whole project."""

    agent: str
    agent_version: str
    tool: str
    reason: str
    by: str
    at: str
    scope: str


class PauseChange(TypedDict):
    """"""

    agent: str
    agent_version: str
    tool: str
    reason: str
    paused: bool
    scope: str
    by: str


class PolicyDoc(TypedDict):
    """A stored version of an agent's policy."""

    id: str
    agent: str
    agent_version: str
    version: int
    sha256: str
    changed_by: str
    changed_at: str
    policy: dict[str, Any]


class PolicyList(TypedDict):
    """"""

    policies: list[PolicyDoc]


class ControlState(TypedDict):
    """What every agent process caches: active pauses and the policies in force."""

    version: str
    pauses: list[Pause]
    policies: list[PolicyDoc]


class NotificationTarget(TypedDict):
    """"""

    id: str
    url: str
    format: str
    events: list[str]


class Escalation(TypedDict):
    """"""

    after_min: float
    targets: list[NotificationTarget]


class NotificationSettings(TypedDict):
    """"""

    targets: list[NotificationTarget]
    escalation: Escalation
    ui_url: str


class Delivery(TypedDict):
    """One event sent (or being retried) to one target."""

    event_id: str
    event: str
    target_id: str
    url: str
    status: str
    attempts: int
    last_status: int
    last_error: str
    created_at: str
    delivered_at: str | None


class DeliveryList(TypedDict):
    """"""

    deliveries: list[Delivery]


# -- alerts ----------------------------------------------------------------------------------
class AlertSilence(TypedDict):
    """"""

    until: str
    reason: str
    by: str


class AlertEvaluation(TypedDict):
    """The rule's last evaluation (by any collector on the store)."""

    at: str
    value: float | None
    reference: float | None
    samples: int
    breached: bool | None


class AlertRule(TypedDict):
    """An alert rule, its definition and its current state."""

    id: str
    name: str
    description: str
    metric: Literal["error_rate", "success_rate", "latency_p95_ms", "cost_per_hour", "cost_per_day",
                    "tokens_per_run", "checkpoint_escalation_rate", "tool_error_rate", "mean_score",
                    "tool_argument_max"]
    scope: dict[str, str]
    tool: str | None
    argument: str | None
    evaluator: str | None
    score_source: Literal["online", "ingest", "experiment"] | None
    window: str
    op: Literal["above", "below"]
    threshold: float
    compare: Literal["value", "previous_window", "baseline"]
    baseline: dict[str, str] | None
    baseline_window: str | None
    min_samples: int
    state: Literal["ok", "firing"]
    since: str | None
    transitions: int
    silenced: bool
    silence: AlertSilence | None
    last_evaluation: AlertEvaluation | None
    link: str
    changed_by: str
    changed_at: str


class AlertRuleList(TypedDict):
    """"""

    rules: list[AlertRule]


class AlertEvent(TypedDict):
    """A transition (firing, resolved) or a silence change of a rule."""

    rule_id: str
    event_id: str
    seq: int
    kind: Literal["firing", "resolved", "silenced", "unsilenced"]
    at: str
    name: str
    metric: str
    scope: dict[str, str]
    value: float | None
    reference: float | None
    threshold: float
    samples: int
    window_start: str
    window_end: str
    silenced: bool
    notified: bool
    actor: str
    reason: str
    link: str


class AlertHistory(TypedDict):
    """"""

    events: list[AlertEvent]


class AlertReplay(TypedDict):
    """``POST /api/alerts/rules/{id}/replay``: the transitions the rule would have made, recorded."""

    rule_id: str
    evaluations: int
    events: list[AlertEvent]


# -- datasets and experiments ---------------------------------------------------------------------


class Dataset(TypedDict):
    """A named set of immutable items; its version is its item count (version N = the first N items)."""

    name: str
    id: str
    description: str
    created_by: str
    created_at: str
    version: int
    items: int
    last_added_at: str | None


class DatasetList(TypedDict):
    """"""

    datasets: list[Dataset]


class DatasetItem(TypedDict):
    """One item: never changed once added."""

    id: str
    seq: int
    input: Any
    expected: Any
    has_expected: bool
    metadata: dict[str, Any]
    source_trace_id: str
    source_span_id: str
    created_by: str
    created_at: str


class DatasetItemPage(TypedDict):
    """"""

    dataset: str
    version: int
    items: list[DatasetItem]
    total: int
    limit: int
    offset: int


class ItemsAdded(TypedDict):
    """"""

    dataset: str
    version: int
    added: int
    item_ids: list[str]


class EvaluatorSummary(TypedDict):
    """One evaluator over an experiment's items."""

    evaluator: str
    mean: float | None
    scored: int
    items: int
    passed: int
    failed: int


class Experiment(TypedDict):
    """A task run over a dataset version."""

    id: str
    name: str
    dataset: str
    dataset_version: int
    task: str
    status: str
    agent_name: str
    agent_version: str
    prompt_version: str
    model: str
    metadata: dict[str, Any]
    created_by: str
    created_at: str
    finished_at: str | None
    results: int
    errors: int
    scores: list[EvaluatorSummary]


class ExperimentList(TypedDict):
    """"""

    experiments: list[Experiment]


class ScoreResult(TypedDict):
    """One evaluator's result (OTel GenAI gen_ai.evaluation.result)."""

    name: str
    score: float | None
    label: str
    explanation: str


class ExperimentResult(TypedDict):
    """What the task answered for one item, and how each evaluator scored it."""

    item_id: str
    seq: int
    output: Any
    error: str
    trace_id: str
    span_id: str
    latency_ms: float
    cost_usd: float
    tokens: int
    agent_name: str
    agent_version: str
    prompt_version: str
    model: str
    input: Any
    expected: Any
    scores: list[ScoreResult]


class ExperimentResults(TypedDict):
    """"""

    experiment_id: str
    results: list[ExperimentResult]


class ResultsAdded(TypedDict):
    """"""

    experiment_id: str
    added: int


class ComparedEvaluator(TypedDict):
    """"""

    evaluator: str
    means: list[float | None]
    deltas: list[float | None]


class ComparedItem(TypedDict):
    """"""

    item_id: str
    seq: int
    input: Any
    expected: Any
    results: list[ExperimentResult | None]
    delta: float | None
    regressed: bool
    outputs_differ: bool


class ExperimentComparison(TypedDict):
    """"""

    baseline: str
    experiments: list[Experiment]
    evaluators: list[ComparedEvaluator]
    items: list[ComparedItem]
    regressions: int

class EvaluationRule(TypedDict):
    """An evaluator scoring a share of an agent's arriving runs."""

    id: str
    agent: str
    evaluator: str
    name: str
    kind: str
    sample_rate: float
    deleted: bool
    changed_by: str
    changed_at: str


class EvaluationRuleList(TypedDict):
    """"""

    rules: list[EvaluationRule]


class PendingJudgement(TypedDict):
    """A sampled run waiting for its judge rule's score."""

    rule_id: str
    evaluator: str
    name: str
    trace_id: str
    span_id: str
    agent_name: str
    agent_version: str
    prompt_version: str
    model: str
    input: Any
    output: Any


class PendingJudgements(TypedDict):
    """"""

    items: list[PendingJudgement]


class ScoresAdded(TypedDict):
    """"""

    added: int


class ExperimentGroupRow(TypedDict):
    """"""

    group: str
    evaluator: str
    mean: float | None
    scored: int
    items: int
    passed: int
    failed: int
    experiments: int


class ExperimentGroups(TypedDict):
    """Every finished experiment's scores (of one dataset), per evaluator, split by a run fact."""

    dataset: str
    by: str
    rows: list[ExperimentGroupRow]


class ScoreSummaryRow(TypedDict):
    """"""

    agent: str
    group: str
    evaluator: str
    mean: float | None
    scores: int
    failed: int
    source: str


class ScoreSummary(TypedDict):
    """"""

    by: str
    rows: list[ScoreSummaryRow]
