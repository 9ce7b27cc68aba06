-- The notification outbox names the collector that queued each row (docs/alerts.md,
-- docs/decisions/0025-alert-transitions-decided-once.md): with several collectors on one
-- store, a row is delivered by its owner only, or by any collector once it has been due for
-- longer than the takeover time (its owner stopped). Rows queued before this have no owner:
-- any collector delivers them, as before.
ALTER TABLE notifications ADD COLUMN IF NOT EXISTS Owner String DEFAULT '';
