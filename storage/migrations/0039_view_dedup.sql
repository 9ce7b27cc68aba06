-- The tables the span materialized views fill keep the hashes of their last inserted blocks,
-- as `spans` does (0015): the writer inserts with `deduplicate_blocks_in_dependent_materialized_views`,
-- so each view checks the batch's token for its own copy. A spool segment whose insert landed
-- in `spans` but failed in a view (a full disk, a crash between the two) is completed by its
-- retry, and a view that had its rows already does not count them twice
-- (docs/decisions/0006-dedupe-at-insert.md).
ALTER TABLE trace_index MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE usage_hourly MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE usage_users_daily MODIFY SETTING non_replicated_deduplication_window = 10000;
