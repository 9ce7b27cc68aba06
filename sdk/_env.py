"""Environment variables read by the flightlog SDK, and their defaults.

Each ``FLIGHTLOG_*`` name is a module constant equal to itself, followed by a docstring giving
its meaning and default (the habit of ``opentelemetry.sdk.environment_variables``), so the names
can be grepped, cannot be mistyped, and ``docs/sdk.md`` is checked against this module by a test.

Order of precedence for every setting: an explicit ``flightlog.init(...)`` argument, then the
``FLIGHTLOG_*`` variable, then the standard ``OTEL_*`` variable (where one exists), then the
``DEFAULT_*`` constant at the end of this module. An unparsable environment value is logged as
a warning and replaced by the default; a bad argument raises ``ValueError`` from ``init()``.
"""

from __future__ import annotations

import logging
import os

_logger = logging.getLogger("flightlog")

FLIGHTLOG_ENDPOINT = "FLIGHTLOG_ENDPOINT"
"""Base URL of the flightlog collector's OTLP/HTTP receiver; ``/v1/traces`` is appended.

Wins over ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (used as given) and
``OTEL_EXPORTER_OTLP_ENDPOINT`` (``/v1/traces`` appended).
Default: ``http://127.0.0.1:4318``
"""

FLIGHTLOG_API_KEY = "FLIGHTLOG_API_KEY"
"""Ingest key, sent with every export as the header ``Authorization: Bearer <key>``.

Overrides an ``authorization`` header given in ``OTEL_EXPORTER_OTLP_HEADERS``.
Default: none (no Authorization header is added)
"""

FLIGHTLOG_PROJECT = "FLIGHTLOG_PROJECT"
"""Project the spans belong to; written as ``flightlog.project`` on the Resource and every span.

Default: none (the collector assigns the project of the ingest key)
"""

FLIGHTLOG_SERVICE_NAME = "FLIGHTLOG_SERVICE_NAME"
"""``service.name`` of the Resource. Wins over ``OTEL_SERVICE_NAME`` and a ``service.name``
in ``OTEL_RESOURCE_ATTRIBUTES``.

Default: the agent name if one is set, else OpenTelemetry's ``unknown_service:<executable>``
"""

FLIGHTLOG_AGENT_NAME = "FLIGHTLOG_AGENT_NAME"
"""Default agent name (``gen_ai.agent.name``) for the Resource and for ``agent_run()`` calls
that give no name.

Default: none
"""

FLIGHTLOG_AGENT_VERSION = "FLIGHTLOG_AGENT_VERSION"
"""Default agent version (``flightlog.agent.version``, also ``service.version``).

Default: none
"""

FLIGHTLOG_ENVIRONMENT = "FLIGHTLOG_ENVIRONMENT"
"""Deployment environment (``deployment.environment`` on the Resource), e.g. ``prod``.

Default: none
"""

FLIGHTLOG_CAPTURE_CONTENT = "FLIGHTLOG_CAPTURE_CONTENT"
"""``true``/``false``: record message text, inputs, outputs, tool arguments and results.
With ``false`` only metadata (models, tokens, cost, names, timings, hashes) is recorded.

Default: ``true``
"""

FLIGHTLOG_MAX_ATTRIBUTE_LENGTH = "FLIGHTLOG_MAX_ATTRIBUTE_LENGTH"
"""Longest content attribute, in characters, before it is cut and marked
``…[truncated N chars]``. ``0`` means no limit.

Default: ``32768``
"""

FLIGHTLOG_MAX_QUEUE_SIZE = "FLIGHTLOG_MAX_QUEUE_SIZE"
"""Spans buffered in memory while waiting for export; the oldest are dropped beyond it.
Wins over ``OTEL_BSP_MAX_QUEUE_SIZE``.

Default: ``2048``
"""

FLIGHTLOG_DISABLED = "FLIGHTLOG_DISABLED"
"""``true`` turns ``init()`` into a no-op: nothing is exported, helpers still run the code.
``OTEL_SDK_DISABLED=true`` does the same.

Default: ``false``
"""

FLIGHTLOG_APPROVALS = "FLIGHTLOG_APPROVALS"
"""``inbox`` makes the collector's approval inbox (``flightlog.inbox()``) the approver of tier-3
checkpoints that name none; ``none`` (or unset) keeps a tier-3 checkpoint without an approver an
error, unless the agent's central policy escalated it (those always go to the inbox).

Default: none
"""

FLIGHTLOG_CONTROL = "FLIGHTLOG_CONTROL"
"""``true``/``false``: keep the collector's control state (kill switch, central policies) in
memory, refreshed by a background long-poll of ``GET /api/control/state``, and apply it.

Default: ``true`` when spans are exported over OTLP or an endpoint is set, else ``false``
"""

