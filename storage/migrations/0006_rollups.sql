-- Usage rollups, kept current by materialized views, so that dashboards and budget checks
-- never scan raw spans. Read them with sum() / quantilesTDigestMerge(): parts are not
-- fully merged. Each span is counted once because the store drops re-sent spans before
-- they are inserted (storage/store.py: ingest-time dedupe); `prices recompute` rebuilds
-- the rows of the days it re-priced.
--
-- usage_hourly: project × hour × model × agent × agent version × prompt id/version × span type.
CREATE TABLE IF NOT EXISTS usage_hourly
(
    Project LowCardinality(String),
    Hour DateTime('UTC'),
    Model LowCardinality(String),
    AgentName LowCardinality(String),
    AgentVersion LowCardinality(String),
    PromptId LowCardinality(String),
    PromptVersion LowCardinality(String),
    SpanType LowCardinality(String),
    Spans SimpleAggregateFunction(sum, UInt64),
    Calls SimpleAggregateFunction(sum, UInt64),
    Errors SimpleAggregateFunction(sum, UInt64),
    UnknownPriced SimpleAggregateFunction(sum, UInt64),
    InputTokens SimpleAggregateFunction(sum, UInt64),
    OutputTokens SimpleAggregateFunction(sum, UInt64),
    CachedInputTokens SimpleAggregateFunction(sum, UInt64),
    ReasoningTokens SimpleAggregateFunction(sum, UInt64),
    CostUsd SimpleAggregateFunction(sum, Float64),
    Latency AggregateFunction(quantilesTDigest(0.5, 0.9, 0.95, 0.99), UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(Hour)
ORDER BY (Project, Hour, Model, AgentName, AgentVersion, PromptId, PromptVersion, SpanType);

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_hourly_mv TO usage_hourly AS
SELECT
    Project,
    toStartOfHour(Timestamp, 'UTC') AS Hour,
    if(ResponseModel != '', ResponseModel, RequestModel) AS Model,
    AgentName, AgentVersion, PromptId, PromptVersion, SpanType,
    count() AS Spans,
    countIf(SpanType IN ('llm', 'embedding')) AS Calls,
    countIf(StatusCode = 'Error') AS Errors,
    countIf(CostSource = 'unknown') AS UnknownPriced,
    sum(InputTokens) AS InputTokens,
    sum(OutputTokens) AS OutputTokens,
    sum(CachedInputTokens) AS CachedInputTokens,
    sum(ReasoningTokens) AS ReasoningTokens,
    sum(CostUsd) AS CostUsd,
    quantilesTDigestState(0.5, 0.9, 0.95, 0.99)(Duration) AS Latency
FROM spans
GROUP BY Project, Hour, Model, AgentName, AgentVersion, PromptId, PromptVersion, SpanType;

-- usage_users_daily: project × day × user × model × agent (per-user budgets and cost).
CREATE TABLE IF NOT EXISTS usage_users_daily
(
    Project LowCardinality(String),
    Day Date,
    UserId String CODEC(ZSTD(1)),
    Model LowCardinality(String),
    AgentName LowCardinality(String),
    Spans SimpleAggregateFunction(sum, UInt64),
    Calls SimpleAggregateFunction(sum, UInt64),
    Errors SimpleAggregateFunction(sum, UInt64),
    InputTokens SimpleAggregateFunction(sum, UInt64),
    OutputTokens SimpleAggregateFunction(sum, UInt64),
    CostUsd SimpleAggregateFunction(sum, Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(Day)
ORDER BY (Project, Day, UserId, Model, AgentName);

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_users_daily_mv TO usage_users_daily AS
SELECT
    Project,
    toDate(Timestamp, 'UTC') AS Day,
    UserId,
    if(ResponseModel != '', ResponseModel, RequestModel) AS Model,
    AgentName,
    count() AS Spans,
    countIf(SpanType IN ('llm', 'embedding')) AS Calls,
    countIf(StatusCode = 'Error') AS Errors,
    sum(InputTokens) AS InputTokens,
    sum(OutputTokens) AS OutputTokens,
    sum(CostUsd) AS CostUsd
FROM spans
GROUP BY Project, Day, UserId, Model, AgentName;

-- Existing spans, each counted once (the table may still hold unmerged re-sent copies).
TRUNCATE TABLE usage_hourly;
INSERT INTO usage_hourly
SELECT
    Project,
    toStartOfHour(Timestamp, 'UTC') AS Hour,
    if(ResponseModel != '', ResponseModel, RequestModel) AS Model,
    AgentName, AgentVersion, PromptId, PromptVersion, SpanType,
    count() AS Spans,
    countIf(SpanType IN ('llm', 'embedding')) AS Calls,
    countIf(StatusCode = 'Error') AS Errors,
    countIf(CostSource = 'unknown') AS UnknownPriced,
    sum(InputTokens) AS InputTokens,
    sum(OutputTokens) AS OutputTokens,
    sum(CachedInputTokens) AS CachedInputTokens,
    sum(ReasoningTokens) AS ReasoningTokens,
    sum(CostUsd) AS CostUsd,
    quantilesTDigestState(0.5, 0.9, 0.95, 0.99)(Duration) AS Latency
FROM
(
    SELECT Project, Timestamp, ResponseModel, RequestModel, AgentName, AgentVersion, PromptId,
           PromptVersion, SpanType, StatusCode, CostSource, InputTokens, OutputTokens,
           CachedInputTokens, ReasoningTokens, CostUsd, Duration
    FROM spans
    ORDER BY IngestTime DESC
    LIMIT 1 BY Project, TraceId, SpanId
)
GROUP BY Project, Hour, Model, AgentName, AgentVersion, PromptId, PromptVersion, SpanType;

TRUNCATE TABLE usage_users_daily;
INSERT INTO usage_users_daily
SELECT
    Project,
    toDate(Timestamp, 'UTC') AS Day,
    UserId,
    if(ResponseModel != '', ResponseModel, RequestModel) AS Model,
    AgentName,
    count() AS Spans,
    countIf(SpanType IN ('llm', 'embedding')) AS Calls,
    countIf(StatusCode = 'Error') AS Errors,
    sum(InputTokens) AS InputTokens,
    sum(OutputTokens) AS OutputTokens,
    sum(CostUsd) AS CostUsd
FROM
(
    SELECT Project, Timestamp, UserId, ResponseModel, RequestModel, AgentName, SpanType,
           StatusCode, InputTokens, OutputTokens, CostUsd
    FROM spans
    ORDER BY IngestTime DESC
    LIMIT 1 BY Project, TraceId, SpanId
)
GROUP BY Project, Day, UserId, Model, AgentName;
