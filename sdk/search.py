"""The span search vocabulary: one definition of the filters ``GET /api/spans`` takes.

Storage compiles them to SQL (``flightlog.storage.filters``), the API declares them as query
parameters (``flightlog.collector.api.query``; ``tests/test_search_vocabulary.py`` checks the two
agree), and the UI builds its filter row, its URLs and its client calls from them
(``flightlog.ui.client``, ``flightlog.ui.filters``, ``flightlog.ui.views.search``). Adding a filter
here and a column for it is the whole change; the checks fail until every side has it.

Pure data, no imports beyond the standard library: every layer may read it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FILTERS", "EQUALITY_FILTERS", "FACET_FILTERS", "PAGING", "QUERY_PARAMETERS", "TEXT_FILTERS",
           "Filter"]


@dataclass(frozen=True)
class Filter:
    """One search filter.

    ``name`` is the query parameter; ``label`` the UI's name for it; ``column`` the ``spans``
    column an equality filter compares (None when storage matches it another way: ``model`` looks
    at the requested and the response model, ``status`` maps names to status codes, ``q`` is
    full-text); ``facet`` the ``GET /api/facets`` list that offers its values (None: typed in)."""

    name: str
    label: str
    column: str | None = None
    facet: str | None = None


FILTERS: tuple[Filter, ...] = (
    Filter("q", "Search text"),
    Filter("agent", "Agent", "AgentName", "agents"),
    Filter("agent_version", "Agent version", "AgentVersion", "agent_versions"),
    Filter("model", "Model", None, "models"),
    Filter("prompt_id", "Prompt id", "PromptId", "prompt_ids"),
    Filter("prompt_version", "Prompt version", "PromptVersion", "prompt_versions"),
    Filter("tool", "Tool", "ToolName", "tools"),
    Filter("span_type", "Span type", "SpanType", "span_types"),
    Filter("user", "User", "UserId", "users"),
    Filter("session", "Session", "SessionId"),
    Filter("trace_id", "Trace id", "TraceId"),
    Filter("status", "Status"),
)

#: Filters compared for equality with one column: name → column.
EQUALITY_FILTERS: dict[str, str] = {f.name: f.column for f in FILTERS if f.column}
#: Filters typed in as text in the UI (and kept in its URLs as they are).
TEXT_FILTERS: tuple[str, ...] = tuple(f.name for f in FILTERS if f.name not in ("trace_id", "status"))
#: Filters whose values ``GET /api/facets`` lists: (label, name, facet list).
FACET_FILTERS: tuple[tuple[str, str, str], ...] = tuple((f.label, f.name, f.facet) for f in FILTERS if f.facet)
#: The time window, paging and ordering parameters beside the filters.
PAGING: tuple[str, ...] = ("start", "end", "limit", "offset", "sort", "order")
#: Every query parameter ``GET /api/spans`` takes.
QUERY_PARAMETERS: frozenset[str] = frozenset({f.name for f in FILTERS} | set(PAGING))
