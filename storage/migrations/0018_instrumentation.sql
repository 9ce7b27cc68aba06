-- What popular instrumentations send that had no place yet (docs/connect/index.md).
--
-- 1. Streaming: whether a call streamed, and how long until its first chunk (milliseconds;
--    0 when not sent). Appended, so spool segments written before the upgrade are padded.
ALTER TABLE spans ADD COLUMN IF NOT EXISTS Streamed Bool DEFAULT false;
ALTER TABLE spans ADD COLUMN IF NOT EXISTS TimeToFirstChunkMs Float64 DEFAULT 0;

-- 2. Trace facts across requests (docs/decisions/0013-trace-facts-across-requests.md): the
--    agent, its version, the user, the session and the name of each trace, as the collectors learnt them.
--    One row per request that taught a collector something new about a trace; readers take, per
--    fact, the non-empty value of the highest Rank (2: from the trace's root span, 1: from the
--    top-most span of a request that carried it), ties broken by the value, so the answer does
--    not depend on the order of arrival. LeafUsage = 1 once the trace has an LLM or embedding
--    call with token counts (an agent span's aggregate is then not counted again).
CREATE TABLE IF NOT EXISTS trace_facts
(
    Project LowCardinality(String),
    TraceId String CODEC(ZSTD(1)),
    Rank UInt8,
    AgentName String,
    AgentVersion String,
    UserId String,
    SessionId String,
    TraceName String,
    LeafUsage UInt8,
    IngestTime DateTime64(3) DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(IngestTime)
ORDER BY (Project, TraceId);

-- 3. The text of GenAI content that arrives as log records, rendered at ingest like span
--    text, so that search finds it whichever arrives first (storage/filters.py).
ALTER TABLE log_records ADD COLUMN IF NOT EXISTS InputText String DEFAULT '' CODEC(ZSTD(3));
ALTER TABLE log_records ADD COLUMN IF NOT EXISTS OutputText String DEFAULT '' CODEC(ZSTD(3));
ALTER TABLE log_records ADD INDEX IF NOT EXISTS idx_log_text lowerUTF8(concatWithSeparator(' ', InputText, OutputText)) TYPE tokenbf_v1(65536, 3, 0) GRANULARITY 1;

-- 4. OTLP metrics (POST /v1/metrics, gRPC MetricsService), one row per data point, after the
--    OpenTelemetry Collector clickhouseexporter's otel_metrics_* tables folded into one:
--    MetricType is Sum, Gauge, Histogram, ExponentialHistogram or Summary; Value holds a sum's
--    or gauge's value, Count/Sum/Min/Max/BucketCounts/ExplicitBounds a histogram's. The GenAI
--    client metrics' attributes (model, provider, operation, token type) get columns.
CREATE TABLE IF NOT EXISTS metrics
(
    Project LowCardinality(String),
    MetricName LowCardinality(String),
    MetricDescription String CODEC(ZSTD(1)),
    MetricUnit LowCardinality(String),
    MetricType LowCardinality(String),
    ServiceName LowCardinality(String),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    Attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    SeriesId String CODEC(ZSTD(1)),
    StartTimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),
    TimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),
    AggregationTemporality Int32,
    IsMonotonic Bool,
    Value Float64,
    Count UInt64,
    Sum Float64,
    Min Float64,
    Max Float64,
    BucketCounts Array(UInt64),
    ExplicitBounds Array(Float64),
    Operation LowCardinality(String),
    Provider LowCardinality(String),
    RequestModel LowCardinality(String),
    ResponseModel LowCardinality(String),
    TokenType LowCardinality(String),
    AgentName LowCardinality(String),
    IngestTime DateTime64(3) DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(IngestTime)
PARTITION BY toDate(TimeUnix)
ORDER BY (Project, MetricName, SeriesId, TimeUnix);
ALTER TABLE metrics MODIFY SETTING non_replicated_deduplication_window = 10000;
