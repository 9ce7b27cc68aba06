-- Alerts (docs/alerts.md): rules over the monitoring figures, their transitions (history) and
-- the claims that let several collectors on one store decide each transition once. Rules are
-- versioned rows (the latest Version of a rule is its state; a delete is a version too).
CREATE TABLE IF NOT EXISTS alert_rules
(
    Project LowCardinality(String),
    RuleId String,
    Version UInt64,
    Body String CODEC(ZSTD(3)),
    SilencedUntil Nullable(DateTime64(3)),
    SilenceReason String,
    SilencedBy String,
    ChangedBy String,
    ChangedAt DateTime64(3),
    Deleted UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(Version)
ORDER BY (Project, RuleId);

-- The history: one row per transition (firing, resolved: Seq 1, 2, … per rule, EventId
-- "<rule>-<seq>") and per silence change (Seq 0, a random EventId). A transition written twice
-- collapses to one row.
CREATE TABLE IF NOT EXISTS alert_events
(
    Project LowCardinality(String),
    RuleId String,
    Seq UInt32,
    EventId String,
    Kind LowCardinality(String),
    At DateTime64(3),
    Value Nullable(Float64),
    Reference Nullable(Float64),
    Threshold Float64,
    Samples UInt64,
    WindowStart DateTime64(3),
    WindowEnd DateTime64(3),
    Silenced UInt8,
    Notified UInt8,
    Actor String,
    Reason String,
    Link String,
    Rule String CODEC(ZSTD(3))
)
ENGINE = ReplacingMergeTree
ORDER BY (Project, RuleId, Seq, EventId);

-- A collector's claim to decide transition Seq of a rule; the lowest Token among the fresh
-- claims decides (docs/decisions/0025-alert-transitions-decided-once.md).
CREATE TABLE IF NOT EXISTS alert_claims
(
    Project LowCardinality(String),
    RuleId String,
    Seq UInt32,
    Token String,
    Claimant String,
    ClaimedAt DateTime64(3)
)
ENGINE = MergeTree
ORDER BY (Project, RuleId, Seq, Token)
TTL toDateTime(ClaimedAt) + INTERVAL 7 DAY;

-- The last evaluation of each rule (what the Alerts page shows as its current value).
CREATE TABLE IF NOT EXISTS alert_evaluations
(
    Project LowCardinality(String),
    RuleId String,
    At DateTime64(3),
    Value Nullable(Float64),
    Reference Nullable(Float64),
    Samples UInt64,
    Breached Nullable(UInt8),
    Version UInt64
)
ENGINE = ReplacingMergeTree(Version)
ORDER BY (Project, RuleId);
