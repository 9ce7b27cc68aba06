"""Tests for flightlog.init(): settings precedence, the Resource, and joining a TracerProvider.

Precedence for every setting is argument > FLIGHTLOG_* > OTEL_* > DEFAULT_*; a bad environment
value warns and falls back, a bad argument raises ValueError (ConfigurationError).
"""

from __future__ import annotations

import logging
import os

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once

import flightlog
from flightlog import _env


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith(("FLIGHTLOG_", "OTEL_")):
            monkeypatch.delenv(name)
    yield
    flightlog.shutdown()


@pytest.fixture
def fresh_global_provider():
    """Let a test set the process-wide TracerProvider, then put the old one back."""
    saved = (trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE)
    trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE = None, Once()
    yield
    flightlog.shutdown()
    trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE = saved


def init(**kwargs):
    kwargs.setdefault("tracer_provider", TracerProvider())
    kwargs.setdefault("exporter", InMemorySpanExporter())
    return flightlog.init(**kwargs)


@pytest.mark.parametrize("env,argument,expected", [
    ({}, None, "http://127.0.0.1:4318/v1/traces"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4318"}, None, "http://otel:4318/v1/traces"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4318",
      "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:9999/custom"}, None, "http://traces:9999/custom"),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:9999/custom",
      "FLIGHTLOG_ENDPOINT": "http://fl:4318/"}, None, "http://fl:4318/v1/traces"),
    ({"FLIGHTLOG_ENDPOINT": "http://fl:4318"}, "https://arg.example", "https://arg.example/v1/traces"),
    ({}, "http://arg:4318/v1/traces", "http://arg:4318/v1/traces"),
    ({"FLIGHTLOG_ENDPOINT": "not a url"}, None, "http://127.0.0.1:4318/v1/traces"),
])
def test_endpoint_precedence(monkeypatch, env, argument, expected):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert init(endpoint=argument).endpoint == expected


@pytest.mark.parametrize("env,argument,expected", [
    ({}, None, None),
    ({"FLIGHTLOG_API_KEY": "env-key"}, None, "Bearer env-key"),
    ({"FLIGHTLOG_API_KEY": "env-key"}, "arg-key", "Bearer arg-key"),
    ({"OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Basic%20abc"}, None, "Basic abc"),
    ({"OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Basic%20abc", "FLIGHTLOG_API_KEY": "k"}, None, "Bearer k"),
])
def test_api_key_becomes_bearer_authorization_header(monkeypatch, env, argument, expected):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert init(api_key=argument).headers.get("authorization") == expected


