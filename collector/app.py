"""The collector's FastAPI application: OTLP ingest, the query API and health.

``create_app`` wires the parts (store, authenticator, writer, price table) and installs the
single exception handler that turns collector and storage errors into statuses
(docs/decisions/0010-errors-translated-at-each-boundary.md).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from google.rpc.status_pb2 import Status

from flightlog.storage import InvalidQuery, QueryTimeout, Store, StorageError, open_store
from flightlog.storage import generations
from flightlog.storage.audit import record_price_table
from flightlog.storage.dsn import parse_dsn
from flightlog.storage.leases import Lease

from flightlog.collector.api import (admin, alerts, approvals, audit, budgets, control, datasets, experiments,
                                      insights, models, online, query)
from flightlog.collector.audit import anchors
from flightlog.collector.online_eval import OnlineEvaluator
from flightlog.collector.audit.access_log import AccessLogMiddleware
from flightlog.collector.audit.anchors import Anchorer, load_or_create_key
from flightlog.collector.audit.services import AuditServices
from flightlog.collector.control.services import ControlServices
from flightlog.collector.ingest import redact
from flightlog.collector.ingest import routes as ingest
from flightlog.collector.auth import KEY_SNAPSHOT_FILE, READ_ROLES, Authenticator
from flightlog.collector.bootstrap import bootstrap
from flightlog.collector.config import Settings, instance_id
from flightlog.collector.contract import ContractRoute, errors, respond, without_422
from flightlog.collector.ingest.decode import PROTOBUF, media_type
from flightlog.collector.errors import RETRY_AFTER_S, CollectorError
from flightlog.collector.metrics import CONTENT_TYPE, Metrics
from flightlog.collector.pricing import load_prices
from flightlog.collector.ingest.spool import Spool
from flightlog.collector.ingest.facts import TraceFacts
from flightlog.collector.ingest.writer import BatchWriter

log = logging.getLogger(__name__)


class Collector:
    """Everything a request handler needs, built once per process."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.ingest_workers: Any = None  # IngestWorkers when --ingest-workers > 0 (set in start)
        self.auth = Authenticator(store, snapshot_path=Path(settings.data_dir) / KEY_SNAPSHOT_FILE)
        self.dev_keys: dict[str, str] = {}
        self._stopping = threading.Event()
        self.prices = load_prices(settings.prices_file or None)
        # what earlier requests said of each trace's agent, user and session (docs/decisions/0013)
        self.trace_facts = TraceFacts(store)
        self.spool = Spool(
            Path(settings.data_dir) / "spool",
            fsync=settings.spool_fsync,
            segment_rows=settings.batch_rows,
            max_age=settings.flush_interval_ms / 1000,
            max_wait=settings.busy_flush_ms / 1000,
            max_bytes=settings.max_spool_bytes,
            max_cached_rows=settings.max_pending_rows,
            min_free_bytes=settings.min_free_disk_bytes,
        )
        if self.spool.replayed_segments:
            log.warning("replaying %d spool segments left by the previous run", self.spool.replayed_segments)
        self.metrics = Metrics(self.spool.stats)
        # who this collector is among those sharing the store (kept in its data dir)
        self.instance_id = instance_id(Path(settings.data_dir))
        self.span_lease = Lease(store, "spans", self.instance_id, ttl_s=settings.store_lease_s)
        # audit: chains each batch before insert, buffers the access log, runs retention/budgets
        self.audit = AuditServices(store, settings, anchorer=_anchorer(settings, store), stream=self.instance_id)
        self.writer = BatchWriter(
            store, self.spool, on_stored=self.metrics.spans_stored.inc, on_retry=self.metrics.write_retries.inc,
            prepare=self.audit.prepare, lease=self.span_lease,
        )
        # control loop: approvals, pauses, policies, notifications; its events are spans, spooled
        # and chained like ingested ones
        rules = redact.rules_from_settings(settings)
        self.control = ControlServices(store, emit=self.writer.submit,
                                       redact=lambda value: redact.redact_value(value, rules, {}),
                                       owner=self.instance_id, lease_s=settings.store_lease_s,
                                       alert_interval_s=settings.alert_interval_s)
        # online evaluation: evaluator rules score sampled arriving runs (docs/evaluation.md)
        # one collector at a time runs a pass when several share the store (docs/decisions/0042)
        online_lease = Lease(store, "online-eval", self.instance_id, ttl_s=max(settings.store_lease_s, 60.0)) \
            if not store.settings.embedded else None
        self.online = OnlineEvaluator(
            store, interval_s=settings.online_eval_interval, lease=online_lease,
            on_pass=lambda ran: self.metrics.online_eval_passes.labels("ran" if ran else "skipped").inc())

    def start(self) -> None:
        """Start the background threads: the writer drains the spool, the audit jobs run.

        A store that does not answer yet (a server DSN during an outage) is connected in the
        background; until then ingest is spooled and the readiness check says why.
        """
        self.store.on_connect(self._connected)
        if self.settings.ingest_workers > 0:
            from flightlog.collector.ingest.workers import IngestWorkers

            self.ingest_workers = IngestWorkers(self.settings, self.settings.ingest_workers)
            self.ingest_workers.on_ready = self.metrics.ingest_workers_ready.set
            self.ingest_workers.warm_up_in_background()
        self.writer.start()
        self.audit.start()
        self.control.start()
        self.online.start()
        if not self.store.connected:
            self._connector = threading.Thread(target=self._connect_store, name="flightlog-connect", daemon=True)
            self._connector.start()
        if not self.store.settings.embedded:  # other collectors may change what this one caches
            threading.Thread(target=self._watch_generations, name="flightlog-generations", daemon=True).start()

    def _watch_generations(self) -> None:
        """Drop cached keys when a key changed anywhere on the store (storage/generations.py)."""
        seen: dict[str, int] | None = None
        while not self._stopping.wait(self.settings.cache_poll_ms / 1000):
            try:
                now = generations.current(self.store)
            except StorageError:
                continue  # the store is away: keys come from the snapshot meanwhile
            if seen is not None and now.get(generations.KEYS) != seen.get(generations.KEYS):
                log.info("keys changed on the store: cached key lookups dropped")
                self.auth.forget()
            seen = now

    def _connect_store(self) -> None:
        while not self.store.connected and not self._stopping.is_set():
            try:
                self.store.query_rows("SELECT 1")
            except StorageError:
                self._stopping.wait(0.5)  # the store's own backoff paces the real attempts

    def _connected(self, store: Store) -> None:
        """First contact with the store: keys for a new instance, the key snapshot for outages."""
        # Collectors started together on a new server make the first keys once (docs/scale-out.md).
        with Lease(store, "bootstrap", self.instance_id, ttl_s=60).hold(timeout=60):
            self.dev_keys = bootstrap(store, self.settings.data_dir, self.settings.project)
        self.auth.save_snapshot()
        # Costs priced from now on name this table: keep it, so audit can recompute them.
        record_price_table(store, self.prices.version, self.prices.sha256, self.prices.body)

    def close(self) -> None:
        self._stopping.set()
        if self.ingest_workers is not None:
            self.ingest_workers.close()
        self.online.close()
        self.control.close()
        self.writer.close()
        self.audit.close()  # audit: after the writer, so the last batches are chained


