-- Tables added since 0031 (evaluation, alerts) keep the hashes of their last inserted blocks too,
-- so `flightlog store copy` stays idempotent for them (see 0031_copy_dedup.sql, docs/scale-out.md).
ALTER TABLE alert_evaluations MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE alert_events MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE alert_rules MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE dataset_items MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE datasets MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE evaluation_rules MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE evaluation_scores MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE experiment_results MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE experiments MODIFY SETTING non_replicated_deduplication_window = 10000;
