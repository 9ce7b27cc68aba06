-- Retention per project, legal holds (a whole project or a set of traces), and the log of
-- governance changes (retention, holds, budgets, review settings). Latest row wins.
CREATE TABLE IF NOT EXISTS retention_policies
(
    Project String,
    Days UInt32,
    SetBy String,
    UpdatedAt DateTime64(3) DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(UpdatedAt)
ORDER BY Project;

CREATE TABLE IF NOT EXISTS legal_holds
(
    Project String,
    HoldId String,
    TraceIds Array(String),
    Reason String,
    CreatedBy String,
    CreatedAt DateTime64(3),
    Released UInt8 DEFAULT 0,
    ReleasedBy String DEFAULT '',
    UpdatedAt DateTime64(3) DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(UpdatedAt)
ORDER BY (Project, HoldId);

CREATE TABLE IF NOT EXISTS governance_log
(
    At DateTime64(3) DEFAULT now64(3),
    Project LowCardinality(String),
    Actor String,
    Action LowCardinality(String),
    Details String CODEC(ZSTD(3))
)
ENGINE = MergeTree
ORDER BY (Project, At);
