"""Keys of the flightlog values carried in the OpenTelemetry context (the current run and step)."""

from __future__ import annotations

from opentelemetry import context as otel_context

RUN_CONTEXT_KEY = otel_context.create_key("flightlog.run")
STEP_CONTEXT_KEY = otel_context.create_key("flightlog.step")