def test_otel_headers_are_kept_alongside_the_api_key(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=blue")
    headers = init(api_key="k").headers
    assert headers == {"x-tenant": "blue", "authorization": "Bearer k"}


def test_config_repr_hides_header_values():
    assert "secret" not in repr(init(api_key="secret"))


@pytest.mark.parametrize("setting,env_name,env_value,argument,expected", [
    ("project", "FLIGHTLOG_PROJECT", "env-proj", None, "env-proj"),
    ("project", "FLIGHTLOG_PROJECT", "env-proj", "arg-proj", "arg-proj"),
    ("agent_name", "FLIGHTLOG_AGENT_NAME", "env-agent", None, "env-agent"),
    ("agent_version", "FLIGHTLOG_AGENT_VERSION", "7", None, "7"),
    ("environment", "FLIGHTLOG_ENVIRONMENT", "staging", "prod", "prod"),
    ("service_name", "FLIGHTLOG_SERVICE_NAME", "svc", None, "svc"),
    ("capture_content", "FLIGHTLOG_CAPTURE_CONTENT", "false", None, False),
    ("capture_content", "FLIGHTLOG_CAPTURE_CONTENT", "false", True, True),
    ("max_attribute_length", "FLIGHTLOG_MAX_ATTRIBUTE_LENGTH", "100", None, 100),
    ("max_attribute_length", "FLIGHTLOG_MAX_ATTRIBUTE_LENGTH", "0", None, None),
    ("max_queue_size", "FLIGHTLOG_MAX_QUEUE_SIZE", "10", None, 10),
    ("approvals", "FLIGHTLOG_APPROVALS", "inbox", None, "inbox"),
    ("approvals", "FLIGHTLOG_APPROVALS", "inbox", "none", None),
    ("control", "FLIGHTLOG_CONTROL", "false", None, False),
    ("control", "FLIGHTLOG_CONTROL", "false", True, True),
    ("control_staleness_s", "FLIGHTLOG_CONTROL_STALENESS_S", "2.5", None, 2.5),
    ("control_staleness_s", "FLIGHTLOG_CONTROL_STALENESS_S", "2.5", 60, 60.0),
])
def test_argument_wins_over_flightlog_env(monkeypatch, setting, env_name, env_value, argument, expected):
    monkeypatch.setenv(env_name, env_value)
    config = init(**({setting: argument} if argument is not None else {}))
    assert getattr(config, setting) == expected


@pytest.mark.parametrize("env_name,bad_value,setting,default", [
    ("FLIGHTLOG_CAPTURE_CONTENT", "maybe", "capture_content", _env.DEFAULT_CAPTURE_CONTENT),
    ("FLIGHTLOG_MAX_ATTRIBUTE_LENGTH", "long", "max_attribute_length", _env.DEFAULT_MAX_ATTRIBUTE_LENGTH),
    ("FLIGHTLOG_MAX_ATTRIBUTE_LENGTH", "-5", "max_attribute_length", _env.DEFAULT_MAX_ATTRIBUTE_LENGTH),
    ("FLIGHTLOG_MAX_QUEUE_SIZE", "0", "max_queue_size", _env.DEFAULT_MAX_QUEUE_SIZE),
    ("FLIGHTLOG_APPROVALS", "slack", "approvals", None),
    ("FLIGHTLOG_CONTROL", "sometimes", "control", False),  # an in-memory exporter and no endpoint: off
    ("FLIGHTLOG_CONTROL_STALENESS_S", "soon", "control_staleness_s", _env.DEFAULT_CONTROL_STALENESS_S),
    ("FLIGHTLOG_CONTROL_STALENESS_S", "-1", "control_staleness_s", _env.DEFAULT_CONTROL_STALENESS_S),
])
def test_bad_env_value_warns_and_falls_back_to_default(monkeypatch, caplog, env_name, bad_value, setting, default):
    monkeypatch.setenv(env_name, bad_value)
    with caplog.at_level(logging.WARNING, logger="flightlog"):
        config = init()
    assert getattr(config, setting) == default
    assert env_name in caplog.text


@pytest.mark.parametrize("kwargs", [
    {"endpoint": "ftp://x"},
    {"project": ""},
    {"api_key": "  "},
    {"capture_content": "yes"},
    {"max_attribute_length": -1},
    {"max_queue_size": 0},
    {"redact": 42},
    {"redact": ["("]},
    {"tracer_provider": object()},
    {"exporter": object()},
    {"approvals": "slack"},
    {"control": "yes"},
    {"control_staleness_s": 0},
    {"control_staleness_s": float("inf")},
])
def test_bad_argument_raises_value_error(kwargs):
    with pytest.raises(ValueError):
        init(**kwargs)


def test_bad_argument_is_a_flightlog_error():
    with pytest.raises(flightlog.FlightlogError):
        init(max_queue_size=-3)


def test_init_joins_an_existing_global_provider(fresh_global_provider):
    app_exporter = InMemorySpanExporter()
    app_provider = TracerProvider()
    app_provider.add_span_processor(SimpleSpanProcessor(app_exporter))
    trace.set_tracer_provider(app_provider)
    ours = InMemorySpanExporter()

    flightlog.init(exporter=ours, batch=False)
    with flightlog.agent_run("bot"):
        with trace.get_tracer("app").start_as_current_span("app-work"):
            pass

    assert trace.get_tracer_provider() is app_provider
    assert sorted(s.name for s in app_exporter.get_finished_spans()) == ["app-work", "invoke_agent bot"]
    assert sorted(s.name for s in ours.get_finished_spans()) == ["app-work", "invoke_agent bot"]
    app_span = next(s for s in ours.get_finished_spans() if s.name == "app-work")
    assert app_span.attributes["gen_ai.agent.name"] == "bot"


def test_init_creates_a_global_provider_with_a_flightlog_resource(fresh_global_provider, monkeypatch):
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "team=agents,service.name=from-otel")
    exporter = InMemorySpanExporter()
    flightlog.init(agent_name="bot", agent_version="1.0", project="acme", environment="prod",
                   exporter=exporter, batch=False)
    assert isinstance(trace.get_tracer_provider(), TracerProvider)
    with flightlog.agent_run():
        pass
    (span,) = exporter.get_finished_spans()
    resource = span.resource.attributes
    assert resource["service.name"] == "from-otel"
    assert resource["service.version"] == "1.0"
    assert resource["flightlog.project"] == "acme"
    assert resource["gen_ai.agent.name"] == "bot"
    assert resource["gen_ai.agent.version"] == "1.0"
    assert resource["deployment.environment"] == "prod"
    assert resource["team"] == "agents"
    assert span.name == "invoke_agent bot"


@pytest.mark.parametrize("env,kwargs,expected", [
    ({}, {"agent_name": "bot"}, "bot"),
    ({"OTEL_SERVICE_NAME": "otel-svc"}, {"agent_name": "bot"}, "otel-svc"),
    ({"OTEL_SERVICE_NAME": "otel-svc", "FLIGHTLOG_SERVICE_NAME": "fl-svc"}, {}, "fl-svc"),
    ({"FLIGHTLOG_SERVICE_NAME": "fl-svc"}, {"service_name": "arg-svc"}, "arg-svc"),
])
def test_service_name_precedence(fresh_global_provider, monkeypatch, env, kwargs, expected):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    exporter = InMemorySpanExporter()
    flightlog.init(exporter=exporter, batch=False, **kwargs)
    with flightlog.tool_call("t"):
        pass
    (span,) = exporter.get_finished_spans()
    assert span.resource.attributes["service.name"] == expected


