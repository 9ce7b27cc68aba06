-- A claim on an alert transition is an insert-if-absent (docs/decisions/0025-alert-transitions-decided-once.md):
-- every claimant inserts with the same deduplication token (rule, transition, round), so the
-- store keeps exactly one row per round, and whoever's row it is decides the transition.
ALTER TABLE alert_claims MODIFY SETTING non_replicated_deduplication_window = 1000;
