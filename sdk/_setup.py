"""``init()``, ``flush()`` and ``shutdown()``: wiring the SDK into OpenTelemetry.

If the process already has an SDK ``TracerProvider`` (set by the application or another
instrumentation), ``init()`` joins it by adding flightlog's processors; otherwise it creates one
with a flightlog ``Resource`` and makes it global. Export is batched in the background, so a
slow or absent collector never slows the agent; ``flush()`` and ``shutdown()`` take a timeout
and return instead of hanging.
"""

from __future__ import annotations

import atexit
import importlib.metadata
import dataclasses
import logging
import threading
from collections.abc import Mapping
from typing import Any, Callable

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
)

from . import _env, semconv
from ._config import Config, default_config, resolve_config
from ._exceptions import ConfigurationError
from ._exporter import GuardedExporter, OutageLogFilter, RunFactsProcessor
from ._types import RedactInput

try:
    __version__ = importlib.metadata.version("flightlog")
except importlib.metadata.PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0"
_logger = logging.getLogger("flightlog")


@dataclasses.dataclass
class _State:
    """What ``init()`` set up; replaced as a whole (never mutated) so readers need no lock."""

    config: Config
    tracer: trace.Tracer
    processors: tuple[SpanProcessor, ...] = ()
    exporter: GuardedExporter | None = None
    provider: Any = None


_lock = threading.Lock()
_state: _State | None = None
_atexit_registered = False


def get_state() -> _State:
    """The current state; before ``init()``, defaults with the global tracer (nothing of ours exports)."""
    global _state
    state = _state
    if state is None:
        with _lock:
            if _state is None:
                _state = _State(config=default_config(), tracer=trace.get_tracer("flightlog", __version__))
            state = _state
    return state


def build_resource(config: Config, extra: Mapping[str, Any] | None = None) -> Resource:
    """The Resource for a provider flightlog creates: merged by ``Resource.create`` (env included)."""
    attributes: dict[str, Any] = {
        "service.version": config.agent_version,
        semconv.PROJECT: config.project,
        semconv.AGENT_NAME: config.agent_name,
        semconv.AGENT_VERSION: config.agent_version,
        "deployment.environment": config.environment,
        "deployment.environment.name": config.environment,
        "telemetry.distro.name": "flightlog",
        "telemetry.distro.version": __version__,
    }
    attributes.update(extra or {})
    if config.service_name:
        attributes["service.name"] = config.service_name
    resource = Resource.create({k: v for k, v in attributes.items() if v is not None})
    service = str(resource.attributes.get("service.name", ""))
    if config.agent_name and (not service or service.startswith("unknown_service")):
        resource = resource.merge(Resource({"service.name": config.agent_name}))
    return resource


class _CountingBatchSpanProcessor(BatchSpanProcessor):
    """OpenTelemetry's BatchSpanProcessor, counting the spans its full queue drops."""

    dropped_spans = 0

    def on_end(self, span: Any) -> None:
        queue = getattr(getattr(self, "_batch_processor", None), "_queue", None)
        if queue is not None and queue.maxlen is not None and len(queue) >= queue.maxlen:
            self.dropped_spans += 1  # the deque drops its oldest span on append (O4)
        super().on_end(span)


def _run_with_timeout(fn: Callable[[], Any], timeout_s: float, what: str) -> bool:
    """Run ``fn`` on a daemon thread and wait at most ``timeout_s``; False on timeout or error.

    OpenTelemetry's batch ``force_flush`` ignores its timeout and blocks on the exporter's own
    retry deadline, so the caller's timeout is enforced here.
    """
    outcome: list[bool] = []

    def target() -> None:
        try:
            result = fn()
            outcome.append(result is None or bool(result))
        except Exception:  # noqa: BLE001 - flush/shutdown run at the user boundary; log, never raise
            _logger.exception("flightlog: %s failed", what)
            outcome.append(False)

    worker = threading.Thread(target=target, name=f"flightlog-{what}", daemon=True)
    worker.start()
    worker.join(max(0.0, timeout_s))
    if worker.is_alive():
        _logger.warning("flightlog: %s did not finish within %.1fs; continuing", what, timeout_s)
        return False
    return bool(outcome and outcome[0])


