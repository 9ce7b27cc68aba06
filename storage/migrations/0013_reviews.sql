-- Human review: sampling rates per agent, the queue of sampled runs and reviewers' scores.
CREATE TABLE IF NOT EXISTS review_settings
(
    Project String,
    AgentName String,
    Rate Float64,
    UpdatedAt DateTime64(3) DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(UpdatedAt)
ORDER BY (Project, AgentName);

CREATE TABLE IF NOT EXISTS review_queue
(
    Project LowCardinality(String),
    Day Date,
    TraceId String,
    SpanId String,
    AgentName LowCardinality(String),
    AgentVersion LowCardinality(String),
    PromptVersion LowCardinality(String),
    StartTime DateTime64(9),
    SampledAt DateTime64(3) DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(SampledAt)
ORDER BY (Project, Day, TraceId);

CREATE TABLE IF NOT EXISTS review_scores
(
    Project LowCardinality(String),
    TraceId String,
    SpanId String,
    AgentName LowCardinality(String),
    PromptVersion LowCardinality(String),
    Reviewer String,
    Score Float64,
    Label LowCardinality(String),
    Comment String,
    At DateTime64(3) DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY (Project, At);