def _anchorer(settings: Settings, store: Store) -> Anchorer | None:
    """Signs chain heads to the configured sink (docs/audit.md, "Anchors outside the store")."""
    if settings.anchor_interval_s <= 0:
        return None
    data_dir = Path(settings.data_dir)
    key = load_or_create_key(Path(settings.anchor_key) if settings.anchor_key else data_dir / anchors.KEY_FILE)
    return Anchorer(store, key, settings.anchor_sink or str(data_dir / anchors.SINK_FILE))


def _error_response(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    headers = {**(headers or {}), **({"Retry-After": str(RETRY_AFTER_S)} if status in (429, 503) else {})}
    # OTLP/HTTP: an error answer to a protobuf request is a google.rpc.Status message.
    if request.url.path.startswith("/v1/") and media_type(request.headers.get("content-type")) == PROTOBUF:
        body = Status(code=status, message=message).SerializeToString()
        return Response(body, status_code=status, media_type=PROTOBUF, headers=headers)
    return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)


def create_app(settings: Settings | None = None, *, store: Store | None = None) -> FastAPI:
    """Build the app. The store is opened at start-up (or taken as given) and closed at shutdown."""
    settings = settings or Settings.from_env()
    owns_store = store is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        # A server may be down while the collector starts: connect lazily, spool meanwhile. The
        # embedded store is this process's own directory: open it now, so a second process fails fast.
        opened = store or open_store(settings.dsn, lazy=not parse_dsn(settings.dsn).embedded)
        app.state.collector = Collector(settings, opened)
        app.state.collector.start()
        grpc_server = None
        if settings.grpc_port:
            from flightlog.collector.ingest.grpc import start_grpc_server

            grpc_server = await start_grpc_server(app.state.collector, settings.host, settings.grpc_port)
        log.info("collector ready on %s:%s, store %s", settings.host, settings.port, opened)
        try:
            yield
        finally:
            if grpc_server is not None:
                await grpc_server.stop(5)
            app.state.collector.close()
            if owns_store:
                opened.close()

    app = FastAPI(
        title="Flightlog collector",
        version="0.1.0",
        description="OTLP/HTTP ingest for agent traces and the read-only query API.",
        lifespan=lifespan,
    )
    app.router.route_class = ContractRoute

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = without_422(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(CollectorError)
    async def _collector_error(request: Request, exc: CollectorError) -> Response:
        return _error_response(request, exc.status, exc.message)

    @app.exception_handler(InvalidQuery)
    async def _invalid_query(request: Request, exc: InvalidQuery) -> Response:
        return _error_response(request, 400, str(exc))

    @app.exception_handler(QueryTimeout)
    async def _timeout(request: Request, exc: QueryTimeout) -> Response:
        return _error_response(request, 503, f"{exc}; narrow the time range or filters")

    @app.exception_handler(StorageError)
    async def _storage(request: Request, exc: StorageError) -> Response:
        # The engine's text stays in the log: clients get a plain reason (docs/decisions/0010).
        log.error("storage error on %s: %s", request.url.path, exc)
        return _error_response(request, 503, "store unavailable; retry later")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        # Routing (404 no such route, 405 wrong method) and FastAPI's own body parsing (400 "There was
        # an error parsing the body") raise these: answered like every other error (ErrorBody).
        return _error_response(request, exc.status_code, str(exc.detail), dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg')}" for e in exc.errors()
        )
        return _error_response(request, 400, f"invalid parameters: {problems}")

    @app.middleware("http")
    async def _count_requests(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        collector = getattr(request.app.state, "collector", None)
        if collector is not None:
            route = request.scope.get("route")
            path = getattr(route, "path", "unmatched")
            collector.metrics.requests.labels(path, str(response.status_code)).inc()
            if path.startswith("/v1/") and response.status_code >= 400:
                collector.metrics.requests_rejected.labels(str(response.status_code)).inc()
        return response

    @app.get("/healthz", tags=["health"], response_model=models.Health)
    async def healthz() -> Response:
        """Liveness; needs no key."""
        return respond({"status": "ok"})

    @app.get("/readyz", tags=["health"], response_model=models.Readiness,
             responses={503: {"model": models.Readiness, "description": "Not ready: the problems are listed"}})
    async def readyz(request: Request) -> Response:
        """Readiness: the writer runs, the store answers and the spool has room. No key needed."""
        collector = request.app.state.collector
        problems = []
        if not collector.writer.alive:
            problems.append("writer thread stopped")
        if not collector.writer.healthy:
            problems.append("store refuses writes (data is spooled and retried)")
        stats = collector.spool.stats()
        if stats["bytes"] > 0.9 * collector.settings.max_spool_bytes:
            problems.append(f"spool {stats['bytes']:.0f} bytes is near its limit")
        problems += collector.spool.problems()
        try:
            await run_in_threadpool(collector.store.query_rows, "SELECT 1")
        except StorageError:
            problems.append("store unreachable (data is spooled; the collector log has the details)")
        body = {"status": "ready" if not problems else "not ready", "problems": problems, "spool": stats}
        return JSONResponse(body, status_code=200 if not problems else 503)

    @app.get("/metrics", tags=["health"], response_class=PlainTextResponse,
             responses={200: {"description": "Prometheus text exposition format"},
                        **errors(401, 403, 503, non_json_route=True)})
    async def metrics(request: Request) -> Response:
        """Prometheus metrics; needs a read or admin key (scrapers send it as a bearer token)."""
        collector = request.app.state.collector
        collector.auth.require(request.headers, READ_ROLES)
        return Response(collector.metrics.render(), media_type=CONTENT_TYPE)

    app.include_router(ingest.router)
    for api in (query, insights, audit, admin, budgets, approvals, control, alerts, datasets, experiments, online):
        app.include_router(api.router)
    app.add_middleware(AccessLogMiddleware)
    return app
