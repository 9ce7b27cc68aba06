-- Insert deduplication: the writer names each spool segment's insert with a token
-- (collector instance, segment, table), so a segment stored again after a crash or a retry
-- is a no-op, rollup materialized views included. MergeTree tables keep no insert hashes
-- unless given a window; Replicated tables (cluster mode) keep 1000 by default.
ALTER TABLE spans MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE log_records MODIFY SETTING non_replicated_deduplication_window = 10000;
