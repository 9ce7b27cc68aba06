-- Cost becomes tamper-evident (docs/audit.md, "What the chain covers"). The cost columns are
-- not in a span's hash (prices recompute changes them), so the chain records them on their own:
-- chain_spans.CostHash = sha256 of (CostSource, PriceVersion, CostUsd) at ingest, and every
-- `prices recompute` records the new value of each span it changed in chain_cost_revisions,
-- under the event's id. price_tables keeps every price table a collector priced with or a
-- recompute used, so verify can also recompute each cost from its table.
ALTER TABLE chain_spans ADD COLUMN IF NOT EXISTS CostHash String DEFAULT '';

CREATE TABLE IF NOT EXISTS chain_cost_revisions
(
    Project LowCardinality(String),
    Timestamp DateTime64(9),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    CostHash String,
    EventId String,
    At DateTime64(3) DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY (Project, Timestamp, TraceId, SpanId);

CREATE TABLE IF NOT EXISTS price_tables
(
    Version String,
    Sha256 String,
    Body String CODEC(ZSTD(3)),
    RecordedAt DateTime64(3) DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (Version, Sha256);
