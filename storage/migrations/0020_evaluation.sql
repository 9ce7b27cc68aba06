-- Continuous evaluation (docs/evaluation.md): datasets of immutable items, experiments that run a
-- task over a dataset version, and the evaluator scores of every item (experiments, the online
-- rules and gen_ai.evaluation.result events from other tools share the scores table).

-- One row per dataset (the latest Version of a name is its state).
CREATE TABLE IF NOT EXISTS datasets
(
    Project LowCardinality(String),
    Name String,
    DatasetId String,
    Description String CODEC(ZSTD(3)),
    CreatedBy String,
    CreatedAt DateTime64(3),
    Version UInt64
)
ENGINE = ReplacingMergeTree(Version)
ORDER BY (Project, Name);

-- Items are never changed: Seq numbers them 1, 2, … per dataset; version N of a dataset is
-- the items with Seq <= N. Input, Expected and Metadata are JSON text.
CREATE TABLE IF NOT EXISTS dataset_items
(
    Project LowCardinality(String),
    Dataset String,
    Seq UInt64,
    ItemId String,
    Input String CODEC(ZSTD(3)),
    Expected String CODEC(ZSTD(3)),
    HasExpected UInt8,
    Metadata String CODEC(ZSTD(3)),
    SourceTraceId String,
    SourceSpanId String,
    CreatedBy String,
    CreatedAt DateTime64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (Project, Dataset, Seq);

-- One row per state of an experiment (running, then finished); the latest Version wins.
CREATE TABLE IF NOT EXISTS experiments
(
    Project LowCardinality(String),
    ExperimentId String,
    Name String,
    Dataset String,
    DatasetVersion UInt64,
    Task String,
    Status LowCardinality(String),
    AgentName String,
    AgentVersion String,
    PromptVersion String,
    Model String,
    Metadata String CODEC(ZSTD(3)),
    CreatedBy String,
    CreatedAt DateTime64(3),
    FinishedAt Nullable(DateTime64(3)),
    Version UInt64
)
ENGINE = ReplacingMergeTree(Version)
ORDER BY (Project, ExperimentId);

-- What the task answered for each item of an experiment, and what the run cost.
CREATE TABLE IF NOT EXISTS experiment_results
(
    Project LowCardinality(String),
    ExperimentId String,
    ItemId String,
    Seq UInt64,
    Output String CODEC(ZSTD(3)),
    Error String CODEC(ZSTD(3)),
    TraceId String,
    SpanId String,
    LatencyMs Float64,
    CostUsd Float64,
    Tokens UInt64,
    AgentName String,
    AgentVersion String,
    PromptVersion String,
    Model String,
    CreatedAt DateTime64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (Project, ExperimentId, ItemId);

-- Every evaluator result (OTel GenAI gen_ai.evaluation.result: name, score, label, explanation).
-- Source: experiment (ExperimentId and ItemId set), online (a rule on arriving runs) or ingest
-- (an evaluation event another tool sent with its spans).
CREATE TABLE IF NOT EXISTS evaluation_scores
(
    Project LowCardinality(String),
    Source LowCardinality(String),
    ExperimentId String,
    ItemId String,
    TraceId String,
    SpanId String,
    Evaluator String,
    Score Nullable(Float64),
    Label String,
    Explanation String CODEC(ZSTD(3)),
    AgentName String,
    AgentVersion String,
    PromptVersion String,
    Model String,
    CreatedAt DateTime64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(CreatedAt)
ORDER BY (Project, Source, ExperimentId, ItemId, TraceId, SpanId, Evaluator);
