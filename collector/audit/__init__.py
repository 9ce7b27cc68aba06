"""Audit and governance services: the tamper-evident chain (:mod:`.chain`), exports and their
manifests (:mod:`.export`), the access log (:mod:`.access_log`), daily budgets and their
alerts (:mod:`.budgets`), human review sampling (:mod:`.reviews`) and the background jobs
that run them (:mod:`.services`).

May import: :mod:`flightlog.storage` and the collector's top-level shared modules. Never
ingest, the API, the CLI or the demo.
"""
