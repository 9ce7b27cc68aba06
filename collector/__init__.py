"""Flightlog collector: OTLP ingest, the query/audit/admin API and the ``flightlog`` command.

One package per concern; each package's docstring says what it owns and what it may import
(the rules are checked by ``tests/test_architecture.py``, the reasons are in
``docs/architecture.md``):

- :mod:`.ingest` — OTLP over HTTP and gRPC: decode, limits, mapping, redaction, pricing,
  the durable spool and the batch writer.
- :mod:`.genai` — reading GenAI message content (span attributes and log records) as text;
  shared by ingest (at write time) and the API (log records joined at read time).
- :mod:`.api` — the HTTP API under ``/api`` (query, insights, audit, admin) and its
  dependencies (keys, roles, projects, ids, time windows).
- :mod:`.audit` — the tamper-evident chain, exports, the access log, budgets, reviews and
  the background jobs that run them.
- :mod:`.cli` — the ``flightlog`` command.
- :mod:`.demo` — the demo traces; only the CLI imports it, the server never needs it.

Top-level modules hold what every package shares: :mod:`.app` (the composition root that
wires the packages into one FastAPI app), :mod:`.config`, :mod:`.errors`, :mod:`.auth`,
:mod:`.bootstrap`, :mod:`.metrics`, :mod:`.logconfig` and :mod:`.contract` (how every route
answers its documented response model; the API's models are in :mod:`.api.models`).
"""
