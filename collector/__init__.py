"""Flightlog collector: OTLP ingest and the read-only query API."""