FLIGHTLOG_CONTROL_STALENESS_S = "FLIGHTLOG_CONTROL_STALENESS_S"
"""Seconds without an answer from the collector after which the control state counts as
unknown: an agent whose policy says ``on_unreachable: closed`` is then refused with
``AgentPaused`` (every other agent goes on: fail-open).

Default: ``30``
"""

FLIGHTLOG_INGEST_KEY = "FLIGHTLOG_INGEST_KEY"
"""``flightlog.evaluate`` / ``flightlog eval run``: the key the evaluated runs' spans are sent
with when evaluate starts the export itself (``FLIGHTLOG_API_KEY`` is then the engineer key that
stores the experiment; an engineer key may not ingest).

Default: the ``key`` given to evaluate (``FLIGHTLOG_API_KEY``)
"""

ALL_VARIABLES: tuple[str, ...] = (
    FLIGHTLOG_AGENT_NAME,
    FLIGHTLOG_AGENT_VERSION,
    FLIGHTLOG_API_KEY,
    FLIGHTLOG_APPROVALS,
    FLIGHTLOG_CAPTURE_CONTENT,
    FLIGHTLOG_CONTROL,
    FLIGHTLOG_CONTROL_STALENESS_S,
    FLIGHTLOG_DISABLED,
    FLIGHTLOG_ENDPOINT,
    FLIGHTLOG_ENVIRONMENT,
    FLIGHTLOG_INGEST_KEY,
    FLIGHTLOG_MAX_ATTRIBUTE_LENGTH,
    FLIGHTLOG_MAX_QUEUE_SIZE,
    FLIGHTLOG_PROJECT,
    FLIGHTLOG_SERVICE_NAME,
)

# Standard OpenTelemetry variables read by the SDK (their meaning is the OTel spec's).
OTEL_EXPORTER_OTLP_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
OTEL_EXPORTER_OTLP_HEADERS = "OTEL_EXPORTER_OTLP_HEADERS"
OTEL_EXPORTER_OTLP_TRACES_HEADERS = "OTEL_EXPORTER_OTLP_TRACES_HEADERS"
OTEL_SERVICE_NAME = "OTEL_SERVICE_NAME"
OTEL_RESOURCE_ATTRIBUTES = "OTEL_RESOURCE_ATTRIBUTES"
OTEL_SDK_DISABLED = "OTEL_SDK_DISABLED"
OTEL_BSP_MAX_QUEUE_SIZE = "OTEL_BSP_MAX_QUEUE_SIZE"
OTEL_BSP_MAX_EXPORT_BATCH_SIZE = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"

DEFAULT_ENDPOINT = "http://127.0.0.1:4318"
DEFAULT_TRACES_PATH = "/v1/traces"
DEFAULT_CAPTURE_CONTENT = True
DEFAULT_MAX_ATTRIBUTE_LENGTH = 32768
DEFAULT_MAX_QUEUE_SIZE = 2048
DEFAULT_MAX_EXPORT_BATCH_SIZE = 512  # OpenTelemetry's default
DEFAULT_FLUSH_TIMEOUT_S = 5.0
DEFAULT_SHUTDOWN_TIMEOUT_S = 5.0
DEFAULT_CHECKPOINT_TIMEOUT_S = 300.0
DEFAULT_INBOX_TIMEOUT_S = 900.0
DEFAULT_CONTROL_STALENESS_S = 30.0
DEFAULT_CONTROL_WAIT_S = 20.0  # the control state long-poll (the server answers at once on a change)
DEFAULT_CONTROL_STARTUP_WAIT_S = 2.0  # the first check of a process waits this long for the first state

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def env_str(name: str) -> str | None:
    """The variable's value stripped, or None when unset or blank."""
    value = os.environ.get(name, "").strip()
    return value or None


def env_bool(name: str, default: bool) -> bool:
    """Parse a boolean variable; an unparsable value warns and gives ``default``."""
    raw = env_str(name)
    if raw is None:
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    _logger.warning("flightlog: %s=%r is not a boolean; using the default %r", name, raw, default)
    return default


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    """Parse an integer variable; an unparsable or too small value warns and gives ``default``."""
    raw = env_str(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        _logger.warning(
            "flightlog: %s=%r is not an integer >= %d; using the default %r", name, raw, minimum, default
        )
        return default
    return value


def env_float(name: str, default: float, *, minimum: float = 0.0) -> float:
    """Parse a number; an unparsable, non-finite or too small value warns and gives ``default``."""
    raw = env_str(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (value >= minimum) or value == float("inf"):
        _logger.warning(
            "flightlog: %s=%r is not a number >= %g; using the default %r", name, raw, minimum, default
        )
        return default
    return value
