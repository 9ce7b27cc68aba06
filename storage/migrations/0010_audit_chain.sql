-- Tamper-evident record (docs/audit.md). Per project, every ingest batch is a link of a hash
-- chain: Hash = sha256(PrevHash ‖ BatchId), BatchId = sha256 of the batch's sorted span
-- entries "TraceId:SpanId:SpanHash". chain_spans lists the spans of each batch (hashes only,
-- no content), so verification can name an altered, deleted or forged span.
CREATE TABLE IF NOT EXISTS chain_batches
(
    Project LowCardinality(String),
    Seq UInt64,
    BatchId String,
    PrevHash String,
    Hash String,
    Spans UInt32,
    FirstTime DateTime64(9),
    LastTime DateTime64(9),
    Version UInt8 DEFAULT 1,
    CreatedAt DateTime64(3) DEFAULT now64(3),
    INDEX idx_batch BatchId TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = ReplacingMergeTree
ORDER BY (Project, Seq);

CREATE TABLE IF NOT EXISTS chain_spans
(
    Project LowCardinality(String),
    Seq UInt64,
    Timestamp DateTime64(9),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    SpanHash String CODEC(ZSTD(1))
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(Timestamp)
ORDER BY (Project, Timestamp, TraceId, SpanId, Seq, SpanHash);

-- Deletions made on purpose (retention, erasure): spans they cover are reported as
-- "deleted by retention", not as tampering. Empty TraceIds = every trace in [FromTime, ToTime);
-- ExceptTraceIds were on legal hold and kept.
CREATE TABLE IF NOT EXISTS chain_deletions
(
    Project LowCardinality(String),
    DeletionId String,
    FromTime DateTime64(9),
    ToTime DateTime64(9),
    TraceIds Array(String),
    ExceptTraceIds Array(String),
    Reason String,
    Actor String,
    At DateTime64(3) DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (Project, DeletionId);
