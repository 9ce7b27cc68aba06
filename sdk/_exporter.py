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
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode

from . import semconv
from ._context import RUN_CONTEXT_KEY

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


_MAX_OPEN_FOREIGN_SPANS = 10_000
# A foreign span is an LLM call when one of these says so (GenAI, OpenInference, OpenLLMetry).
_LLM_OPERATIONS = frozenset({"chat", "text_completion", "generate_content"})


_INPUT_TOKEN_KEYS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt",
                     "llm.usage.prompt_tokens")
_OUTPUT_TOKEN_KEYS = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion",
                      "llm.usage.completion_tokens")


def _first_count(attributes: Any, keys: tuple[str, ...]) -> int:
    for key in keys:
        value = attributes.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return 0


class RunFactsProcessor(SpanProcessor):
    """Copies the enclosing run's facts (agent, version, user, session, project) onto spans made
    by other instrumentations (OpenAI, HTTP clients, …) inside a flightlog ``agent_run``, and lets
    their LLM calls decide like flightlog's own (``flightlog.decided_by.*`` on later steps)."""

    def __init__(self, project: str | None) -> None:
        self._project = project
        self._retired = False
        self._open: dict[int, Any] = {}  # span id -> run, for foreign spans started inside a run

    def shutdown(self) -> None:
        # OpenTelemetry has no way to remove a processor from a provider, so a re-init leaves
        # this one in place; once shut down it does nothing.
        self._retired = True

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        if self._retired:
            return
        try:
            attributes = span.attributes or {}
            if semconv.SPAN_TYPE in attributes:
                return  # a flightlog span already carries the facts
            run = otel_context.get_value(RUN_CONTEXT_KEY, parent_context)
            facts = getattr(run, "facts", None)
            if facts:
                span.set_attributes(facts)
                if len(self._open) >= _MAX_OPEN_FOREIGN_SPANS:  # spans that never end: forget the oldest
                    self._open.pop(next(iter(self._open)), None)
                self._open[span.context.span_id] = run
            elif self._project:
                span.set_attribute(semconv.PROJECT, self._project)
        except Exception:  # noqa: BLE001 - runs on the agent's thread; must never raise (O1)
            _logger.debug("flightlog: RunFactsProcessor.on_start failed", exc_info=True)

    def on_end(self, span: ReadableSpan) -> None:
        if not self._open:
            return
        try:
            run = self._open.pop(span.context.span_id, None)
            if run is None:
                return
            attributes = span.attributes or {}
            if not (attributes.get("gen_ai.operation.name") in _LLM_OPERATIONS
                    or attributes.get("openinference.span.kind") == "LLM" or "llm.request.type" in attributes):
                return
            # Its call and tokens count toward the run's limits (checked at flightlog's next step).
            run.count("llm")
            tokens = [_first_count(attributes, keys) for keys in (_INPUT_TOKEN_KEYS, _OUTPUT_TOKEN_KEYS)]
            if any(tokens):
                run.add_usage(tokens[0], tokens[1], 0.0)
            model = (attributes.get("gen_ai.response.model") or attributes.get("gen_ai.request.model")
                     or attributes.get("llm.model_name") or attributes.get("llm.response.model"))
            if span.status.status_code is StatusCode.ERROR or not (isinstance(model, str) and model):
                return
            version = attributes.get("llm.prompt_template.version")  # OpenInference prompt templates
            run.record_llm(span.context.span_id, model, prompt_version=version if isinstance(version, str) else None)
        except Exception:  # noqa: BLE001 - runs on the agent's thread; must never raise (O1)
            _logger.debug("flightlog: RunFactsProcessor.on_end failed", exc_info=True)
