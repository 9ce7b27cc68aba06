"""Resolving ``init()`` arguments and the environment into one immutable ``Config``.

Precedence for each setting: argument > ``FLIGHTLOG_*`` > standard ``OTEL_*`` > ``DEFAULT_*``
(see ``_env.py``). Bad arguments raise ``ConfigurationError`` (a ``ValueError``); bad
environment values warn and fall back.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

from opentelemetry.util.re import parse_env_headers

from . import _env
from ._content import compile_redactor
from ._exceptions import ConfigurationError
from ._types import RedactHook, RedactInput

_logger = logging.getLogger("flightlog")


@dataclasses.dataclass(frozen=True)
class Config:
    """The SDK's resolved settings, as returned by ``flightlog.init()``.

    The ``repr`` hides header values (they carry the API key), so a config can be logged.
    """

    service_name: str | None
    agent_name: str | None
    agent_version: str | None
    project: str | None
    environment: str | None
    endpoint: str
    headers: Mapping[str, str]
    capture_content: bool
    max_attribute_length: int | None
    max_queue_size: int
    batch: bool
    redact: RedactHook | None = dataclasses.field(default=None, compare=False)
    disabled: bool = False
    approvals: str | None = None
    control: bool = False
    control_staleness_s: float = _env.DEFAULT_CONTROL_STALENESS_S

    def __repr__(self) -> str:
        fields = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "headers":
                value = {k: "***" for k in value}
            elif f.name == "redact":
                value = None if value is None else getattr(value, "__name__", "hook")
            fields.append(f"{f.name}={value!r}")
        return f"Config({', '.join(fields)})"


def _first(*values: str | None) -> str | None:
    for value in values:
        if value:
            return value
    return None


def _traces_url(base: str) -> str:
    """``base`` with ``/v1/traces`` appended unless it already ends with it."""
    base = base.rstrip("/")
    return base if base.endswith(_env.DEFAULT_TRACES_PATH) else base + _env.DEFAULT_TRACES_PATH


def endpoint_configured(endpoint: str | None) -> bool:
    """Whether an endpoint was given (argument or environment) rather than defaulted."""
    return endpoint is not None or any(_env.env_str(name) for name in (
        _env.FLIGHTLOG_ENDPOINT, _env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, _env.OTEL_EXPORTER_OTLP_ENDPOINT))


def resolve_endpoint(endpoint: str | None) -> str:
    """The full OTLP/HTTP traces URL from the argument, FLIGHTLOG_*, OTEL_* or the default."""
    if endpoint is not None:
        if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
            raise ConfigurationError(f"endpoint must be an http(s) URL, got {endpoint!r}")
        return _traces_url(endpoint)
    for name, as_given in ((_env.FLIGHTLOG_ENDPOINT, False), (_env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, True),
                           (_env.OTEL_EXPORTER_OTLP_ENDPOINT, False)):
        value = _env.env_str(name)
        if value is None:
            continue
        if not value.startswith(("http://", "https://")):
            _logger.warning("flightlog: %s=%r is not an http(s) URL; ignoring it", name, value)
            continue
        return value if as_given else _traces_url(value)
    return _traces_url(_env.DEFAULT_ENDPOINT)


def resolve_headers(api_key: str | None, headers: Mapping[str, str] | None) -> dict[str, str]:
    """Export headers: OTEL_* headers, then ``headers=``, then the API key as a Bearer token."""
    raw = _env.env_str(_env.OTEL_EXPORTER_OTLP_TRACES_HEADERS) or _env.env_str(_env.OTEL_EXPORTER_OTLP_HEADERS)
    result = {k.lower(): v for k, v in parse_env_headers(raw or "", liberal=True).items()}
    result.update({k.lower(): v for k, v in (headers or {}).items()})
    key = api_key if api_key is not None else _env.env_str(_env.FLIGHTLOG_API_KEY)
    if api_key is not None and (not isinstance(api_key, str) or not api_key.strip()):
        raise ConfigurationError("api_key must be a non-empty string")
    if key:
        result["authorization"] = f"Bearer {key}"
    return result


def _check_optional_str(name: str, value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ConfigurationError(f"{name} must be a non-empty string or None, got {value!r}")


def resolve_config(
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
    batch: bool = True,
    approvals: str | None = None,
    control: bool | None = None,
    control_staleness_s: float | None = None,
    custom_exporter: bool = False,
) -> Config:
    """Build the ``Config`` for ``init()``; raises ``ConfigurationError`` on a bad argument.

    ``custom_exporter``: spans go to an exporter given to ``init()``, not over OTLP to the
    endpoint; the control loop is then on only when an endpoint is configured.
    """
    for name, value in (("service_name", service_name), ("agent_name", agent_name),
                        ("agent_version", agent_version), ("project", project),
                        ("environment", environment)):
        _check_optional_str(name, value)
    if capture_content is not None and not isinstance(capture_content, bool):
        raise ConfigurationError(f"capture_content must be a bool, got {capture_content!r}")
    if max_attribute_length is not None and (
        isinstance(max_attribute_length, bool) or not isinstance(max_attribute_length, int)
        or max_attribute_length < 0
    ):
        raise ConfigurationError(f"max_attribute_length must be an int >= 0, got {max_attribute_length!r}")
    if max_queue_size is not None and (
        isinstance(max_queue_size, bool) or not isinstance(max_queue_size, int) or max_queue_size < 1
    ):
        raise ConfigurationError(f"max_queue_size must be an int >= 1, got {max_queue_size!r}")
    try:
        redactor = compile_redactor(redact)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from exc
    if approvals is not None and approvals not in ("inbox", "none"):
        raise ConfigurationError(f"approvals must be 'inbox', 'none' or None, got {approvals!r}")
    if approvals is None:
        approvals = _env.env_str(_env.FLIGHTLOG_APPROVALS)
        if approvals is not None and approvals.lower() not in ("inbox", "none"):
            _logger.warning("flightlog: %s=%r is not 'inbox' or 'none'; ignoring it", _env.FLIGHTLOG_APPROVALS,
                            approvals)
            approvals = None
        approvals = approvals.lower() if approvals else None
    if control is not None and not isinstance(control, bool):
        raise ConfigurationError(f"control must be a bool or None, got {control!r}")
    if control is None:
        control = _env.env_bool(_env.FLIGHTLOG_CONTROL, not custom_exporter or endpoint_configured(endpoint))
    if control_staleness_s is not None and (
        isinstance(control_staleness_s, bool) or not isinstance(control_staleness_s, (int, float))
        or not 0 < control_staleness_s < float("inf")
    ):
        raise ConfigurationError(f"control_staleness_s must be a number > 0, got {control_staleness_s!r}")
    if control_staleness_s is None:
        control_staleness_s = _env.env_float(_env.FLIGHTLOG_CONTROL_STALENESS_S, _env.DEFAULT_CONTROL_STALENESS_S,
                                             minimum=0.001)

    agent = _first(agent_name, _env.env_str(_env.FLIGHTLOG_AGENT_NAME))
    if max_attribute_length is None:
        max_attribute_length = _env.env_int(_env.FLIGHTLOG_MAX_ATTRIBUTE_LENGTH, _env.DEFAULT_MAX_ATTRIBUTE_LENGTH)
    return Config(
        # service.name from OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES is merged by Resource.create.
        service_name=_first(service_name, _env.env_str(_env.FLIGHTLOG_SERVICE_NAME)),
        agent_name=agent,
        agent_version=_first(agent_version, _env.env_str(_env.FLIGHTLOG_AGENT_VERSION)),
        project=_first(project, _env.env_str(_env.FLIGHTLOG_PROJECT)),
        environment=_first(environment, _env.env_str(_env.FLIGHTLOG_ENVIRONMENT)),
        endpoint=resolve_endpoint(endpoint),
        headers=resolve_headers(api_key, headers),
        capture_content=(capture_content if capture_content is not None
                         else _env.env_bool(_env.FLIGHTLOG_CAPTURE_CONTENT, _env.DEFAULT_CAPTURE_CONTENT)),
        max_attribute_length=max_attribute_length or None,
        max_queue_size=max_queue_size or _env.env_int(
            _env.FLIGHTLOG_MAX_QUEUE_SIZE,
            _env.env_int(_env.OTEL_BSP_MAX_QUEUE_SIZE, _env.DEFAULT_MAX_QUEUE_SIZE, minimum=1), minimum=1),
        batch=bool(batch),
        redact=redactor,
        # OTEL_SDK_DISABLED also turns opentelemetry-sdk's own providers into no-ops: either disables.
        disabled=_env.env_bool(_env.FLIGHTLOG_DISABLED, False) or _env.env_bool(_env.OTEL_SDK_DISABLED, False),
        approvals=None if approvals == "none" else approvals,
        control=bool(control),
        control_staleness_s=float(control_staleness_s),
    )


def default_config() -> Config:
    """Settings used before (or without) ``init()``: environment and defaults, nothing exported
    and no control loop."""
    return dataclasses.replace(resolve_config(), headers={}, control=False)


