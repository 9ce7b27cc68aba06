"""The HTTP API under ``/api``: what the UI, the SDK's control calls, the CLI and ``curl`` see.

Owns the routes — :mod:`.query` (traces, search, cost, facets), :mod:`.insights`
(trace-back, monitoring), :mod:`.audit` (chain, access log, exports, checkpoints, reviews),
:mod:`.admin` (keys, retention, holds, budgets, review settings) and :mod:`.budgets` (the
SDK's budget lookup) — their response models (:mod:`.models`, documented in /openapi.json
and held to by the tests; :mod:`flightlog.collector.contract` says how) and the FastAPI
dependencies every route shares (:mod:`.deps`: key and role, project, ids, time windows).

May import: :mod:`flightlog.storage`, :mod:`flightlog.collector.audit`,
:mod:`flightlog.collector.genai` and the collector's top-level shared modules. Never the
ingest internals, the CLI or the demo.
"""
