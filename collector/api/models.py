"""Response models of every JSON route: what ``/openapi.json`` documents and the contract
tests hold the answers to.

The storage reads (:mod:`flightlog.storage`) build the answers as plain dicts; these models
describe them field by field, with the public names exactly as the routes send them. Every
model is closed (``extra="forbid"``): a key the storage code adds without a field here, or
a type that differs, fails ``tests/test_api_contract.py`` (answers validated strictly) and
the schemathesis run (``additionalProperties: false`` in the schema).

At run time the routes do not re-validate their answers (:func:`flightlog.collector.contract.respond`
sends the already-built dict): the models are declared with ``response_model=`` for the
documentation, checked by the tests, and by every collector started with
``FLIGHTLOG_STRICT_RESPONSES=1`` (:class:`~flightlog.collector.contract.ContractRoute`). The
UI mirrors them as TypedDicts in :mod:`flightlog.ui.types`, checked field by field by
``tests/test_ui_types.py``.

Fields marked "present only when …" are left out of the answer otherwise (not ``null``):
in the schema they are not required and have no default.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from flightlog.collector.contract import ApiModel, ErrorBody, sometimes  # noqa: F401 (ErrorBody re-exported)


# -- health ------------------------------------------------------------------------------------------------
class Health(ApiModel):
    """``GET /healthz``: the process answers."""

    status: Literal["ok"] = Field(description='Always "ok".')


class SpoolStats(ApiModel):
    """The durable ingest spool: what is acknowledged but not yet in the store."""

    segments: int = Field(description="Spool segment files (sealed and open).")
    bytes: int = Field(description="Bytes on disk.")
    rows: int = Field(description="Span rows waiting for the store.")
    lag_seconds: float = Field(description="Age of the oldest waiting segment in seconds (0 when empty).")


class Readiness(ApiModel):
    """``GET /readyz`` (200 ready, 503 not ready: the same body)."""

    status: Literal["ready", "not ready"] = Field(description='"ready" when there are no problems.')
    problems: list[str] = Field(description="Why the collector is not ready (writer stopped, store unreachable, "
                                            "spool full).")
    spool: SpoolStats


# -- spans and traces (query.py) ---------------------------------------------------------------------------
class SpanEvent(ApiModel):
    """An OTel span event, as stored with the span."""

    timestamp: str = Field(description="ISO 8601 UTC.")
    name: str
    attributes: dict[str, str] = Field(description="Event attributes (values as text).")


class LogEvent(ApiModel):
    """An OTLP log record of the span (GenAI content events), attached when the trace is read."""

    timestamp_ns: int = Field(description="Record time in unix nanoseconds.")
    name: str = Field(description="The record's event name, e.g. gen_ai.client.inference.operation.details.")
    attributes: dict[str, str] = Field(description="Record attributes (structured values JSON-encoded).")
    body: str = Field(description="The record body as text (structured bodies JSON-encoded; empty if none).")
    source: Literal["log"] = Field(description='Always "log": tells log records from span events.')


class SpanLink(ApiModel):
    """An OTel span link (e.g. to the upstream agent's span in another trace)."""

    trace_id: str = Field(description="32 hex characters.")
    span_id: str = Field(description="16 hex characters.")
    trace_state: str
    attributes: dict[str, str]


class SpanColumns(ApiModel):
    """The span columns both a trace and a search page carry (``snake_case`` column names)."""

    project: str = Field(description="The project the span was ingested into.")
    timestamp: str = Field(description="Start time, ISO 8601 UTC (microseconds; the exact value is start_ns).")
    trace_id: str = Field(description="32 lower-case hex characters.")
    span_id: str = Field(description="16 lower-case hex characters.")
    parent_span_id: str = Field(description="16 hex characters; empty for a root span.")
    trace_state: str = Field(description="W3C trace state.")
    span_name: str
    span_kind: str = Field(description="OTel span kind: Internal, Server, Client, Producer, Consumer or Unspecified.")
    service_name: str = Field(description="The resource's service.name.")
    scope_name: str = Field(description="Instrumentation scope name.")
    scope_version: str = Field(description="Instrumentation scope version.")
    duration: int = Field(description="Duration in nanoseconds.")
    status_code: str = Field(description="OTel status: Unset, Ok or Error.")
    status_message: str
    span_type: str = Field(description="agent, workflow, chain, llm, embedding, tool, retrieval, guardrail, memory, "
                                       "checkpoint or other.")
    operation: str = Field(description="gen_ai.operation.name (chat, execute_tool, invoke_agent, …).")
    agent_name: str
    agent_version: str
    provider: str = Field(description="LLM provider (gen_ai.provider.name / gen_ai.system).")
    request_model: str
    response_model: str
    prompt_id: str
    prompt_version: str
    prompt_hash: str
    input_tokens: int
    output_tokens: int
    cost_usd: float = Field(description="Cost in USD (0 when unpriced).")
    cost_source: str = Field(description="client (sent by the span), computed (price table), unknown (no price) "
                                         "or none.")
    price_version: str = Field(description="Version of the price table that priced the span.")
    tool_name: str
    tool_call_id: str
    user_id: str
    session_id: str
    checkpoint_tier: int = Field(description="Human checkpoint tier 1–3; 0 = no checkpoint.")
    checkpoint_decision: str = Field(description="approved, rejected, timed_out, autonomous, notified, … "
                                                 "(empty if none).")
    approver: str
    violation: str = Field(description="Limit the span violated, if any.")
    error_type: str
    finish_reason: str
    ingest_time: str = Field(description="When the collector stored the span, ISO 8601 UTC.")
    chain_hash: str = Field(description="The span's hash-chain entry, '<version>:<seq>:<sha256>' (docs/audit.md).")
    trace_name: str = Field(description="Name of the trace's root span, copied onto every span.")
    cached_input_tokens: int = Field(description="Part of input_tokens read from the provider's prompt cache.")
    reasoning_tokens: int = Field(description="Part of output_tokens spent on reasoning.")
    streamed: bool = Field(description="The call streamed its answer (a stream flag of any convention, a "
                                       "first-chunk event or a time to first chunk).")
    time_to_first_chunk_ms: float = Field(description="Milliseconds from the request to the first streamed chunk "
                                                      "(0 when not sent).")
    start_ns: int = Field(description="Start time in unix nanoseconds.")
    duration_ms: float = Field(description="Duration in milliseconds.")


class SpanListItem(SpanColumns):
    """A span in a search page: no attribute maps, events or links, texts cut short."""

    input_text: str = Field(description="First 400 characters of the input.")
    output_text: str = Field(description="First 400 characters of the output.")
    tool_args: str = Field(description="First 400 characters of the tool arguments.")
    tool_result: str = Field(description="First 400 characters of the tool result.")


class TraceSpan(SpanColumns):
    """A span of ``GET /api/traces/{trace_id}``: every column, full texts, tree depth."""

    resource_attributes: dict[str, str]
    span_attributes: dict[str, str]
    input_text: str = Field(description="The whole input (filled from log records when the span had none).")
    output_text: str = Field(description="The whole output (filled from log records when the span had none).")
    tool_args: str
    tool_result: str
    events: list[SpanEvent | LogEvent] = Field(description="Span events, then the span's log records (source \"log\").")
    links: list[SpanLink]
    depth: int = Field(description="Depth in the trace tree (0 = root or orphan).")


class Trace(ApiModel):
    """``GET /api/traces/{trace_id}``: every span in tree order, with totals."""

    trace_id: str
    project: str
    spans: list[TraceSpan] = Field(description="Parents before children, siblings by start time.")
    span_count: int
    start_ns: int = Field(description="Earliest span start, unix nanoseconds.")
    duration_ms: float = Field(description="From the earliest start to the latest end of the run's own spans: control "
                                           "events (span type control), recorded when a decision is made, may come "
                                           "later and do not stretch it.")
    total_cost_usd: float
    input_tokens: int
    output_tokens: int
    error_count: int = Field(description="Spans with status Error.")
    truncated: bool = Field(description="True when the trace has more spans than one answer holds (10,000).")


class SpanPage(ApiModel):
    """``GET /api/spans``: one page of matching spans."""

    items: list[SpanListItem]
    total: int = Field(description="How many spans match in all.")
    limit: int
    offset: int


class TraceSummary(ApiModel):
    """One trace of ``GET /api/traces`` (and a run of a session): its root and its totals."""

    trace_id: str
    name: str = Field(description="The root span's name (the first span's when the root has not arrived).")
    agent: str
    agent_version: str
    user: str
    session: str
    started: str = Field(description="First span start, ISO 8601 UTC.")
    start_ns: int
    duration_ms: float = Field(description="Wall clock: first span start to last span end, control events left out "
                                           "(as for one trace).")
    spans: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    errors: int = Field(description="Spans with status Error.")
    status: Literal["ok", "error", "unset"] = Field(
        description="The root span's status; error also when a span failed and the root set none.")
    input: str = Field(description="The first input text of the run, cut to 300 characters.")
    output: str = Field(description="The root span's output text, cut to 300 characters.")
    prompts: list[str] = Field(description="Prompts used by the run's LLM calls, as id@version.")
    models: list[str]


class TracePage(ApiModel):
    """``GET /api/traces``: one page of traces with a span that matches the filters."""

    items: list[TraceSummary]
    total: int = Field(description="How many traces match in all.")
    limit: int
    offset: int


class SessionSummary(ApiModel):
    """One session (conversation) of ``GET /api/sessions``."""

    session_id: str
    user: str
    agents: list[str]
    traces: int = Field(description="Runs (traces) in the session.")
    started: str = Field(description="First span start, ISO 8601 UTC.")
    last_activity: str = Field(description="Last span end, ISO 8601 UTC.")
    duration_ms: float
    cost_usd: float
    tokens: int
    errors: int
    first_input: str = Field(description="The first run's input, cut to 300 characters.")


class SessionPage(ApiModel):
    """``GET /api/sessions``: sessions, most recently active first."""

    items: list[SessionSummary]
    total: int
    limit: int
    offset: int


class SessionTurn(ApiModel):
    """One message of a session's transcript: a run's input (user) or its answer (assistant)."""

    trace_id: str
    role: Literal["user", "assistant"]
    text: str
    at: str = Field(description="The run's start, ISO 8601 UTC.")
    status: Literal["ok", "error", "unset"]


class Session(ApiModel):
    """``GET /api/sessions/{session_id}``: the runs in start order and one transcript across them."""

    session_id: str
    user: str
    runs: list[TraceSummary]
    turns: list[SessionTurn]
    truncated: bool = Field(description="More runs than the 500 listed.")
    cost_usd: float
    errors: int


class CostRow(ApiModel):
    """One group of ``GET /api/cost``: the grouping keys asked for, then the sums."""

    model: str = sometimes("Present only when grouped by model (response model, else request model).")
    agent: str = sometimes("Present only when grouped by agent.")
    day: str = sometimes("Present only when grouped by day: YYYY-MM-DD (UTC).")
    project: str = sometimes("Present only when grouped by project.")
    user: str = sometimes("Present only when grouped by user.")
    prompt_version: str = sometimes("Present only when grouped by prompt_version.")
    agent_version: str = sometimes("Present only when grouped by agent_version.")
    prompt_id: str = sometimes("Present only when grouped by prompt_id.")
    span_type: str = sometimes("Present only when grouped by span_type.")
    cost_usd: float
    input_tokens: int
    output_tokens: int
    calls: int = Field(description="LLM and embedding calls.")
    spans: int


class CostAnswer(ApiModel):
    """``GET /api/cost``."""

    group_by: list[str] = Field(description="The grouping, as asked.")
    rows: list[CostRow] = Field(description="Ordered by the grouping keys (at most 10,000).")


class Facets(ApiModel):
    """``GET /api/facets``: distinct non-empty values for the search filters, sorted (≤200 each)."""

    agents: list[str]
    models: list[str]
    prompt_ids: list[str]
    prompt_versions: list[str]
    span_types: list[str]
    users: list[str]
    agent_versions: list[str]
    tools: list[str]


# -- metrics (query.py) ----------------------------------------------------------------------------------
class MetricInfo(ApiModel):
    """One metric the project sent (OTLP /v1/metrics or gRPC MetricsService)."""

    name: str = Field(description="e.g. gen_ai.client.token.usage, gen_ai.client.operation.duration.")
    type: str = Field(description="Sum, Gauge, Histogram, ExponentialHistogram or Summary.")
    unit: str
    description: str
    points: int = Field(description="Data points stored in the window.")
    series: int = Field(description="Distinct series (metric, resource, scope and attributes).")
    first: str = Field(description="Earliest point, ISO 8601 UTC.")
    last: str = Field(description="Latest point, ISO 8601 UTC.")


class MetricCatalogue(ApiModel):
    """``GET /api/metrics``: the metrics of the project, by name."""

    metrics: list[MetricInfo]


class MetricGroup(ApiModel):
    """One group of a metric's series: what the window adds up to."""

    group: str = Field(description="The value of the group_by attribute (empty when the points lack it).")
    type: str
    unit: str
    series: int
    points: int
    value: float = Field(description="Sum and gauge: the total (a cumulative series' latest value, a delta "
                                     "series' sum; a gauge's latest). Histograms: the sum.")
    count: int = Field(description="Histograms: how many measurements (e.g. calls).")
    sum: float = Field(description="Histograms: their sum (e.g. tokens, seconds).")
    min: float | None = Field(description="Histograms: the smallest measurement; null without measurements.")
    max: float | None = Field(description="Histograms: the largest measurement; null without measurements.")
    average: float | None = Field(description="Histograms: sum / count; null without measurements.")


class MetricPoint(ApiModel):
    """One stored data point."""

    time_ns: int = Field(description="Point time, unix nanoseconds.")
    group: str
    token_type: str = Field(description="gen_ai.token.type (input, output) of token usage points.")
    value: float
    count: int
    sum: float
    attributes: dict[str, str]


class MetricSeries(ApiModel):
    """``GET /api/metrics/series``: one metric's totals per group and its points."""

    name: str
    group_by: str
    groups: list[MetricGroup]
    points: list[MetricPoint] = Field(description="Oldest first, at most 10,000.")
    truncated: bool = Field(description="True when the window holds more points than one answer.")


# -- trace-back (insights.py) ------------------------------------------------------------------------------
class TracebackStep(ApiModel):
    """One span of a trace-back with what it contributed (texts cut to 4,000 characters)."""

    role: str = Field(description="target, ancestor, user input, llm call, tool result, retrieved documents, "
                                  "checkpoint, agent, upstream agent or span.")
    trace_id: str
    span_id: str
    parent_span_id: str
    span_name: str
    span_type: str
    timestamp: str = Field(description="Start, ISO 8601 UTC.")
    start_ns: int
    duration_ms: float
    status: str = Field(description="error, ok or unset.")
    status_message: str
    error_type: str
    agent_name: str
    agent_version: str
    model: str = Field(description="Response model, else request model.")
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


class TracebackLink(ApiModel):
    """A span link of the chain or the inputs: where an upstream agent's span is."""

    from_span_id: str = Field(description="The span of this trace that carries the link.")
    trace_id: str
    span_id: str
    attributes: dict[str, str]


class RunProfile(ApiModel):
    """What configured one run of a step, compared between runs."""

    agent_version: str
    models: list[str] = Field(description="Models of the LLM calls before the step (and the step's own).")
    prompts: list[str] = Field(description='"prompt_id@prompt_version" of those calls.')
    status: str = Field(description="error, ok or unset.")
    input: str = Field(description="The step's tool arguments, else its input text.")


class ProfileDiff(ApiModel):
    """Which profile fields differ from the incident's."""

    fields: list[str] = Field(description="Among agent_version, models, prompts, status, input.")
    input_keys: list[str] = Field(description="JSON keys whose values differ, when both inputs are JSON objects.")


class ComparedRun(ApiModel):
    """Another run of the same step."""

    trace_id: str
    span_id: str
    timestamp: str
    profile: RunProfile
    differs: ProfileDiff


class CompareStep(ApiModel):
    """The step other runs were matched on."""

    agent_name: str
    span_name: str
    tool_name: str


class NoStep(ApiModel):
    """An empty object: no comparison was asked for (``compare=0``)."""


class Comparison(ApiModel):
    """Other runs of the step (within 30 days of it), newest first."""

    step: CompareStep | NoStep = Field(description="Empty when compare=0.")
    healthy_only: bool
    runs: list[ComparedRun]


class Traceback(ApiModel):
    """``GET /api/traces/{trace_id}/traceback``."""

    trace_id: str
    span_id: str
    target: TracebackStep = Field(description="The span traced back from.")
    chain: list[TracebackStep] = Field(description="Root, each ancestor, the span itself.")
    inputs: list[TracebackStep] = Field(description="Every other span that had finished when the span started, "
                                                    "oldest first.")
    links: list[TracebackLink] = Field(description="Span links of the chain and the inputs (at most 50).")
    profile: RunProfile
    project: str
    upstream: list[TracebackStep] = Field(description="The spans the links point at (role \"upstream agent\").")
    comparison: Comparison


# -- monitoring and cost insights (insights.py) -----------------------------------------------------------
class MonitoringPoint(ApiModel):
    """One time bucket × group. Rates and per-unit figures are null when the bucket has no units."""

    time: str = Field(description="Bucket start, ISO 8601 UTC.")
    group: str = Field(description='The breakdown value ("" without one; "prompt_id@version" by prompt_version).')
    units: int = Field(description="Agent runs, or LLM calls for the prompt/model breakdowns.")
    errors: int
    success_rate: float | None
    error_rate: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None
    tokens: int = Field(description="Input + output tokens of every span of the group.")
    tokens_per_unit: float | None
    cost_usd: float
    agent_latency_p50_ms: float | None = Field(description="Runs only: run latency without the time spent waiting "
                                                           "for a person at checkpoints of tier ≥ 2.")
    agent_latency_p95_ms: float | None
    agent_latency_p99_ms: float | None
    human_waits: int = Field(description="Runs that waited for a person (a checkpoint of tier ≥ 2); 0 for LLM calls.")
    human_wait_p50_ms: float | None = Field(description="How long those runs waited, in total per run.")
    human_wait_p95_ms: float | None


class ToolCalls(ApiModel):
    """Calls and errors of one tool over the window."""

    tool: str
    calls: int
    errors: int
    error_rate: float = Field(description="errors / calls (each listed tool has a call).")


class ToolErrorPoint(ApiModel):
    """Errors of one tool and error type in one bucket."""

    tool: str
    error_type: str = Field(description='The span\'s error type, "error" when it named none.')
    errors: int
    time: str = Field(description="Bucket start, ISO 8601 UTC.")


class ToolErrors(ApiModel):
    """Tool calls and their errors per tool and per bucket."""

    bucket: str
    tools: list[ToolCalls] = Field(description="Most errors first.")
    errors: list[ToolErrorPoint]


class CheckpointPoint(ApiModel):
    """Checkpoints in one bucket × group."""

    checkpoints: int
    escalated: int = Field(description="Tier ≥ 2 (a person was asked).")
    approved: int
    rejected: int
    timed_out: int
    autonomous: int
    time: str = Field(description="Bucket start, ISO 8601 UTC.")
    group: str
    escalation_rate: float = Field(description="escalated / checkpoints.")


class CheckpointSeries(ApiModel):
    """Checkpoint escalations over time."""

    bucket: str
    by: str = Field(description='agent or agent_version, else "" (checkpoints carry no prompt or model).')
    series: list[CheckpointPoint]


class Monitoring(ApiModel):
    """``GET /api/insights/monitoring``."""

    bucket: str = Field(description="hour or day.")
    by: str
    unit: Literal["run", "llm call"] = Field(description="What units counts.")
    series: list[MonitoringPoint]
    tools: ToolErrors
    checkpoints: CheckpointSeries


class CostPerRunRow(ApiModel):
    """Runs and their cost in one group; exactly one of all/agent/agent_version/day is present."""

    all: str = sometimes('Present (always "") when by is empty.')
    agent: str = sometimes("Present when by=agent.")
    agent_version: str = sometimes("Present when by=agent_version.")
    day: str = sometimes("Present when by=day: the day's start, ISO 8601 UTC.")
    runs: int = Field(description="Root agent spans.")
    successful_runs: int
    cost_usd: float = Field(description="All spend of the group, failed runs included.")
    tokens: int
    cost_per_run: float | None = Field(description="Null without runs.")
    cost_per_successful_run: float | None = Field(description="All spend / successful runs; null without any.")


class CostPerRun(ApiModel):
    """``GET /api/insights/cost_per_run``."""

    by: str
    rows: list[CostPerRunRow]


class TopTrace(ApiModel):
    """One of the costliest traces."""

    trace_id: str
    agent: str = Field(description="The root agent's name (else any span's).")
    name: str = Field(description="The root span's name.")
    user: str
    started: str = Field(description="First span start, ISO 8601 UTC.")
    cost_usd: float
    tokens: int
    spans: int
    errors: int


class TopTraces(ApiModel):
    """``GET /api/insights/top_traces``: costliest first."""

    rows: list[TopTrace]


# -- audit (audit.py) ------------------------------------------------------------------------------------
class ChainHead(ApiModel):
    """The last link of a stream of a project's hash chain (where one head is asked for: the most
    recently extended stream's)."""

    seq: int
    hash: str = Field(description="sha256 hex of the link (64 zeros before the first batch).")
    stream: str = Field(description="The stream: the instance id of the collector that extends it "
                                    "(empty: the links written before streams).")


class ChainStream(ApiModel):
    """One stream of a project's chain, as verified."""

    stream: str = Field(description="The instance id of the collector that extends it (empty: the links "
                                    "written before streams).")
    batches: int
    head: ChainHead = Field(description="Its last link.")


class AlteredSpan(ApiModel):
    """A stored span whose hash is not the one chained."""

    trace_id: str
    span_id: str
    timestamp_ns: int
    span_name: str
    expected: list[str] = Field(description="The chained span hashes.")
    found: str = Field(description="The hash of the stored row.")
    chain_hash: str = Field(description="The row's ChainHash column.")
    reason: str = sometimes("Present when the span's chain entry was rewritten to match it: the hash the "
                            "row was stored with (its ChainHash column) says otherwise.")


class DeletedSpan(ApiModel):
    """A chained span that is gone, not removed by retention."""

    trace_id: str
    span_id: str
    timestamp_ns: int
    batch: int = Field(description="Seq of the chain batch that holds it.")
    stream: str = Field(description="The chain stream of that batch.")


class ChainedTwiceSpan(ApiModel):
    """A stored span chained in more than one stream (two collectors stored it)."""

    trace_id: str
    span_id: str
    timestamp_ns: int
    span_name: str
    streams: list[str]


class ChainedTwiceFinding(ApiModel):
    count: int = Field(description="Complete count.")
    spans: list[ChainedTwiceSpan] = Field(description="The first 1,000.")


class InsertedSpan(ApiModel):
    """A stored span no chain batch holds (written around the collector)."""

    trace_id: str
    span_id: str
    timestamp_ns: int
    span_name: str


class AlteredFinding(ApiModel):
    count: int = Field(description="Complete count.")
    spans: list[AlteredSpan] = Field(description="The first 1,000.")


class DeletedFinding(ApiModel):
    count: int = Field(description="Complete count.")
    spans: list[DeletedSpan] = Field(description="The first 1,000.")


class InsertedFinding(ApiModel):
    count: int = Field(description="Complete count.")
    spans: list[InsertedSpan] = Field(description="The first 1,000.")


class CostAlteredSpan(ApiModel):
    """A span whose cost columns differ from what the chain recorded, or from the cost its
    tokens give at its recorded price table."""

    trace_id: str
    span_id: str
    timestamp_ns: int
    span_name: str
    cost_usd: float = Field(description="The cost stored now.")
    cost_source: str
    price_version: str
    expected_cost_usd: float | None = Field(description="The cost re-derived from the price table (null: no recorded table).")
    reason: str


class CostAlteredFinding(ApiModel):
    count: int = Field(description="Complete count.")
    spans: list[CostAlteredSpan] = Field(description="The first 1,000.")


class RollupFigures(ApiModel):
    cost_usd: float
    input_tokens: int
    output_tokens: int
    spans: int


class RollupAlteredHour(ApiModel):
    """An hour of the hourly rollup that its chained spans do not add up to."""

    hour: str = Field(description="ISO 8601 UTC, the start of the hour.")
    rollup: RollupFigures = Field(description="What the rollup holds.")
    spans: RollupFigures = Field(description="What the chained spans give (each cost as re-derived).")


class RollupAlteredFinding(ApiModel):
    count: int = Field(description="Complete count.")
    hours: list[RollupAlteredHour] = Field(description="The first 1,000.")


class VerifyReport(ApiModel):
    """``GET /api/audit/verify``: the chain recomputed and every span in the window compared."""

    project: str
    ok: bool = Field(description="True only when every check passed.")
    start_ns: int | None = Field(description="The window asked for (null = open).")
    end_ns: int | None
    batches: int
    spans_checked: int
    spans_ok: int
    deleted_by_retention: int
    altered: AlteredFinding
    deleted: DeletedFinding
    inserted_out_of_band: InsertedFinding
    costs_checked: int = Field(description="Spans whose cost the chain covers (chained since cost was).")
    cost_altered: CostAlteredFinding
    rollups_altered: RollupAlteredFinding
    chained_twice: ChainedTwiceFinding = Field(description="Stored spans that more than one stream chains: "
                                                           "the streams' union must cover each span once.")
    chain_errors: list[str]
    head: ChainHead = Field(description="The most recently extended stream's head.")
    streams: list[ChainStream] = Field(description="Every stream of the project's chain (one per collector instance).")
    summary: str = Field(description="One line for people: OK … or FAILED ….")


class AccessEntry(ApiModel):
    """One request in the access log."""

    at: str = Field(description="ISO 8601 UTC.")
    key_id: str
    role: str
    method: str
    endpoint: str = Field(description="The route template, e.g. /api/traces/{trace_id}.")
    path: str
    params: dict[str, str | list[str]] = Field(description="Query parameters (repeated ones as lists) and "
                                                           "path.<name> path parameters.")
    status: int
    rows: int = Field(description="Rows the answer carried.")
    duration_ms: float
    client: str


class AccessLogPage(ApiModel):
    """``GET /api/audit/access``: newest first."""

    entries: list[AccessEntry]
    truncated: bool = Field(description="More entries match than this page holds.")
    limit: int
    offset: int


class ExportFilters(ApiModel):
    """The filters an export ran with."""

    start: str | None
    end: str | None
    agent: str
    user: str
    trace_ids: list[str]


class ChainLink(ApiModel):
    """One link of the hash chain."""

    stream: str = Field(description="The stream it belongs to (a collector instance id; empty: before streams).")
    seq: int
    batch_id: str
    prev_hash: str
    hash: str = Field(description="sha256(prev_hash + batch_id).")
    spans: int


class ExportManifest(ApiModel):
    """``GET /api/audit/export/manifest`` (also the last JSONL line of an export, under ``__manifest__``)."""

    project: str
    format: str = Field(description="jsonl, csv or parquet.")
    filters: ExportFilters
    spans: int
    unchained_spans: int
    first_ns: int | None = Field(description="Null for an empty export.")
    last_ns: int | None
    sha256: str = Field(description="Empty here; the CLI fills in the file's digest.")
    chain: list[ChainLink] = Field(description="The links of every batch the exported spans belong to.")
    head: ChainHead | None = Field(description="The most recently extended stream's head; null before the first batch.")
    heads: list[ChainHead] = Field(description="Every stream's head.")
    hash_rule: str


class ExportCount(ApiModel):
    """``GET /api/audit/export/count``."""

    spans: int


class ChainLinks(ApiModel):
    """``GET /api/audit/chain``."""

    rows: list[ChainLink]
    head: ChainHead | None = Field(description="The most recently extended stream's head; null before the first batch.")
    heads: list[ChainHead] = Field(description="Every stream's head (of the one asked for, with stream=).")


class GovernanceChange(ApiModel):
    """One change to retention, holds, budgets or review settings."""

    at: str
    actor: str = Field(description="Key id of the admin (or retention).")
    action: str = Field(description="retention.set, retention.delete, hold.create, hold.release, budget.set, "
                                    "budget.delete or reviews.rate.")
    details: dict[str, Any] = Field(description="What changed; the keys depend on the action.")


class GovernanceLog(ApiModel):
    """``GET /api/audit/governance``: newest first."""

    changes: list[GovernanceChange]


class CheckpointRow(ApiModel):
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
    wait_ms: float | None = Field(description="How long the person took; null when not recorded.")
    status: str
    user: str
    flagged: bool = Field(description="A tier-3 action that ran without a named approval.")
    approval_id: str | None = Field(description="The inbox approval that decided it (GET /api/approvals/{id}).")


class CheckpointTier(ApiModel):
    """Checkpoints of one tier."""

    tier: int
    actions: int
    approved: int
    rejected: int
    timed_out: int
    flagged: int
    wait_ms_p50: float | None = Field(description="Median wait; null when no checkpoint of the tier recorded one.")


class CheckpointAudit(ApiModel):
    """``GET /api/audit/checkpoints``: newest first."""

    checkpoints: list[CheckpointRow]
    truncated: bool
    by_tier: list[CheckpointTier]


class ReviewQueueItem(ApiModel):
    """A sampled run."""

    day: str = Field(description="YYYY-MM-DD it was sampled for.")
    trace_id: str
    span_id: str = Field(description="The run's root span.")
    agent: str
    agent_version: str
    prompt_version: str
    start: str = Field(description="Run start, ISO 8601 UTC.")
    scores: int = Field(description="Scores recorded so far.")


class ReviewQueue(ApiModel):
    """``GET /api/audit/reviews/queue``: newest first."""

    queue: list[ReviewQueueItem]


class ReviewScoreSaved(ApiModel):
    """``POST /api/audit/reviews/scores``: the score as recorded."""

    trace_id: str
    span_id: str
    reviewer: str = Field(description="Key id of the caller.")
    score: float
    label: str
    agent: str
    prompt_version: str


class ReviewScoreRow(ApiModel):
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


class ReviewScores(ApiModel):
    """``GET /api/audit/reviews/scores``: newest first."""

    scores: list[ReviewScoreRow]


class ReviewTrendPoint(ApiModel):
    """Mean score of one day and group; the group key is the ``by`` asked for."""

    day: str
    agent: str = sometimes("Present when by=agent.")
    prompt_version: str = sometimes("Present when by=prompt_version.")
    mean_score: float
    scores: int


class ReviewTrend(ApiModel):
    """``GET /api/audit/reviews/trend``."""

    by: str
    points: list[ReviewTrendPoint]


class BudgetAlertRow(ApiModel):
    """An alert raised for a budget, with its webhook outcome."""

    scope: str
    subject: str
    day: str
    threshold: int = Field(description="80 or 100 (percent).")
    tokens: int
    cost_usd: float
    max_tokens: int
    max_cost_usd: float
    webhook: str = Field(description='"delivered 200", "HTTP 500", "error …", "no webhook" or "pending".')
    attempts: int
    at: str


class BudgetAlerts(ApiModel):
    """``GET /api/audit/budget-alerts``: latest first."""

    alerts: list[BudgetAlertRow]


# -- admin (admin.py) -----------------------------------------------------------------------------------
class KeyInfo(ApiModel):
    """An API key, never its secret."""

    key_id: str
    project: str
    role: Literal["ingest", "engineer", "auditor", "admin"]
    name: str
    revoked: bool
    created_at: str
    permissions: list[str] = Field(description="Beyond the role: 'approve' may decide approvals.")


class CreatedKey(KeyInfo):
    """``POST /api/admin/keys``: the new key with its secret (shown this once)."""

    key: str = Field(description="The secret to send as Authorization: Bearer <key>.")


class KeyList(ApiModel):
    """``GET /api/admin/keys``: oldest first."""

    keys: list[KeyInfo]


class WhoAmI(ApiModel):
    """``GET /api/whoami``: the calling key (never its secret), so a person's UI can say who they
    are signed in as and what they may do."""

    key_id: str
    name: str = Field(description="Who the key is ('' for an unnamed key): decisions are recorded under it.")
    role: Literal["ingest", "engineer", "auditor", "admin"]
    permissions: list[str] = Field(description="Beyond the role: 'approve' may decide approvals.")
    project: str


class RetentionSet(ApiModel):
    """``PUT /api/admin/retention``."""

    project: str
    days: int = Field(description="0 keeps spans forever.")


class LegalHold(ApiModel):
    """A legal hold on a project or a set of traces."""

    hold_id: str
    trace_ids: list[str] = Field(description="Empty: the whole project.")
    scope: Literal["traces", "project"]
    reason: str
    created_by: str
    created_at_ms: int = Field(description="Unix milliseconds.")
    released: bool
    released_by: str


class Retention(ApiModel):
    """``GET /api/admin/retention``."""

    project: str
    days: int
    holds: list[LegalHold] = Field(description="Active holds.")


class RetentionRun(ApiModel):
    """``POST /api/admin/retention/run``: what the pass did."""

    project: str
    days: int
    cutoff_ns: int | None = Field(description="Spans before this were due; null without a retention.")
    deleted_spans: int
    held_traces: list[str]
    suspended_by_legal_hold: bool = Field(description="A project-wide hold stopped the pass.")
    deletion_id: str = Field(description="Id of the recorded deletion; empty when nothing was deleted.")


class HoldCreated(ApiModel):
    """``POST /api/admin/holds``."""

    hold_id: str
    project: str
    trace_ids: list[str]
    scope: Literal["traces", "project"]


class HoldList(ApiModel):
    """``GET /api/admin/holds``: oldest first."""

    holds: list[LegalHold]


class ReviewRateSet(ApiModel):
    """``PUT /api/admin/reviews/settings``."""

    project: str
    agent: str
    rate: float


class ReviewRates(ApiModel):
    """``GET /api/admin/reviews/settings``."""

    project: str
    rates: dict[str, float] = Field(description='Agent → share of its runs sampled per day ("" = every other agent).')


class ReviewSample(ApiModel):
    """``POST /api/admin/reviews/sample``."""

    project: str
    day: str
    runs: int = Field(description="Runs (root spans) of the day.")
    queued: int = Field(description="Runs of the day in the queue now.")


class BudgetSet(ApiModel):
    """``PUT /api/admin/budgets``: the budget as stored."""

    project: str
    scope: Literal["project", "agent", "user"]
    subject: str
    max_tokens: int
    max_cost_usd: float
    webhook_url: str


class BudgetDeleted(ApiModel):
    """``DELETE /api/admin/budgets/{scope}``."""

    project: str
    scope: Literal["project", "agent", "user"]
    subject: str
    deleted: bool


class RaisedAlert(ApiModel):
    """A budget alert raised by this check (also the webhook's payload, plus its outcome)."""

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


class BudgetCheck(ApiModel):
    """``POST /api/admin/budgets/check``."""

    alerts: list[RaisedAlert]


class AdminBudget(ApiModel):
    """A daily budget with its webhook (admin view)."""

    project: str
    scope: str
    subject: str
    max_tokens: int = Field(description="Per UTC day; 0 = no token limit.")
    max_cost_usd: float = Field(description="Per UTC day; 0 = no cost limit.")
    webhook_url: str


class AdminBudgets(ApiModel):
    """``GET /api/admin/budgets``."""

    budgets: list[AdminBudget]


# -- budgets (budgets.py) ----------------------------------------------------------------------------------
class BudgetLeft(ApiModel):
    """Today's use of one budget that applies to the agent and user asked about."""

    scope: str
    subject: str
    tokens_used: int
    cost_usd_used: float
    max_tokens: int
    max_cost_usd: float
    tokens_remaining: int | None = Field(description="Null when the budget has no token limit.")
    cost_usd_remaining: float | None = Field(description="Null when the budget has no cost limit.")
    exhausted: bool


class BudgetRemaining(ApiModel):
    """``GET /api/budget/remaining``."""

    project: str
    day: str = Field(description="Today (UTC), YYYY-MM-DD.")
    budgets: list[BudgetLeft]
    exhausted: bool = Field(description="Any of the budgets is used up.")


class Budget(ApiModel):
    """A daily budget (read-only view: no webhook URL)."""

    project: str
    scope: str
    subject: str
    max_tokens: int
    max_cost_usd: float


class Budgets(ApiModel):
    """``GET /api/budgets``."""

    budgets: list[Budget]


# -- the control loop (docs/control.md) --------------------------------------------------------------
class DecidedBy(ApiModel):
    """The LLM call whose answer led to the action."""

    span_id: str = sometimes("The LLM call's span id.")
    model: str = sometimes("Its model.")
    prompt_id: str = sometimes("Its prompt id.")
    prompt_version: str = sometimes("Its prompt version.")


class PolicyRef(ApiModel):
    id: str = Field(description="The policy's id: agent, or agent@version.")
    version: int


class Approval(ApiModel):
    """A proposed action waiting for (or given) a named person's decision."""

    id: str
    project: str
    status: str = Field(description="pending, approved, rejected, expired or notified (tier 2: nothing to decide).")
    tier: int
    action: str = Field(description="What the agent wants to do, in its words.")
    tool: str
    arguments: Any = Field(description="The action's arguments (JSON), redacted like span content.")
    arguments_hash: str = Field(description="sha256 of the arguments' canonical JSON: the decision is bound to it.")
    edited_arguments: Any = Field(description="Arguments the approver replaced them with (null: none).")
    edited_arguments_hash: str | None
    confidence: float | None
    agent: str
    agent_version: str
    prompt_id: str
    prompt_version: str
    trace_id: str
    span_id: str = Field(description="The checkpoint span that asked.")
    decided_by: DecidedBy | None
    policy: PolicyRef | None = Field(description="The policy in force when the agent asked.")
    on_timeout: str = Field(description="reject or approve: what expiry means.")
    requested_at: str | None
    expires_at: str | None
    decided_at: str | None
    approver: str | None = Field(description="The deciding key's name (a person).")
    approver_key_id: str | None
    reason: str | None
    consumed_at: str | None = Field(description="When the agent used the decision (once).")
    escalated_at: str | None
    idempotency_key: str


class ApprovalPage(ApiModel):
    items: list[Approval] = Field(description="Pending first (soonest expiry first), then newest decided.")
    total: int
    limit: int
    offset: int


class Pause(ApiModel):
    """An active pause: the agent (and version, and tool) it covers; agent '' = the whole project."""

    agent: str
    agent_version: str
    tool: str
    reason: str
    by: str
    at: str
    scope: str = Field(description="The scope for people: 'agent refund-bot 2.3.0', 'the whole project'.")


class PauseChange(ApiModel):
    agent: str
    agent_version: str
    tool: str
    reason: str
    paused: bool
    scope: str
    by: str


class PolicyDoc(ApiModel):
    """A stored version of an agent's policy."""

    id: str
    agent: str
    agent_version: str
    version: int
    sha256: str
    changed_by: str
    changed_at: str
    policy: dict[str, Any] = Field(description="The policy document (tools, escalations, limits, …).")


class PolicyList(ApiModel):
    policies: list[PolicyDoc]


class ControlState(ApiModel):
    """What every agent process caches: active pauses and the policies in force."""

    version: str = Field(description="Changes whenever a pause or policy does (also the ETag).")
    pauses: list[Pause]
    policies: list[PolicyDoc]


class NotificationTarget(ApiModel):
    id: str
    url: str
    format: str = Field(description="json (the event document) or slack ({'text': …, 'flightlog': event}).")
    events: list[str]


class Escalation(ApiModel):
    after_min: float = Field(description="Minutes a tier-3 approval may stay undecided (0 = never escalate).")
    targets: list[NotificationTarget]


class NotificationSettings(ApiModel):
    targets: list[NotificationTarget]
    escalation: Escalation
    ui_url: str = Field(description="The UI's base URL: messages link to the approval there.")


class Delivery(ApiModel):
    """One event sent (or being retried) to one target."""

    event_id: str
    event: str
    target_id: str
    url: str
    status: str = Field(description="pending (retried with backoff), delivered or failed (gave up).")
    attempts: int
    last_status: int = Field(description="The target's last HTTP status (0: no answer).")
    last_error: str
    created_at: str
    delivered_at: str | None


class DeliveryList(ApiModel):
    deliveries: list[Delivery]


# -- alerts ---------------------------------------------------------------------------------------------
class AlertSilence(ApiModel):
    until: str
    reason: str
    by: str = Field(description="Who silenced the rule (the key's name).")


class AlertEvaluation(ApiModel):
    """The rule's last evaluation (by any collector on the store)."""

    at: str
    value: float | None = Field(description="The metric over the window (null: nothing to measure).")
    reference: float | None = Field(description="The previous window's or the baseline's value (null: none).")
    samples: int
    breached: bool | None = Field(description="null: fewer samples than min_samples, the state stays as it is.")


class AlertRule(ApiModel):
    """An alert rule, its definition and its current state."""

    id: str
    name: str
    description: str
    metric: Literal["error_rate", "success_rate", "latency_p95_ms", "cost_per_hour", "cost_per_day",
                    "tokens_per_run", "checkpoint_escalation_rate", "tool_error_rate", "mean_score",
                    "tool_argument_max"]
    scope: dict[str, str] = Field(description="agent, agent_version, prompt_id, prompt_version, model ({} = project).")
    tool: str | None = Field(description="tool_argument_max: the tool whose calls are watched.")
    argument: str | None = Field(description="tool_argument_max: the argument (dotted for a nested one).")
    evaluator: str | None = Field(description="mean_score: the evaluator whose scores are watched (null: the human "
                                              "review scores).")
    score_source: Literal["online", "ingest", "experiment"] | None = Field(
        description="mean_score with an evaluator: only its scores from online rules, evaluation events or "
                    "experiments (null: all).")
    window: str = Field(description="The sliding window, e.g. '15m', '1h', '7d'.")
    op: Literal["above", "below"]
    threshold: float = Field(description="For compare 'value' the metric's own unit; else a relative change "
                                         "(0.5 = +50%).")
    compare: Literal["value", "previous_window", "baseline"]
    baseline: dict[str, str] | None = Field(description="compare 'baseline': the scope keys replaced, "
                                                        "e.g. {'agent_version': '2.2.0'}.")
    baseline_window: str | None
    min_samples: int
    state: Literal["ok", "firing"]
    since: str | None = Field(description="When the current state began (null: never fired).")
    transitions: int = Field(description="Transitions so far (firing and resolved).")
    silenced: bool
    silence: AlertSilence | None
    last_evaluation: AlertEvaluation | None
    link: str = Field(description="The Monitoring page filtered to the scope and window (a path of the UI).")
    changed_by: str
    changed_at: str


class AlertRuleList(ApiModel):
    rules: list[AlertRule]


class AlertEvent(ApiModel):
    """A transition (firing, resolved) or a silence change of a rule."""

    rule_id: str
    event_id: str
    seq: int = Field(description="The transition's number for its rule (0: a silence change).")
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
    silenced: bool = Field(description="The rule was silenced: recorded, not sent.")
    notified: bool = Field(description="Queued for the project's notification targets, if it has any "
                                       "(false: silenced, replayed, or a silence change).")
    actor: str = Field(description="The collector that decided a transition, or who changed a silence.")
    reason: str
    link: str


class AlertHistory(ApiModel):
    events: list[AlertEvent]


class AlertReplay(ApiModel):
    """``POST /api/alerts/rules/{id}/replay``: the transitions the rule would have made, recorded."""

    rule_id: str
    evaluations: int
    events: list[AlertEvent]


# -- datasets and experiments (datasets.py, experiments.py) ---------------------------------------------------
class Dataset(ApiModel):
    """A named set of immutable items; its version is its item count (version N = the first N items)."""

    name: str
    id: str
    description: str
    created_by: str = Field(description="The name of the key that created it.")
    created_at: str
    version: int = Field(description="The current version: the number of items.")
    items: int
    last_added_at: str | None = Field(description="When the latest item was added (null: no items yet).")


class DatasetList(ApiModel):
    datasets: list[Dataset] = Field(description="By name.")


class DatasetItem(ApiModel):
    """One item: never changed once added."""

    id: str = Field(description="20 hex characters.")
    seq: int = Field(description="Its place in the dataset (1, 2, …): it is in every version from this one on.")
    input: Any = Field(description="What the task is called with (JSON).")
    expected: Any = Field(description="The expected output (JSON; null when has_expected is false).")
    has_expected: bool
    metadata: dict[str, Any]
    source_trace_id: str = Field(description="The trace it was made from ('' when given directly).")
    source_span_id: str
    created_by: str
    created_at: str


class DatasetItemPage(ApiModel):
    dataset: str
    version: int = Field(description="The version read (the first N items).")
    items: list[DatasetItem]
    total: int = Field(description="Items in that version.")
    limit: int
    offset: int


class ItemsAdded(ApiModel):
    dataset: str
    version: int = Field(description="The dataset's version after the add.")
    added: int
    item_ids: list[str]


class EvaluatorSummary(ApiModel):
    """One evaluator over an experiment's items."""

    evaluator: str
    mean: float | None = Field(description="Mean score of the scored items (null: none scored).")
    scored: int = Field(description="Items with a score.")
    items: int = Field(description="Items with a result of this evaluator.")
    passed: int = Field(description="Results labelled pass.")
    failed: int = Field(description="Results labelled fail.")


class Experiment(ApiModel):
    """A task run over a dataset version."""

    id: str = Field(description="20 hex characters.")
    name: str
    dataset: str
    dataset_version: int
    task: str = Field(description="What ran, e.g. module:function.")
    status: str = Field(description="running or finished.")
    agent_name: str = Field(description="The agent the runs recorded ('' unknown; several comma-separated).")
    agent_version: str
    prompt_version: str
    model: str
    metadata: dict[str, Any]
    created_by: str
    created_at: str
    finished_at: str | None
    results: int = Field(description="Items with a result.")
    errors: int = Field(description="Items whose task raised.")
    scores: list[EvaluatorSummary] = Field(description="By evaluator name.")


class ExperimentList(ApiModel):
    experiments: list[Experiment] = Field(description="Newest first.")


class ScoreResult(ApiModel):
    """One evaluator's result (OTel GenAI gen_ai.evaluation.result)."""

    name: str
    score: float | None
    label: str
    explanation: str


class ExperimentResult(ApiModel):
    """What the task answered for one item, and how each evaluator scored it."""

    item_id: str
    seq: int
    output: Any
    error: str = Field(description="What the task raised ('' none).")
    trace_id: str = Field(description="The traced run of this item ('' when not traced).")
    span_id: str
    latency_ms: float
    cost_usd: float
    tokens: int
    agent_name: str
    agent_version: str
    prompt_version: str
    model: str
    input: Any = Field(description="The item's input.")
    expected: Any = Field(description="The item's expected output (null: none).")
    scores: list[ScoreResult] = Field(description="By evaluator name.")


class ExperimentResults(ApiModel):
    experiment_id: str
    results: list[ExperimentResult] = Field(description="In item order.")


class ResultsAdded(ApiModel):
    experiment_id: str
    added: int


class ComparedEvaluator(ApiModel):
    evaluator: str
    means: list[float | None] = Field(description="One per experiment, in the order asked.")
    deltas: list[float | None] = Field(description="Each mean minus the baseline's (the first experiment's).")


class ComparedItem(ApiModel):
    item_id: str
    seq: int
    input: Any
    expected: Any
    results: list[ExperimentResult | None] = Field(description="One per experiment (null: no result there).")
    delta: float | None = Field(description="The largest drop of the item's mean score against the baseline "
                                            "(negative: worse).")
    regressed: bool = Field(description="Some experiment scored the item lower than the baseline.")
    outputs_differ: bool


class ExperimentComparison(ApiModel):
    baseline: str = Field(description="The first experiment asked for.")
    experiments: list[Experiment]
    evaluators: list[ComparedEvaluator]
    items: list[ComparedItem] = Field(description="Regressions first (worst first), then in item order.")
    regressions: int


class ExperimentGroupRow(ApiModel):
    group: str = Field(description="The agent version, prompt version or model of the items' runs ('' unknown).")
    evaluator: str
    mean: float | None = Field(description="Mean score over the group's items (None: none scored).")
    scored: int = Field(description="Items with a score.")
    items: int = Field(description="Items the evaluator ran on.")
    passed: int
    failed: int
    experiments: int = Field(description="Finished experiments the items come from.")


class ExperimentGroups(ApiModel):
    """Every finished experiment's scores (of one dataset), per evaluator, split by a run fact."""

    dataset: str = Field(description="The dataset asked for ('' every dataset).")
    by: str = Field(description="agent_version, prompt_version or model.")
    rows: list[ExperimentGroupRow]


# -- online evaluation (online.py) ------------------------------------------------------------------------------
class EvaluationRule(ApiModel):
    """An evaluator scoring a share of an agent's arriving runs."""

    id: str = Field(description="20 hex characters.")
    agent: str
    evaluator: str = Field(description="The built-in evaluator, as the CLI writes it.")
    name: str = Field(description="The name its scores carry.")
    kind: str = Field(description="rule (the collector scores the runs) or judge (the online worker does).")
    sample_rate: float = Field(description="The share of runs scored (0…1); a run is in or out for good.")
    deleted: bool
    changed_by: str
    changed_at: str


class EvaluationRuleList(ApiModel):
    rules: list[EvaluationRule] = Field(description="By agent, then name.")


class PendingJudgement(ApiModel):
    """A sampled run waiting for its judge rule's score."""

    rule_id: str
    evaluator: str = Field(description="The judge spec (judge:{…}).")
    name: str
    trace_id: str
    span_id: str = Field(description="The run's agent span.")
    agent_name: str
    agent_version: str
    prompt_version: str
    model: str
    input: Any = Field(description="The run's input (JSON when it is JSON).")
    output: Any = Field(description="The run's output (JSON when it is JSON).")


class PendingJudgements(ApiModel):
    items: list[PendingJudgement] = Field(description="Oldest first.")


class ScoresAdded(ApiModel):
    added: int


class ScoreSummaryRow(ApiModel):
    agent: str
    group: str = Field(description="The agent version, prompt version or model ('' unknown).")
    evaluator: str
    mean: float | None
    scores: int
    failed: int = Field(description="Scores labelled fail.")
    source: str = Field(description="online (a rule) or ingest (an evaluation event another tool sent).")


class ScoreSummary(ApiModel):
    by: str
    rows: list[ScoreSummaryRow]
