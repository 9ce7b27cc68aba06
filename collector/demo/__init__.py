"""The demo traces loaded by ``flightlog up --demo``: two weeks of four agents, one incident.

:mod:`.scenario` writes the agents' runs, :mod:`.builder` turns them into OTLP spans,
:mod:`.text` holds the canned text. Only the CLI imports this package; the server never needs it.

May import: opentelemetry-proto and its own modules.
"""

from flightlog.collector.demo.scenario import (
    DEMO_DAYS,
    INCIDENT_AGE_NS,
    INCIDENT_AGENT,
    INCIDENT_AGENT_VERSION,
    INCIDENT_ORDER_ID,
    INCIDENT_PROMPT_ID,
    INCIDENT_PROMPT_VERSION,
    INCIDENT_SEARCH_WORD,
    INCIDENT_TRACE_ID,
    INCIDENT_USER_ID,
    build_demo_requests,
)

__all__ = [
    "DEMO_DAYS", "INCIDENT_AGENT", "INCIDENT_AGENT_VERSION", "INCIDENT_AGE_NS", "INCIDENT_ORDER_ID",
    "INCIDENT_PROMPT_ID", "INCIDENT_PROMPT_VERSION", "INCIDENT_SEARCH_WORD", "INCIDENT_TRACE_ID",
    "INCIDENT_USER_ID", "build_demo_requests",
]
