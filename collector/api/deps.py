"""FastAPI dependencies shared by every ``/api`` route: the caller's key and role, the project
an admin acts on, validated ids and the time window.

A route states what it needs in its signature (``key: ReadKey``, ``window: TimeWindow``,
``trace_id: TraceIdPath``) and FastAPI resolves it before the handler runs, so a missing key is
401, a key of the wrong role 403 and a malformed id or time 400, the same way on every route.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Query, Request
from pydantic import BeforeValidator

from flightlog.storage import InvalidQuery
from flightlog.storage.keys import KeyRecord
from flightlog.storage.timewindow import Window

from flightlog.collector.auth import ADMIN_ROLES, AUDIT_ROLES, INGEST_ROLES, READ_ROLES
from flightlog.collector.errors import BadRequest, Forbidden

if TYPE_CHECKING:
    from flightlog.collector.app import Collector

_HEX = frozenset("0123456789abcdef")


def get_collector(request: Request) -> Collector:
    """The process's :class:`~flightlog.collector.app.Collector` (store, auth, services)."""
    collector: Collector = request.app.state.collector
    return collector


CollectorDep = Annotated["Collector", Depends(get_collector)]


def require(roles: frozenset[str]) -> Callable[[Request], KeyRecord]:
    """A dependency: the caller's key record if its role is one of ``roles`` (else 401/403)."""

    def dependency(request: Request) -> KeyRecord:
        return get_collector(request).auth.require(request.headers, roles)

    dependency.__name__ = f"key_with_role_{'_or_'.join(sorted(roles))}"
    return dependency


ReadKey = Annotated[KeyRecord, Depends(require(READ_ROLES))]
AuditKey = Annotated[KeyRecord, Depends(require(AUDIT_ROLES))]
AdminKey = Annotated[KeyRecord, Depends(require(ADMIN_ROLES))]
IngestOrReadKey = Annotated[KeyRecord, Depends(require(INGEST_ROLES | READ_ROLES))]


def admin_target(collector: Collector, admin: KeyRecord, project: str | None) -> str:
    """The project an admin acts on: its own, or any project for an instance admin (an admin
    key of the collector's default project)."""
    target = project or admin.project
    if target != admin.project and admin.project != collector.settings.project:
        raise Forbidden(f"an admin key of project {admin.project!r} may not manage project {target!r}")
    return target


@dataclass(frozen=True)
class AdminScope:
    """An admin key and the project it acts on."""

    key: KeyRecord
    project: str


def admin_scope(request: Request, admin: AdminKey,
                project: Annotated[str | None, Query(description="Project to act on (instance admins); "
                                                     "default: the key's own")] = None) -> AdminScope:
    return AdminScope(admin, admin_target(get_collector(request), admin, project))


AdminProject = Annotated[AdminScope, Depends(admin_scope)]


def hex_id(value: str, length: int, what: str) -> str:
    """``value`` lower-cased if it is ``length`` hex characters, else 400 saying so."""
    value = value.lower()
    if len(value) != length or not set(value) <= _HEX:
        raise BadRequest(f"{what} must be {length} hex characters, got {value[:64]!r}")
    return value


def trace_ids(values: list[str]) -> list[str]:
    """Trace ids given repeated and/or comma-separated, each checked."""
    return [hex_id(part.strip(), 32, "trace id") for value in values for part in value.split(",") if part.strip()]


def _trace_id_path(trace_id: str) -> str:
    return hex_id(trace_id, 32, "trace id")


TraceIdPath = Annotated[str, Depends(_trace_id_path)]


def _iso_not_a_number(value: object) -> object:
    """A bare number is not taken for a time: pydantic would read ``20261201`` as seconds since
    1970 (August 1970), silently; the API's times are ISO 8601."""
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit()):
        raise ValueError("give an ISO 8601 time such as 2026-12-01T08:00:00Z, not a number")
    return value


IsoTime = Annotated[datetime, BeforeValidator(_iso_not_a_number)]


def time_window(
    start: Annotated[IsoTime | None, Query(description="ISO 8601; from this time on (naive = UTC)")] = None,
    end: Annotated[IsoTime | None, Query(description="ISO 8601; before this time (naive = UTC)")] = None,
) -> Window:
    """The ``start`` / ``end`` query parameters as a :class:`Window` (400 when out of range)."""
    try:
        return Window(start, end)
    except InvalidQuery as exc:
        raise BadRequest(str(exc)) from exc


TimeWindow = Annotated[Window, Depends(time_window)]