def init(
    *,
    service_name: str | None = None,
    agent_name: str | None = None,
    agent_version: str | None = None,
    project: str | None = None,
    endpoint: str | None = None,
    api_key: str | None = None,
    headers: Mapping[str, str] | None = None,
    environment: str | None = None,
    capture_content: bool | None = None,
    redact: RedactInput = None,
    max_attribute_length: int | None = None,
    max_queue_size: int | None = None,
    resource_attributes: Mapping[str, Any] | None = None,
    tracer_provider: TracerProvider | None = None,
    exporter: SpanExporter | None = None,
    batch: bool = True,
    approvals: str | None = None,
    control: bool | None = None,
    control_staleness_s: float | None = None,
) -> Config:
    """Start recording: resolve settings, join or create a TracerProvider, attach the exporter.

    Example::

        import flightlog
        flightlog.init(agent_name="support-bot", project="acme")

    Parameters:
        service_name, agent_name, agent_version, project, environment: identity; they go on the
            Resource (when flightlog creates the provider) and run facts on every span.
        endpoint: collector base URL (``/v1/traces`` is appended). Env: ``FLIGHTLOG_ENDPOINT``,
            then ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_ENDPOINT``.
        api_key: sent as ``Authorization: Bearer <key>``. Env: ``FLIGHTLOG_API_KEY``.
        headers: extra export headers (merged over ``OTEL_EXPORTER_OTLP_HEADERS``).
        capture_content: record message text, inputs/outputs, tool arguments/results
            (default True; env ``FLIGHTLOG_CAPTURE_CONTENT``).
        redact: a ``str -> str`` hook or regexes (matches become ``[REDACTED]``), applied to
            every content string before it is put on a span.
        max_attribute_length: longest content attribute before truncation (0 = unlimited).
        max_queue_size: spans buffered for export; the oldest are dropped beyond it.
        resource_attributes: extra Resource attributes (only when flightlog creates the provider).
        tracer_provider: an SDK TracerProvider to add flightlog's processors to (not made global).
        exporter: a SpanExporter to use instead of OTLP/HTTP (e.g. ``InMemorySpanExporter``).
        batch: export in the background (default). ``False`` exports on the caller's thread as
            each span ends (tests only: a slow collector would then slow the agent).
        approvals: ``"inbox"`` makes ``flightlog.inbox()`` (the collector's approval inbox) the
            approver of tier-3 checkpoints that name none. Env ``FLIGHTLOG_APPROVALS``.
        control: keep the collector's control state (kill switch, central policies) in memory,
            refreshed by a background thread, and apply it before every run, LLM call and tool
            call. Default: on when spans go over OTLP or an endpoint is set. Env ``FLIGHTLOG_CONTROL``.
        control_staleness_s: after this many seconds without an answer from the collector, an
            agent whose policy says ``on_unreachable: closed`` is refused (default 30). Env
            ``FLIGHTLOG_CONTROL_STALENESS_S``.

    Returns the resolved ``Config``. Calling ``init()`` again replaces the previous pipeline.
    Raises ``ConfigurationError`` (a ``ValueError``) for a bad argument.
    """
    global _state, _atexit_registered
    config = resolve_config(
        service_name=service_name, agent_name=agent_name, agent_version=agent_version, project=project,
        endpoint=endpoint, api_key=api_key, headers=headers, environment=environment,
        capture_content=capture_content, redact=redact, max_attribute_length=max_attribute_length,
        max_queue_size=max_queue_size, batch=batch, approvals=approvals, control=control,
        control_staleness_s=control_staleness_s, custom_exporter=exporter is not None,
    )
    if tracer_provider is not None and not isinstance(tracer_provider, TracerProvider):
        raise ConfigurationError("tracer_provider must be an opentelemetry.sdk.trace.TracerProvider")
    if exporter is not None and not isinstance(exporter, SpanExporter):
        raise ConfigurationError("exporter must be an opentelemetry.sdk.trace.export.SpanExporter")

    shutdown()  # replace any previous pipeline
    if config.disabled:
        with _lock:
            _state = _State(config=config, tracer=trace.NoOpTracer())
        return config

    provider = tracer_provider
    if provider is None:
        current = trace.get_tracer_provider()
        if isinstance(current, TracerProvider):
            provider = current  # join the application's provider
        else:
            provider = TracerProvider(resource=build_resource(config, resource_attributes))
            trace.set_tracer_provider(provider)  # ignored (with a warning) if a foreign one is global

    if exporter is not None:
        guarded = GuardedExporter(exporter, target="exporter")
    else:
        guarded = GuardedExporter(_otlp_exporter(config), target=config.endpoint, log_filter=_otlp_log_filter())
    if config.batch:
        export_processor: SpanProcessor = _CountingBatchSpanProcessor(
            guarded, max_queue_size=config.max_queue_size,
            max_export_batch_size=min(config.max_queue_size, _env.env_int(
                _env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE, _env.DEFAULT_MAX_EXPORT_BATCH_SIZE, minimum=1)))
    else:
        export_processor = SimpleSpanProcessor(guarded)
    facts_processor = RunFactsProcessor(config.project)
    provider.add_span_processor(facts_processor)
    provider.add_span_processor(export_processor)

    with _lock:
        _state = _State(config=config, tracer=provider.get_tracer("flightlog", __version__),
                        processors=(facts_processor, export_processor), exporter=guarded, provider=provider)
        if not _atexit_registered:
            atexit.register(shutdown)
            _atexit_registered = True
    if config.control:
        from . import _control

        _control.start(config.endpoint, config.headers, staleness_s=config.control_staleness_s)
    return config


