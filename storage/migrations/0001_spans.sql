-- v1 schema: one row per span. The OTel columns follow the OpenTelemetry Collector
-- clickhouseexporter's otel_traces; the agent columns are extracted at ingest so that
-- search, trace views and cost queries never parse attribute maps.
CREATE TABLE IF NOT EXISTS spans
(
    Project LowCardinality(String),
    Timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    Duration UInt64 CODEC(ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    Events Nested
    (
        Timestamp DateTime64(9),
        Name LowCardinality(String),
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    Links Nested
    (
        TraceId String,
        SpanId String,
        TraceState String,
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    SpanType LowCardinality(String),
    Operation LowCardinality(String),
    AgentName LowCardinality(String),
    AgentVersion LowCardinality(String),
    Provider LowCardinality(String),
    RequestModel LowCardinality(String),
    ResponseModel LowCardinality(String),
    PromptId LowCardinality(String),
    PromptVersion LowCardinality(String),
    PromptHash String CODEC(ZSTD(1)),
    InputTokens UInt64,
    OutputTokens UInt64,
    CostUsd Float64,
    CostSource LowCardinality(String),
    PriceVersion LowCardinality(String),
    InputText String CODEC(ZSTD(3)),
    OutputText String CODEC(ZSTD(3)),
    ToolName LowCardinality(String),
    ToolCallId String CODEC(ZSTD(1)),
    ToolArgs String CODEC(ZSTD(3)),
    ToolResult String CODEC(ZSTD(3)),
    UserId String CODEC(ZSTD(1)),
    SessionId String CODEC(ZSTD(1)),
    CheckpointTier UInt8,
    CheckpointDecision LowCardinality(String),
    Approver String CODEC(ZSTD(1)),
    Violation String CODEC(ZSTD(1)),
    ErrorType LowCardinality(String),
    FinishReason LowCardinality(String),
    IngestTime DateTime64(3) DEFAULT now64(3),
    ChainHash String CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_span_id SpanId TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_user UserId TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_session SessionId TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_text concatWithSeparator(' ', InputText, OutputText, ToolArgs, ToolResult)
        TYPE text(tokenizer = splitByNonAlpha,
                  preprocessor = lowerUTF8(concatWithSeparator(' ', InputText, OutputText, ToolArgs, ToolResult)))
)
ENGINE = ReplacingMergeTree(IngestTime)
PARTITION BY toDate(Timestamp)
-- A re-sent span has the same project, start time, trace id and span id, so it lands on
-- the same sorting key and the engine keeps one copy.
ORDER BY (Project, Timestamp, TraceId, SpanId);
