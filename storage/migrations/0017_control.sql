-- The control loop (docs/control.md): approvals waiting for a named person, pauses (the kill
-- switch), central agent policies and the webhook notifications they send. Every table is
-- state that any collector sharing the store sees; each change is also an event span in the
-- audit chain and a governance-log entry.

-- What a key may do beyond its role: "approve" lets it decide approvals.
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS Permissions Array(LowCardinality(String)) DEFAULT [];

-- One row per version of an approval; the latest Version is its state.
CREATE TABLE IF NOT EXISTS approvals
(
    Project LowCardinality(String),
    ApprovalId String,
    Version UInt64,
    IdempotencyKey String,
    Status LowCardinality(String),
    Tier UInt8,
    Action String CODEC(ZSTD(3)),
    ToolName LowCardinality(String),
    Arguments String CODEC(ZSTD(3)),
    ArgumentsHash String,
    EditedArguments String CODEC(ZSTD(3)),
    EditedArgumentsHash String,
    Confidence Nullable(Float64),
    AgentName LowCardinality(String),
    AgentVersion LowCardinality(String),
    PromptId LowCardinality(String),
    PromptVersion LowCardinality(String),
    TraceId String,
    SpanId String,
    DecidedBy String CODEC(ZSTD(3)),
    PolicyId String,
    PolicyVersion UInt32,
    OnTimeout LowCardinality(String),
    RequestedAt DateTime64(3),
    ExpiresAt DateTime64(3),
    DecidedAt Nullable(DateTime64(3)),
    Approver String,
    ApproverKeyId String,
    Reason String CODEC(ZSTD(3)),
    ConsumedAt Nullable(DateTime64(3)),
    EscalatedAt Nullable(DateTime64(3)),
    INDEX idx_idem IdempotencyKey TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = ReplacingMergeTree(Version)
ORDER BY (Project, ApprovalId);

-- Pauses: one row per change of a scope (project, agent, agent version, tool); the latest wins.
CREATE TABLE IF NOT EXISTS control_pauses
(
    Project LowCardinality(String),
    AgentName String,
    AgentVersion String,
    ToolName String,
    Paused UInt8,
    Reason String,
    ChangedBy String,
    ChangedAt DateTime64(3),
    Version UInt64
)
ENGINE = ReplacingMergeTree(Version)
ORDER BY (Project, AgentName, AgentVersion, ToolName);

-- Agent policies, every version kept (the latest per agent and agent version is in force).
CREATE TABLE IF NOT EXISTS policies
(
    Project LowCardinality(String),
    AgentName String,
    AgentVersion String,
    PolicyVersion UInt32,
    Body String CODEC(ZSTD(3)),
    Sha256 String,
    ChangedBy String,
    ChangedAt DateTime64(3) DEFAULT now64(3),
    Deleted UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree
ORDER BY (Project, AgentName, AgentVersion, PolicyVersion);

-- Where a project's notifications go (latest settings win).
CREATE TABLE IF NOT EXISTS notification_settings
(
    Project LowCardinality(String),
    Body String,
    ChangedBy String,
    ChangedAt DateTime64(3),
    Version UInt64
)
ENGINE = ReplacingMergeTree(Version)
ORDER BY Project;

-- The outbox: one row per (event, target) and delivery state; the latest Version wins.
CREATE TABLE IF NOT EXISTS notifications
(
    Project LowCardinality(String),
    EventId String,
    TargetId String,
    Event LowCardinality(String),
    Url String,
    Format LowCardinality(String),
    Payload String CODEC(ZSTD(3)),
    Status LowCardinality(String),
    Attempts UInt16,
    LastStatus Int32,
    LastError String,
    CreatedAt DateTime64(3),
    NextAt DateTime64(3),
    DeliveredAt Nullable(DateTime64(3)),
    Version UInt64
)
ENGINE = ReplacingMergeTree(Version)
ORDER BY (Project, EventId, TargetId);
