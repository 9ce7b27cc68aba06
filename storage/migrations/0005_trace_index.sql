-- Trace id → time range. "Trace by id" first reads this small table (sorted by project and
-- trace id), then only the spans parts whose Timestamp range covers the trace, instead of
-- probing the TraceId bloom filter of every daily partition.
CREATE TABLE IF NOT EXISTS trace_index
(
    Project LowCardinality(String),
    TraceId String CODEC(ZSTD(1)),
    Start SimpleAggregateFunction(min, DateTime64(9)),
    End SimpleAggregateFunction(max, DateTime64(9))
)
ENGINE = AggregatingMergeTree
ORDER BY (Project, TraceId);

CREATE MATERIALIZED VIEW IF NOT EXISTS trace_index_mv TO trace_index AS
SELECT Project, TraceId, min(Timestamp) AS Start, max(Timestamp) AS End
FROM spans
GROUP BY Project, TraceId;

-- Existing spans (min and max are idempotent, so a re-run does no harm).
INSERT INTO trace_index
SELECT Project, TraceId, min(Timestamp) AS Start, max(Timestamp) AS End
FROM spans
GROUP BY Project, TraceId;
