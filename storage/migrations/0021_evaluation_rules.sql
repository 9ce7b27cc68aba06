-- Online evaluation (docs/evaluation.md, "Online evaluation"): evaluator rules attached to an
-- agent with a sampling rate. The collector scores sampled arriving runs with the cheap rule
-- evaluators; judge rules are marked pending (Label 'pending', no score) in evaluation_scores
-- for the `flightlog evaluate --online` worker. Online scores keep the rule's id in ItemId.

CREATE TABLE IF NOT EXISTS evaluation_rules
(
    Project LowCardinality(String),
    RuleId String,
    AgentName String,
    Evaluator String,
    Name String,
    Kind LowCardinality(String),
    SampleRate Float64,
    Deleted UInt8,
    ChangedBy String,
    ChangedAt DateTime64(3),
    Version UInt64
)
ENGINE = ReplacingMergeTree(Version)
ORDER BY (Project, RuleId);
