-- Access log: one row per query-API request (who, what, when, how many rows). Append-only:
-- the collector only ever inserts here and no endpoint deletes or updates it.
CREATE TABLE IF NOT EXISTS access_log
(
    At DateTime64(3),
    Project LowCardinality(String),
    KeyId String,
    Role LowCardinality(String),
    Method LowCardinality(String),
    Endpoint LowCardinality(String),
    Path String CODEC(ZSTD(1)),
    Params String CODEC(ZSTD(3)),
    Status UInt16,
    Rows UInt64,
    DurationMs Float64,
    Client String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(At)
ORDER BY (Project, At);
