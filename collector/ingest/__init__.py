"""OTLP ingest: from request bytes to durable, chained rows of ``spans`` and ``log_records``.

Owns: decoding (:mod:`.decode`, :mod:`.deep`), hostile-input limits (:mod:`.limits`), mapping
conventions to columns (:mod:`.mapping`), redaction (:mod:`.redact`), the per-request pipeline
(:mod:`.pipeline`), the on-disk spool (:mod:`.spool`), the batch writer (:mod:`.writer`),
log-record ingest (:mod:`.logs`) and the OTLP/HTTP and OTLP/gRPC endpoints (:mod:`.routes`,
:mod:`.grpc`).

May import: :mod:`flightlog.storage`, :mod:`flightlog.semconv`, :mod:`flightlog.collector.genai`
and the collector's top-level shared modules (pricing among them). Never the API, audit, CLI or
demo packages: the chain is handed to the writer as a hook by :mod:`flightlog.collector.app`.
"""
