"""The control loop: approvals a named person decides (:mod:`.approvals`), the kill switch and
central policies (:mod:`.state`), webhook notifications (:mod:`.notify`), and the event spans
that put every change into the audit chain (:mod:`.events`). State lives in the store
(:mod:`flightlog.storage.control`), so a restart or another collector sees it (docs/control.md).

May import: :mod:`flightlog.storage`, :mod:`flightlog.semconv`, :mod:`flightlog.policy` and the
collector's top-level shared modules. Never ingest, the API, the CLI or the demo: the app hands
it the writer's ``submit`` to emit its event spans.
"""
