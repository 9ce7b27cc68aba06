-- Trace-level and pricing facts copied onto every span row at ingest (docs/decisions/0012-trace-facts-on-every-row.md: list
-- filters need no joins). TraceName is the root span's name; the token columns keep the
-- cached-input and reasoning parts that pricing used, so rollups and `prices recompute`
-- need not parse attribute maps. Old rows read the defaults.
ALTER TABLE spans ADD COLUMN IF NOT EXISTS TraceName LowCardinality(String) DEFAULT '';
ALTER TABLE spans ADD COLUMN IF NOT EXISTS CachedInputTokens UInt64 DEFAULT 0;
ALTER TABLE spans ADD COLUMN IF NOT EXISTS ReasoningTokens UInt64 DEFAULT 0;
