-- Daily budgets (project / agent / user; tokens and cost) and the alerts raised at 80% and
-- 100%. An alert row exists once per (budget, day, threshold): that is "once per crossing".
CREATE TABLE IF NOT EXISTS budgets
(
    Project String,
    Scope LowCardinality(String),
    Subject String,
    MaxTokens UInt64,
    MaxCostUsd Float64,
    WebhookUrl String,
    Deleted UInt8 DEFAULT 0,
    UpdatedAt DateTime64(3) DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(UpdatedAt)
ORDER BY (Project, Scope, Subject);

CREATE TABLE IF NOT EXISTS budget_alerts
(
    Project LowCardinality(String),
    Scope LowCardinality(String),
    Subject String,
    Day Date,
    Threshold UInt8,
    Tokens UInt64,
    CostUsd Float64,
    MaxTokens UInt64,
    MaxCostUsd Float64,
    WebhookStatus String,
    Attempts UInt8,
    At DateTime64(3) DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(At)
ORDER BY (Project, Scope, Subject, Day, Threshold);
