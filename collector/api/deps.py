"""Helpers shared by the audit routes (collector/api/audit.py) and the governance routes
(collector/api/governance.py): key checks, the admin's target project, trace ids, UTC.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Request

from flightlog.storage.keys import KeyRecord

from flightlog.collector.auth import ADMIN_ROLES
from flightlog.collector.errors import BadRequest, Forbidden
from flightlog.collector.api.params import as_utc as _utc  # noqa: F401 - re-exported to the audit routers

if TYPE_CHECKING:
    from flightlog.collector.audit.services import AuditServices

_HEX = frozenset("0123456789abcdef")


def _key(request: Request, roles: frozenset[str]) -> KeyRecord:
    return request.app.state.collector.auth.require(request.headers, roles)


def _services(request: Request) -> AuditServices:
    return request.app.state.collector.audit


def _admin_project(request: Request, project: str | None) -> tuple[KeyRecord, str]:
    """The admin key and the project it acts on (instance admins may name another project)."""
    collector = request.app.state.collector
    admin = _key(request, ADMIN_ROLES)
    target = project or admin.project
    if target != admin.project and admin.project != collector.settings.project:
        raise Forbidden(f"an admin key of project {admin.project!r} may not manage project {target!r}")
    return admin, target


def _trace_ids(values: list[str]) -> list[str]:
    out = []
    for value in values:
        for part in value.split(","):
            part = part.strip().lower()
            if not part:
                continue
            if len(part) != 32 or not set(part) <= _HEX:
                raise BadRequest(f"trace id must be 32 hex characters, got {part[:64]!r}")
            out.append(part)
    return out
