"""The export side: an exporter guard and a processor that stamps run facts on foreign spans.

Both follow OpenTelemetry's SpanProcessor/SpanExporter contracts: ``on_start``/``on_end`` run on
the agent's thread and never block or raise; ``export`` returns a ``SpanExportResult`` and never
raises. The batching itself is OpenTelemetry's ``BatchSpanProcessor`` (a bounded deque that
drops the oldest span when full; export runs with instrumentation suppressed).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from . import _keys

_logger = logging.getLogger("flightlog")


class OutageLogFilter(logging.Filter):
    """Lets one warning per outage through from OpenTelemetry's OTLP exporter logger.

    That exporter logs every retry of every batch; with the collector down this would flood the
    agent's logs. The ``GuardedExporter`` re-arms the filter when an export succeeds again.
    """

    def __init__(self) -> None:
        super().__init__("flightlog-outage")
        self.logged = False

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        if self.logged:
            return False
        self.logged = True
        return True


class GuardedExporter(SpanExporter):
    """Wraps an exporter so that failures are counted and logged once, never raised.

    The first failed export after a success logs one warning; further failures are logged at
    DEBUG until an export succeeds again, which logs one INFO line.
    """

    def __init__(self, inner: SpanExporter, *, target: str = "", log_filter: OutageLogFilter | None = None) -> None:
        self.inner = inner
        self.log_filter = log_filter
        self.target = target
        self.exported_spans = 0
        self.failed_spans = 0
        self._failing = False
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self.inner.export(spans)
        except Exception:  # noqa: BLE001 - exporter is foreign code on the export path; never raise (O3)
            _logger.debug("flightlog: exporter raised", exc_info=True)
            result = SpanExportResult.FAILURE
        with self._lock:
            if result is SpanExportResult.SUCCESS:
                self.exported_spans += len(spans)
                if self.log_filter is not None:
                    self.log_filter.logged = False
                if self._failing:
                    self._failing = False
                    _logger.info("flightlog: export to %s recovered", self.target or "exporter")
            else:
                self.failed_spans += len(spans)
                if not self._failing:
                    self._failing = True
                    _logger.warning(
                        "flightlog: export to %s failed; %d span(s) dropped. Further failures are logged at "
                        "DEBUG until it recovers; the agent keeps running.",
                        self.target or "exporter", len(spans))
                else:
                    _logger.debug("flightlog: export failed again; %d span(s) dropped", len(spans))
        return result

    def shutdown(self) -> None:
        try:
            self.inner.shutdown()
        except Exception:  # noqa: BLE001 - shutdown of foreign code must not break interpreter exit
            _logger.debug("flightlog: exporter shutdown raised", exc_info=True)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        try:
            return bool(self.inner.force_flush(timeout_millis))
        except Exception:  # noqa: BLE001 - see shutdown
            _logger.debug("flightlog: exporter force_flush raised", exc_info=True)
            return False


class RunFactsProcessor(SpanProcessor):
    """Copies the enclosing run's facts (agent, version, user, session, project) onto spans made
    by other instrumentations (OpenAI, HTTP clients, …) inside a flightlog ``agent_run``."""

    def __init__(self, project: str | None) -> None:
        self._project = project
        self._retired = False

    def shutdown(self) -> None:
        # OpenTelemetry has no way to remove a processor from a provider, so a re-init leaves
        # this one in place; once shut down it does nothing.
        self._retired = True

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        if self._retired:
            return
        try:
            attributes = span.attributes or {}
            if _keys.SPAN_TYPE in attributes:
                return  # a flightlog span already carries the facts
            run = otel_context.get_value(_keys.RUN_CONTEXT_KEY, parent_context)
            facts = getattr(run, "facts", None)
            if facts:
                span.set_attributes(facts)
            elif self._project:
                span.set_attribute(_keys.PROJECT, self._project)
        except Exception:  # noqa: BLE001 - runs on the agent's thread; must never raise (O1)
            _logger.debug("flightlog: RunFactsProcessor.on_start failed", exc_info=True)
