-- Generations: a row per change of shared state that collectors cache (keys today), so every
-- collector on the store drops its cached copy within its poll interval (docs/scale-out.md).
-- Latest Generation per Name wins; the value is a nanosecond clock, so a later change is higher.
CREATE TABLE IF NOT EXISTS store_generations
(
    Name LowCardinality(String),
    Generation UInt64,
    At DateTime64(3) DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(Generation)
ORDER BY Name;
