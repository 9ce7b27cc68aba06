-- One audit-chain stream per collector instance (docs/decisions/0040-one-chain-stream-per-collector.md).
-- Several collectors on one server each extend their own stream of a project's chain, named by
-- the collector's instance id, so their links never collide. Links written before this
-- migration are the single stream '' of each project and keep verifying as they are. The
-- stream joins the sorting key (at its end: ClickHouse allows appending a column added in the
-- same statement), so links and entries with the same Seq in two streams are two rows.
ALTER TABLE chain_batches ADD COLUMN IF NOT EXISTS Stream String, MODIFY ORDER BY (Project, Seq, Stream);
ALTER TABLE chain_spans ADD COLUMN IF NOT EXISTS Stream String, MODIFY ORDER BY (Project, Timestamp, TraceId, SpanId, Seq, SpanHash, Stream);
