"""OTLP metrics (``POST /v1/metrics``, gRPC MetricsService) → ``metrics`` rows, one per data point.

OpenLLMetry and Logfire export the GenAI client metrics (``gen_ai.client.token.usage``,
``gen_ai.client.operation.duration``, …) by default; they are stored in the spirit of the
OpenTelemetry Collector's ClickHouse exporter, with the GenAI attributes that say which model,
provider, operation and token type a point counts as columns (storage/metrics.py reads them).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from flightlog import semconv as sc

from flightlog.collector.ingest.decode import DEFAULT_MAX_BODY_BYTES, _parse, attributes, decompress

_TYPES = {"sum": "Sum", "gauge": "Gauge", "histogram": "Histogram",
          "exponential_histogram": "ExponentialHistogram", "summary": "Summary"}


def _text(value: Any) -> str:
    return "" if value is None else value if isinstance(value, str) else json.dumps(value, ensure_ascii=False,
                                                                                   sort_keys=True)


def _first(attrs: Mapping[str, Any], keys: tuple[str, ...]) -> str:
    return next((_text(attrs[k]) for k in keys if attrs.get(k) not in (None, "")), "")


def _number(point: Any) -> float:
    which = point.WhichOneof("value") if hasattr(point, "WhichOneof") else None
    if which == "as_int":
        return float(point.as_int)
    if which == "as_double":
        return float(point.as_double)
    return 0.0


def metric_rows(project: str, request: ExportMetricsServiceRequest) -> list[list[Any]]:
    """The ``metrics`` rows (METRIC_COLUMNS order) of one export request."""
    rows: list[list[Any]] = []
    for rm in request.resource_metrics:
        resource = attributes(rm.resource.attributes)
        resource_text = {k: _text(v) for k, v in resource.items()}
        service = _text(resource.get(sc.SERVICE_NAME))
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                if kind not in _TYPES:
                    continue
                data = getattr(metric, kind)
                temporality = int(getattr(data, "aggregation_temporality", 0) or 0)
                monotonic = bool(getattr(data, "is_monotonic", False))
                for point in data.data_points:
                    attrs = attributes(point.attributes)
                    attrs_text = {k: _text(v) for k, v in attrs.items()}
                    series = hashlib.sha256(json.dumps(
                        [metric.name, kind, resource_text, sm.scope.name, attrs_text], sort_keys=True,
                        ensure_ascii=False).encode()).hexdigest()[:32]
                    value, count, total, low, high, buckets, bounds = 0.0, 0, 0.0, 0.0, 0.0, [], []
                    if kind in ("sum", "gauge"):
                        value = _number(point)
                    elif kind in ("histogram", "exponential_histogram", "summary"):
                        count, total = int(point.count), float(point.sum)
                        value = total
                        if kind != "summary":
                            low = float(point.min) if point.HasField("min") else 0.0
                            high = float(point.max) if point.HasField("max") else 0.0
                        if kind == "histogram":
                            buckets, bounds = [int(c) for c in point.bucket_counts], [float(b) for b in point.explicit_bounds]
                    rows.append([
                        project, metric.name, metric.description, metric.unit, _TYPES[kind], service,
                        resource_text, sm.scope.name, sm.scope.version, attrs_text, series,
                        int(point.start_time_unix_nano), int(point.time_unix_nano or point.start_time_unix_nano),
                        temporality, monotonic, value, count, total, low, high, buckets, bounds,
                        _text(attrs.get(sc.OPERATION)), _first(attrs, sc.READ_PROVIDER),
                        _text(attrs.get(sc.REQUEST_MODEL)), _text(attrs.get(sc.RESPONSE_MODEL)),
                        _text(attrs.get(sc.METRIC_TOKEN_TYPE)), _first(attrs, sc.READ_AGENT_NAME),
                    ])
    return rows


def decode_metrics(body: bytes, content_type: str | None, content_encoding: str | None = None,
                   *, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> ExportMetricsServiceRequest:
    """Decode a ``POST /v1/metrics`` body (protobuf or OTLP/JSON), or raise a collector error."""
    raw = decompress(body, content_encoding, max_bytes=max_bytes)
    return _parse(raw, content_type, ExportMetricsServiceRequest())