def _otlp_exporter(config: Config) -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=config.endpoint, headers=dict(config.headers))


_OTLP_LOGGER = "opentelemetry.exporter.otlp.proto.http.trace_exporter"


def _otlp_log_filter() -> OutageLogFilter:
    """The one outage filter on the OTLP exporter's logger (installed once per process)."""
    otlp_logger = logging.getLogger(_OTLP_LOGGER)
    for existing in otlp_logger.filters:
        if isinstance(existing, OutageLogFilter):
            return existing
    log_filter = OutageLogFilter()
    otlp_logger.addFilter(log_filter)
    return log_filter


def flush(timeout_s: float = _env.DEFAULT_FLUSH_TIMEOUT_S) -> bool:
    """Export every finished span now; True if done within ``timeout_s`` seconds.

    Never raises and never waits longer than ``timeout_s``, even with the collector down.
    """
    state = get_state()
    processors = state.processors
    if not processors:
        provider = trace.get_tracer_provider()
        force = getattr(provider, "force_flush", None)
        if force is None:
            return True
        return _run_with_timeout(lambda: force(int(timeout_s * 1000)), timeout_s, "flush")
    return _run_with_timeout(lambda: all(p.force_flush(int(timeout_s * 1000)) for p in processors),
                             timeout_s, "flush")


def shutdown(timeout_s: float = _env.DEFAULT_SHUTDOWN_TIMEOUT_S) -> bool:
    """Flush and stop flightlog's pipeline (the provider itself is left to its owner).

    Spans started afterwards are no longer exported by flightlog. Idempotent; registered with
    ``atexit`` by ``init()`` so short scripts lose nothing. Never raises.
    """
    global _state
    from . import _control

    _control.stop()
    with _lock:
        state = _state
        _state = None
    if state is None or not state.processors:
        return True

    def stop() -> None:
        for processor in state.processors:
            processor.shutdown()

    if _run_with_timeout(stop, timeout_s, "shutdown"):
        return True
    if state.exporter is not None:
        # Still retrying against an unreachable collector: shutting the exporter down ends its
        # backoff wait, so the worker thread stops instead of lingering until its deadline.
        _run_with_timeout(state.exporter.shutdown, 1.0, "exporter shutdown")
    return False


def exporter_stats() -> dict[str, int]:
    """Since ``init()``: spans exported, spans lost to failed exports, and spans dropped because
    the export queue was full (zeros before ``init()``)."""
    state = get_state()
    exporter = state.exporter
    dropped = sum(getattr(p, "dropped_spans", 0) for p in state.processors)
    if exporter is None:
        return {"exported_spans": 0, "failed_spans": 0, "dropped_spans": dropped}
    return {"exported_spans": exporter.exported_spans, "failed_spans": exporter.failed_spans,
            "dropped_spans": dropped}