def test_explicit_tracer_provider_is_used_and_not_made_global(fresh_global_provider):
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    flightlog.init(tracer_provider=provider, exporter=exporter, batch=False)
    with flightlog.tool_call("t"):
        pass
    assert len(exporter.get_finished_spans()) == 1
    assert trace.get_tracer_provider() is not provider


def test_init_again_replaces_the_previous_pipeline():
    first, second = InMemorySpanExporter(), InMemorySpanExporter()
    init(exporter=first, batch=False)
    init(exporter=second, batch=False)
    with flightlog.tool_call("t"):
        pass
    assert (len(first.get_finished_spans()), len(second.get_finished_spans())) == (0, 1)


def test_batched_spans_arrive_after_flush():
    exporter = InMemorySpanExporter()
    init(exporter=exporter)
    for i in range(50):
        with flightlog.tool_call(f"t{i}"):
            pass
    assert flightlog.flush(timeout_s=5)
    assert len(exporter.get_finished_spans()) == 50


def test_shutdown_exports_what_is_left_and_is_idempotent():
    exporter = InMemorySpanExporter()
    init(exporter=exporter)
    with flightlog.tool_call("t"):
        pass
    assert flightlog.shutdown()
    assert flightlog.shutdown()
    assert len(exporter.get_finished_spans()) == 1


def test_disabled_env_makes_init_a_noop(monkeypatch):
    monkeypatch.setenv("FLIGHTLOG_DISABLED", "true")
    exporter = InMemorySpanExporter()
    assert init(exporter=exporter, batch=False).disabled
    with flightlog.agent_run("bot") as run:
        run.set_output("still runs")
    assert exporter.get_finished_spans() == ()


@pytest.mark.parametrize("env,disabled", [
    ({"OTEL_SDK_DISABLED": "true"}, True),
    ({"OTEL_SDK_DISABLED": "true", "FLIGHTLOG_DISABLED": "false"}, True),  # the OTel SDK is off anyway
    ({"OTEL_SDK_DISABLED": "false", "FLIGHTLOG_DISABLED": "true"}, True),
    ({}, False),
])
def test_otel_sdk_disabled_is_honoured(monkeypatch, env, disabled):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    exporter = InMemorySpanExporter()
    assert init(exporter=exporter, batch=False).disabled is disabled
    with flightlog.tool_call("t"):
        pass
    assert len(exporter.get_finished_spans()) == (0 if disabled else 1)


def test_otel_batch_processor_sizes_are_honoured(monkeypatch):
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "64")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "16")
    config = init(exporter=InMemorySpanExporter())
    assert config.max_queue_size == 64
    (_, export_processor) = flightlog._setup.get_state().processors
    assert export_processor._batch_processor._max_export_batch_size == 16
    monkeypatch.setenv("FLIGHTLOG_MAX_QUEUE_SIZE", "128")  # ours wins
    assert init(exporter=InMemorySpanExporter()).max_queue_size == 128


@pytest.mark.parametrize("settings,env,on", [
    ({}, {}, False),                                             # spans to an exporter, no endpoint: no control
    ({"endpoint": "http://127.0.0.1:9"}, {}, True),              # an endpoint given: the control loop is on
    ({}, {"FLIGHTLOG_ENDPOINT": "http://127.0.0.1:9"}, True),
    ({"endpoint": "http://127.0.0.1:9", "control": False}, {}, False),
    ({"exporter": None, "endpoint": "http://127.0.0.1:9"}, {}, True),
])
def test_the_control_loop_runs_when_an_endpoint_is_configured(monkeypatch, settings, env, on):
    from flightlog import _control

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = init(**settings)
    assert config.control is on
    assert (_control.CLIENT is not None) is on
    flightlog.shutdown()
    assert _control.CLIENT is None, "shutdown() stops the control thread"


@pytest.mark.parametrize("kwargs", [{"timeout_s": 0}, {"timeout_s": -1}, {"timeout_s": True},
                                    {"on_timeout": "escalate"}])
def test_bad_inbox_arguments_raise_value_error(kwargs):
    with pytest.raises(flightlog.ConfigurationError):
        flightlog.inbox(**kwargs)


def test_a_tier_3_checkpoint_without_an_approver_needs_the_inbox_default():
    init()
    with pytest.raises(flightlog.ConfigurationError, match="approvals='inbox'"):
        flightlog.checkpoint("deploy", tier=3)
    with pytest.raises(flightlog.ConfigurationError, match="flightlog.inbox"):
        flightlog.checkpoint("deploy", tier=3, approver="dana")
