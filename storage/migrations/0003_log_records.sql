-- OTLP log records that belong to a span (GenAI content events such as
-- gen_ai.client.inference.operation.details or gen_ai.user.message / gen_ai.choice).
-- They may arrive before or after their span; the query API attaches them when it reads.
CREATE TABLE IF NOT EXISTS log_records
(
    Project LowCardinality(String),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    Timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    EventName LowCardinality(String),
    SeverityText LowCardinality(String),
    Body String CODEC(ZSTD(3)),
    Attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName LowCardinality(String),
    IngestTime DateTime64(3) DEFAULT now64(3),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = ReplacingMergeTree(IngestTime)
PARTITION BY toDate(Timestamp)
ORDER BY (Project, TraceId, SpanId, Timestamp, EventName, cityHash64(Body));
