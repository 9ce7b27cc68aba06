-- Every table keeps the hashes of its last inserted blocks (as spans, log_records and metrics
-- do since 0015/0018), so an insert named with insert_deduplication_token is stored once:
-- `flightlog store copy` names each page it copies after its bytes, so running it again, or
-- after a crash half way, inserts nothing twice (docs/scale-out.md); the writer's trace_facts
-- tokens now hold too. Tables filled by materialized views are replaced by the copy instead.
-- A block inserted without a token is deduplicated by its content: every table's rows carry
-- a time or a version, so equal blocks are repeats.
ALTER TABLE projects MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE api_keys MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE chain_batches MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE chain_spans MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE chain_deletions MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE access_log MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE retention_policies MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE legal_holds MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE governance_log MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE review_settings MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE review_queue MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE review_scores MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE budgets MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE budget_alerts MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE chain_cost_revisions MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE price_tables MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE approvals MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE control_pauses MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE policies MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE notification_settings MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE notifications MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE trace_facts MODIFY SETTING non_replicated_deduplication_window = 10000;
